"""Training data from phase shards: clips decoded once into memory, read by data position.

A batch is a pure function of its data position (epoch permutations are seeded), which is
what makes a resumed run read the same batches as an uninterrupted one. Held-out clips are
chosen by a hash of the clip id, so every stage agrees on them without a list to pass around.
The demo corpus fits in memory; streaming large corpora through `phase_dataset` is the
scale-out path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from aiprod.shards.loader import phase_dataset


class NoClips(ValueError):
    """A split of some shards holds no usable clip."""


def is_holdout(clip_id: str, share: float) -> bool:
    """A stable share of clips kept out of training for evaluation."""
    bucket = int(hashlib.sha256(clip_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < share


@dataclass
class VideoBank:
    """Clips as (N, C, T, H, W) in [-1, 1], with captions and flow per clip."""

    keys: list[str]
    videos: torch.Tensor
    captions: list[dict[str, str]]
    flows: list[torch.Tensor]
    seed: int = 0

    def __len__(self) -> int:
        return len(self.keys)

    def indices(self, position: int, size: int) -> list[int]:
        """Clip indices of the batch starting at a data position (epoch-seeded shuffles)."""
        out = []
        for p in range(position, position + size):
            epoch, offset = divmod(p, len(self))
            order = torch.randperm(
                len(self), generator=torch.Generator().manual_seed(self.seed + epoch)
            )
            out.append(int(order[offset]))
        return out


def join_banks(first: VideoBank, second: VideoBank) -> VideoBank:
    """Both banks' windows in one (a clip in both counts twice: that is the point)."""
    return VideoBank(
        first.keys + second.keys,
        torch.cat([first.videos, second.videos]),
        first.captions + second.captions,
        first.flows + second.flows,
        first.seed,
    )


def shard_urls(shard_dir: Path, phases: list[int]) -> list[str]:
    return [str(p) for k in phases for p in sorted((shard_dir / f"phase{k}").glob("shard-*.tar"))]


def clip_of(key: str) -> str:
    """The clip id of a bank key (`<clip_id>` or `<clip_id>#<window>`)."""
    return key.split("#", 1)[0]


def windows_of(
    video: torch.Tensor, flow: torch.Tensor, frames: int, count: int, step: int = 1
) -> list:
    """Up to `count` windows of `frames` frames sharing their end frames, with their flow.

    Every `step`-th frame is kept first (a lower frame rate: flow vectors scale by `step`).
    Windows start every `frames - 1` frames; the stored flow (one field every `stride` frame
    pairs) is sliced to the same span.
    """
    if step > 1:
        video, flow = video[::step], flow[::step] * step
    total = video.shape[0]
    stride = max(1, round((total - 1) / max(1, flow.shape[0])))
    out = []
    for n in range(count):
        start = n * max(1, frames - 1)
        if start + frames > total:
            break
        first = start // stride
        out.append((n, video[start : start + frames], flow[first:]))
    return out


def load_bank(
    urls: list[str],
    frames: int,
    size: int,
    holdout_share: float,
    holdout: bool,
    seed: int = 0,
    windows: int = 1,
    keep: Callable[[str], bool] | None = None,
    frame_step: int = 1,
) -> VideoBank:
    """Decode the shards' clips (`windows` windows of `frames` frames at `size`), train or held out.

    `keep(clip_id)` narrows the clips further (e.g. to mined hard examples).
    """
    keys, videos, captions, flows, seen = [], [], [], [], set()

    def wanted(key: str) -> bool:  # a clip can sit in two phases (e.g. 5 and its difficulty one)
        in_split = is_holdout(key, holdout_share) == holdout
        return key not in seen and in_split and (keep is None or keep(key))

    # every rank holds the whole bank (DDP ranks take their slice by data position), so the
    # shards are not split by node here; unwanted clips are skipped before decoding
    for sample in phase_dataset(urls, rank=0, world_size=1, keep_key=wanted):
        key = sample["key"]
        seen.add(key)
        for n, video, flow in windows_of(
            sample["video"], sample["flow"], frames, windows, frame_step
        ):
            video = F.interpolate(video, size=(size, size), mode="area")
            keys.append(key if n == 0 else f"{key}#{n}")
            videos.append(video.permute(1, 0, 2, 3))  # (C, T, H, W)
            captions.append(sample["captions"])
            flows.append(flow)
    if not keys:
        raise NoClips(
            f"no clips of >= {frames} frames in {len(urls)} shards "
            f"({'held-out (raise shards.holdout_share)' if holdout else 'training'} split)"
        )
    return VideoBank(keys, torch.stack(videos), captions, flows, seed)
