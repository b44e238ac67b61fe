"""Randomness tied to a sample, not to a process: the same sample gets the same draw in a
resumed run, on one rank or on eight."""

from __future__ import annotations

import torch

GOLDEN = 0x9E3779B97F4A7C15  # spreads consecutive ordinals across the seed space
MASK = (1 << 63) - 1


def sample_generator(seed: int, ordinal: int) -> torch.Generator:
    """A CPU generator seeded by (seed, the sample's ordinal in the data order)."""
    return torch.Generator().manual_seed((seed * GOLDEN + int(ordinal) + 1) & MASK)


def seeded_normal(
    ordinals: torch.Tensor | list[int], shape: tuple[int, ...], seed: int
) -> torch.Tensor:
    """(B, *shape) standard normal noise, row i drawn from sample i's own generator."""
    return torch.stack(
        [torch.randn(shape, generator=sample_generator(seed, int(o))) for o in ordinals]
    )
