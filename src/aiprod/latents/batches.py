"""Latent windows into batches: which caption variant each window trains on, and collation.

The variant (language, with or without tags) is a pure function of the window's ordinal in
the data order, so a resumed run and a run on another number of ranks pick the same ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aiprod.latents.format import LatentWindow, read_window
from aiprod.shards.stream import Item, ShardSpec, shard_specs


def choose_variant(texts: list[dict], ordinal: int, seed: int, tag_dropout: float) -> int:
    """Index of the variant a window trains on at this ordinal: a language drawn in turn,
    then its tagged form unless the tags are dropped."""
    draw = random.Random(seed * 1_000_003 + ordinal)
    languages = sorted({v["language"] for v in texts})
    language = draw.choice(languages)
    tagged = draw.random() >= tag_dropout
    for wanted in (tagged, False):
        for k, variant in enumerate(texts):
            if variant["language"] == language and variant["tags"] == wanted:
                return k
    return 0


def reference_variant(texts: list[dict]) -> int:
    """The English caption without tags where there is one (else the first): the fixed text
    of mining's loss grid."""
    for k, variant in enumerate(texts):
        if variant["language"] == "en" and not variant["tags"]:
            return k
    return 0


@dataclass
class LatentBatch:
    """What the text-to-video loss takes: latents, their texts, the texts' frozen features
    (None for a fully trained encoder), flow at the latent grid, and each window's ordinal
    (which seeds its noise and timestep)."""

    latents: torch.Tensor  # (B, C, T, h, w)
    texts: list[str]
    frozen: object  # None | (B, D) | ((B, L, D), (B, L))
    flow: torch.Tensor  # (B, 2, P, h, w)
    ordinals: torch.Tensor  # (B,) int64
    keys: list[str]

    def to(self, device: torch.device) -> LatentBatch:
        frozen = self.frozen
        if isinstance(frozen, torch.Tensor):
            frozen = frozen.to(device, non_blocking=True)
        elif isinstance(frozen, tuple):
            frozen = tuple(part.to(device, non_blocking=True) for part in frozen)
        return LatentBatch(
            self.latents.to(device, non_blocking=True),
            self.texts,
            frozen,
            self.flow.to(device, non_blocking=True),
            self.ordinals,
            self.keys,
        )


def _frozen(windows: list[LatentWindow], rows: list[int]) -> object:
    if any(w.text is None for w in windows):
        return None
    picked = [w.text[k].astype(np.float32) for w, k in zip(windows, rows, strict=True)]
    if picked[0].ndim == 1:  # one vector per text (a sentence embedding)
        return torch.from_numpy(np.stack(picked))
    masks = [w.text_mask[k] for w, k in zip(windows, rows, strict=True)]
    length = max(int(m.sum()) for m in masks)
    hidden = torch.zeros(len(picked), length, picked[0].shape[-1])
    mask = torch.zeros(len(picked), length, dtype=torch.bool)
    for i, (h, m) in enumerate(zip(picked, masks, strict=True)):
        n = int(m.sum())
        hidden[i, :n], mask[i, :n] = torch.from_numpy(h[:n]), True
    return hidden, mask


def collate(windows: list[LatentWindow], rows: list[int], ordinals: list[int]) -> LatentBatch:
    """Stack windows, each with the variant `rows[i]` of its texts."""
    return LatentBatch(
        latents=torch.from_numpy(np.stack([w.latent for w in windows]).astype(np.float32)),
        texts=[w.texts[k]["text"] for w, k in zip(windows, rows, strict=True)],
        frozen=_frozen(windows, rows),
        flow=torch.from_numpy(np.stack([w.flow for w in windows]).astype(np.float32)),
        ordinals=torch.tensor(ordinals, dtype=torch.long),
        keys=[w.key for w in windows],
    )


def training_collate(seed: int, tag_dropout: float):  # noqa: ANN201 (a collate factory)
    """Collate stream items, choosing each window's caption variant by its ordinal."""

    def collate_items(items: list[Item]) -> LatentBatch:
        windows = [item.value for item in items]
        ordinals = [item.ordinal for item in items]
        rows = [
            choose_variant(w.texts, o, seed, tag_dropout)
            for w, o in zip(windows, ordinals, strict=True)
        ]
        return collate(windows, rows, ordinals)

    return collate_items


def expand_window(sample: dict) -> list[LatentWindow]:
    """A latent-shard sample is one item."""
    return [read_window(sample)]


def latent_shards(folders: list[Path]) -> list[ShardSpec]:
    """The latent shards of some folders, one item per window."""
    return [spec for folder in folders for spec in shard_specs(folder, lambda _row: 1)]
