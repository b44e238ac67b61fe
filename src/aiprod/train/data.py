"""Training data from phase shards: clips decoded once into memory, read by data position.

A batch is a pure function of its data position (epoch permutations are seeded), which is
what makes a resumed run read the same batches as an uninterrupted one. Held-out clips are
chosen by a hash of the clip id, so every stage agrees on them without a list to pass around.
The demo corpus fits in memory; streaming large corpora through `phase_dataset` is the
scale-out path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from aiprod.shards.loader import phase_dataset


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


def shard_urls(shard_dir: Path, phases: list[int]) -> list[str]:
    return [str(p) for k in phases for p in sorted((shard_dir / f"phase{k}").glob("shard-*.tar"))]


def load_bank(
    urls: list[str], frames: int, size: int, holdout_share: float, holdout: bool, seed: int = 0
) -> VideoBank:
    """Decode the shards' clips (first `frames` frames, resized to `size`), train or held out."""
    keys, videos, captions, flows, seen = [], [], [], [], set()
    for sample in phase_dataset(urls):
        key = sample["key"]
        if key in seen or is_holdout(key, holdout_share) != holdout:
            continue  # a clip can sit in two phases (e.g. 5 and its difficulty phase)
        seen.add(key)
        video = sample["video"][:frames]  # (T, C, H, W)
        if video.shape[0] < frames:
            continue
        video = F.interpolate(video, size=(size, size), mode="area")
        keys.append(key)
        videos.append(video.permute(1, 0, 2, 3))  # (C, T, H, W)
        captions.append(sample["captions"])
        flows.append(sample["flow"])
    if not keys:
        raise ValueError(
            f"no clips of >= {frames} frames in {len(urls)} shards "
            f"({'held-out' if holdout else 'training'} split)"
        )
    return VideoBank(keys, torch.stack(videos), captions, flows, seed)
