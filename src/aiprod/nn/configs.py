"""Sizes of the networks, as plain dataclasses: importable without torch, so a params file
can be checked against a preset's geometry (frames against the VAE's temporal factor, sizes
against its spatial factor and the backbone's patches) before any stage starts work."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class VAEConfig:
    """Sizes of the VAE; `channels` has one entry per spatial level (log2 spatial_factor)."""

    in_channels: int = 3
    latent_channels: int = 8
    channels: tuple[int, ...] = (64, 128, 256)
    spatial_factor: int = 8  # 4, 8, 16 or 32
    temporal_factor: int = 4  # 1, 4 or 8
    blocks_per_level: int = 1
    attention: bool = True  # temporal self-attention at the middle levels
    attention_stride: int = 2  # keys/values from every other frame
    attention_heads: int = 4
    groups: int = 8  # GroupNorm groups; 0 = no normalisation (narrow models)
    shortcuts: bool = True  # averaging shortcuts around the down/up-sampling convolutions

    def __post_init__(self) -> None:
        levels = int(math.log2(self.spatial_factor))
        if 2**levels != self.spatial_factor or levels < 1:
            raise ValueError(f"spatial_factor must be a power of 2, got {self.spatial_factor}")
        if self.temporal_factor not in (1, 2, 4, 8):
            raise ValueError(f"temporal_factor must be 1, 2, 4 or 8, got {self.temporal_factor}")
        if len(self.channels) != levels:
            raise ValueError(
                f"channels needs {levels} entries for spatial_factor {self.spatial_factor}"
            )
        if int(math.log2(self.temporal_factor)) > levels:
            raise ValueError("temporal_factor cannot exceed spatial_factor")

    @property
    def levels(self) -> int:
        return len(self.channels)

    def temporal_levels(self) -> list[bool]:
        """Which levels halve time: the deepest ones (fine motion is kept longest)."""
        count = int(math.log2(self.temporal_factor))
        return [level >= self.levels - count for level in range(self.levels)]


@dataclass(frozen=True)
class ByteTextConfig:
    width: int = 256
    layers: int = 4
    heads: int = 4
    max_length: int = 256
    dropout: float = 0.0


@dataclass(frozen=True)
class BackboneConfig:
    latent_channels: int = 8
    patch: tuple[int, int, int] = (1, 2, 2)  # (time, height, width)
    width: int = 384
    heads: int = 6
    attention_blocks: int = 4
    conv_blocks: int = 2
    layout: str = ""  # e.g. "AACAAC"; empty spreads the conv blocks evenly
    conv: str = "separable"  # separable | full | cudnn (see blocks.py)
    mlp_ratio: float = 4.0
    text_width: int = 256
    max_grid: tuple[int, int, int] = (16, 64, 64)  # learned positions, in patches
    flow_hidden: int = 64
    gradient_checkpointing: bool = False

    def kinds(self) -> list[str]:
        """'A' (attention) or 'C' (convolution) for each block, in order."""
        if self.layout:
            if sorted(self.layout) != sorted("A" * self.attention_blocks + "C" * self.conv_blocks):
                raise ValueError(
                    f"layout {self.layout!r} does not hold {self.attention_blocks} A "
                    f"and {self.conv_blocks} C"
                )
            return list(self.layout)
        total = self.attention_blocks + self.conv_blocks
        convs = {int((k + 0.5) * total / self.conv_blocks) for k in range(self.conv_blocks)}
        return ["C" if i in convs else "A" for i in range(total)]
