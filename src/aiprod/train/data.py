"""Training windows cut from the pixel shards: which clips are held out, and the windows.

A window is `frames` frames (every `frame_step`-th source frame) resized to `size`, with the
flow fields that cover it. Held-out clips are chosen by a hash of their *source* file, so the
neighbouring clips of one shot never sit on both sides of the split, and every stage agrees
on the split without a list to pass around. The pixel shards' index gives each clip's frame
count and source hash, so a reader knows how many windows each clip gives (and which clips
it skips) before opening a shard.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from aiprod.shards.loader import decode_mp4
from aiprod.shards.stream import ShardSpec, shard_specs


class NoClips(ValueError):
    """A split of some shards holds no usable clip."""


def is_holdout(source_sha256: str, share: float) -> bool:
    """A stable share of sources (and all their clips) kept out of training."""
    bucket = int(hashlib.sha256(source_sha256.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < share


@dataclass(frozen=True)
class WindowSpec:
    """How windows are cut: frames per window, side, windows per clip, frame step, and the
    flow stride the score stage stored fields at (`score.flow.stride`)."""

    frames: int
    size: int
    windows: int
    frame_step: int
    flow_stride: int

    def count(self, source_frames: int) -> int:
        """Windows a clip of `source_frames` frames gives."""
        return self.fit(-(-source_frames // self.frame_step))  # frames left: every n-th

    def fit(self, kept: int) -> int:
        """Windows in `kept` frames (after the frame step); windows share their end frames."""
        if kept < self.frames:
            return 0
        return min(self.windows, 1 + (kept - self.frames) // max(1, self.frames - 1))


def windows_of(
    video: np.ndarray, flow: np.ndarray, spec: WindowSpec
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(window number, frames (T, H, W, 3), the flow fields from the window's start on).

    Every `frame_step`-th frame is kept first (a lower frame rate: flow vectors scale by the
    step, and every step-th stored field remains, `flow_stride` kept frames apart). Windows
    start every `frames - 1` kept frames.
    """
    step = spec.frame_step
    if step > 1:
        video, flow = video[::step], flow[::step] * step
    out = []
    for n in range(spec.fit(len(video))):
        start = n * max(1, spec.frames - 1)
        out.append((n, video[start : start + spec.frames], flow[start // spec.flow_stride :]))
    return out


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 area-averaged to (T, size, size, 3)."""
    if frames.shape[1:3] == (size, size):
        return frames
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


def first_fields(flow: np.ndarray, count: int) -> np.ndarray:
    """The first `count` flow fields (P, 2, h, w); a window near a clip's end may have fewer
    stored, so the last one is repeated."""
    flow = flow[:count]
    if len(flow) == 0:
        raise ValueError("no flow field stored for this window")
    if len(flow) < count:
        flow = np.concatenate([flow, np.repeat(flow[-1:], count - len(flow), axis=0)])
    return flow


@dataclass
class PixelWindow:
    """One window as the VAE and the encoder take it."""

    key: str  # `<clip_id>_w<n>`: dot-free, a WebDataset key
    window: int
    video: torch.Tensor  # (3, T, H, W) uint8
    flow: np.ndarray  # (fields from the window start, 2, h, w) float32, px/frame at save size
    meta: dict

    def as_float(self) -> torch.Tensor:
        return self.video.float().div(127.5).sub(1.0)


def pixel_windows(sample: dict, spec: WindowSpec) -> list[PixelWindow]:
    """Decode a raw pixel-shard sample and cut its windows."""
    meta = json.loads(sample["json"])
    frames = decode_mp4(sample["mp4"])
    flow = np.load(io.BytesIO(sample["flow.npy"])).astype(np.float32)
    clip_id = meta.get("clip_id", sample["__key__"])
    out = []
    for n, window, fields in windows_of(frames, flow, spec):
        video = torch.from_numpy(resize_frames(window, spec.size)).permute(3, 0, 1, 2)
        out.append(PixelWindow(f"{clip_id}_w{n}", n, video.contiguous(), fields, meta))
    return out


def split_counts(
    spec: WindowSpec, share: float, holdout: bool, keep: Callable[[str], bool] | None = None
) -> Callable[[pd.Series], int]:
    """Windows per index row: 0 outside the split (or not kept), else what the clip gives."""

    def count(row: pd.Series) -> int:
        if is_holdout(str(row["source_sha256"]), share) != holdout:
            return 0
        if keep is not None and not keep(str(row["key"])):
            return 0
        return spec.count(int(row["frames"]))

    return count


def pixel_shards(
    shard_dirs: list[Path],
    spec: WindowSpec,
    share: float,
    holdout: bool,
    keep: Callable[[str], bool] | None = None,
) -> list[ShardSpec]:
    """The shards of some phase folders with each clip's windows in the split; a clip that
    sits in two of the folders (phase 5 and its difficulty phase) is counted once."""
    seen: set[str] = set()
    specs = []
    base = split_counts(spec, share, holdout, keep)

    def once(row: pd.Series) -> int:
        if row["key"] in seen:
            return 0
        seen.add(row["key"])
        return base(row)

    for folder in shard_dirs:
        specs += shard_specs(folder, once)
    return specs


def phase_dirs(shard_dir: str | Path, phases: list[int]) -> list[Path]:
    return [Path(shard_dir) / f"phase{k}" for k in phases]
