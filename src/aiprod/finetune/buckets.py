"""Buckets by aspect ratio and length: several resolutions in one run, no clip squashed.

Each clip goes to the bucket whose aspect ratio is nearest its own (on a log scale, so 2:1
and 1:2 are equally far from 1:1), and among those, to the longest one the clip fills. Its
frames are centre-cropped to the bucket's aspect ratio, then area-resized to its size.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from aiprod.shards.loader import decode_mp4
from aiprod.train.data import PixelWindow, windows_of


@dataclass(frozen=True)
class Bucket:
    width: int
    height: int
    frames: int

    @property
    def name(self) -> str:
        return f"{self.width}x{self.height}x{self.frames}"

    @classmethod
    def from_name(cls, name: str) -> Bucket:
        """The bucket a folder or meta.json names ("WxHxF")."""
        width, height, frames = (int(part) for part in name.split("x"))
        return cls(width, height, frames)

    @property
    def log_aspect(self) -> float:
        return math.log(self.width / self.height)


def kept_frames(frames: int, frame_step: int) -> int:
    return -(-frames // frame_step)


def choose_bucket(
    width: int, height: int, frames: int, buckets: list[Bucket], frame_step: int = 1
) -> Bucket | None:
    """The bucket for a clip of this size and length (after the frame step); None when the
    clip is shorter than every bucket."""
    kept = kept_frames(frames, frame_step)
    fitting = [b for b in buckets if b.frames <= kept]
    if not fitting:
        return None
    aspect = math.log(width / height)
    nearest = min(abs(b.log_aspect - aspect) for b in fitting)
    same = [b for b in fitting if abs(abs(b.log_aspect - aspect) - nearest) < 1e-9]
    return max(same, key=lambda b: (b.frames, b.width * b.height))


def crop_box(width: int, height: int, bucket: Bucket) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the centred crop with the bucket's aspect ratio."""
    target = bucket.width / bucket.height
    if width / height > target:
        w = max(1, round(height * target))
        return (width - w) // 2, 0, w, height
    h = max(1, round(width / target))
    return 0, (height - h) // 2, width, h


def crop_resize(frames: np.ndarray, bucket: Bucket) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, bucket.height, bucket.width, 3): centre crop, area resize."""
    x, y, w, h = crop_box(frames.shape[2], frames.shape[1], bucket)
    size = (bucket.width, bucket.height)
    return np.stack(
        [cv2.resize(f[y : y + h, x : x + w], size, interpolation=cv2.INTER_AREA) for f in frames]
    )


def crop_flow(fields: np.ndarray, width: int, height: int, bucket: Bucket) -> np.ndarray:
    """(P, 2, h, w) flow stored at another size than the clip: the same centred crop (the
    vectors keep their units)."""
    fh, fw = fields.shape[2:]
    x, y, w, h = crop_box(width, height, bucket)
    sx, sy = fw / width, fh / height
    x0, y0 = int(x * sx), int(y * sy)
    x1, y1 = max(x0 + 1, round((x + w) * sx)), max(y0 + 1, round((y + h) * sy))
    return fields[:, :, y0:y1, x0:x1]


@dataclass(frozen=True)
class BucketSpec:
    """How the short path cuts windows: its buckets, frame step, windows per clip and the
    stride the score stage stored flow at."""

    buckets: tuple[Bucket, ...]
    frame_step: int
    windows: int
    flow_stride: int

    def bucket_of(self, row: dict) -> Bucket | None:
        return choose_bucket(
            int(row["width"]), int(row["height"]), int(row["frames"]), list(self.buckets),
            self.frame_step,
        )  # fmt: skip


def bucket_windows(sample: dict, spec: BucketSpec) -> list[tuple[Bucket, PixelWindow]]:
    """A raw pixel-shard sample cut into windows of its bucket (none when it fits none)."""
    from aiprod.train.data import WindowSpec

    meta = json.loads(sample["json"])
    frames = decode_mp4(sample["mp4"])
    height, width = frames.shape[1:3]
    bucket = choose_bucket(width, height, len(frames), list(spec.buckets), spec.frame_step)
    if bucket is None:
        return []
    flow = np.load(io.BytesIO(sample["flow.npy"])).astype(np.float32)
    cut = WindowSpec(bucket.frames, 0, spec.windows, spec.frame_step, spec.flow_stride)
    clip_id = meta.get("clip_id", sample["__key__"])
    out = []
    for n, window, fields in windows_of(frames, flow, cut):
        video = torch.from_numpy(crop_resize(window, bucket)).permute(3, 0, 1, 2).contiguous()
        fields = crop_flow(fields, width, height, bucket)
        out.append((bucket, PixelWindow(f"{clip_id}_w{n}", n, video, fields, meta)))
    return out
