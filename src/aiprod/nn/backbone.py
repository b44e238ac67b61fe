"""The hybrid diffusion backbone: attention and local 3D-convolution blocks on patchified latents.

Conditioning: the timestep (+ pooled text) by adaLN-zero in every block, the text tokens by
cross-attention in attention blocks (a learned null text replaces dropped captions for
classifier-free guidance), and optical flow by `FlowEncoder` tokens added to the input.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from aiprod.nn.blocks import AttentionBlock, ConvBlock, modulate
from aiprod.nn.configs import BackboneConfig
from aiprod.nn.flow_guidance import FlowEncoder
from aiprod.nn.text import masked_mean


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1] (scaled by 1000, as DiT does)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class HybridBackbone(nn.Module):
    """Predicts the rectified-flow velocity (B, C, T, H, W) of noisy latents."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.gradient_checkpointing = cfg.gradient_checkpointing  # runtime may switch it on
        width, (pt, ph, pw) = cfg.width, cfg.patch
        patch_dim = cfg.latent_channels * pt * ph * pw
        self.embed = nn.Linear(patch_dim, width)
        self.pos_t = nn.Parameter(torch.randn(cfg.max_grid[0], width) * 0.02)
        self.pos_h = nn.Parameter(torch.randn(cfg.max_grid[1], width) * 0.02)
        self.pos_w = nn.Parameter(torch.randn(cfg.max_grid[2], width) * 0.02)
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.text_proj = nn.Linear(cfg.text_width, width)
        self.text_pool = nn.Linear(cfg.text_width, width)
        self.null_text = nn.Parameter(torch.randn(1, 1, cfg.text_width) * 0.02)
        self.flow = FlowEncoder(width, cfg.flow_hidden, cfg.patch)
        self.blocks = nn.ModuleList(
            AttentionBlock(width, cfg.heads, cfg.mlp_ratio)
            if kind == "A"
            else ConvBlock(width, cfg.mlp_ratio, cfg.conv)
            for kind in cfg.kinds()
        )
        self.norm_out = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, patch_dim)
        for layer in (self.ada_out, self.out):  # adaLN-zero: the model starts predicting 0
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def grid(self, shape: torch.Size) -> tuple[int, int, int]:
        _, _, t, h, w = shape
        pt, ph, pw = self.cfg.patch
        if t % pt or h % ph or w % pw:
            raise ValueError(f"latent {tuple(shape)} is not divisible by patch {self.cfg.patch}")
        grid = (t // pt, h // ph, w // pw)
        if any(g > m for g, m in zip(grid, self.cfg.max_grid, strict=True)):
            raise ValueError(f"patch grid {grid} exceeds max_grid {self.cfg.max_grid}")
        return grid

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        pt, ph, pw = self.cfg.patch
        x = x.view(b, c, t // pt, pt, h // ph, ph, w // pw, pw)
        return x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, -1, c * pt * ph * pw)  # (B, N, P)

    def unpatchify(self, x: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        b = x.shape[0]
        pt, ph, pw = self.cfg.patch
        c = self.cfg.latent_channels
        x = x.view(b, *grid, c, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return x.reshape(b, c, grid[0] * pt, grid[1] * ph, grid[2] * pw)

    def positions(self, grid: tuple[int, int, int]) -> torch.Tensor:
        t, h, w = grid
        pos = self.pos_t[:t, None, None] + self.pos_h[None, :h, None] + self.pos_w[None, None, :w]
        return pos.reshape(1, t * h * w, -1)

    def condition_text(
        self, text: torch.Tensor, mask: torch.Tensor, drop: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Replace the text of rows in `drop` by the learned null text (one real token).

        In training (`drop` given) the null text takes part even when no row is dropped, so
        every parameter is used in every step (DDP need not search for unused ones)."""
        if drop is None:
            return text, mask
        null = self.null_text.expand(text.shape[0], text.shape[1], -1).to(text.dtype)
        null_mask = torch.zeros_like(mask)
        null_mask[:, 0] = True
        keep = ~drop[:, None]
        return torch.where(keep[..., None], text, null), torch.where(keep, mask, null_mask)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        flow: torch.Tensor | None = None,
        drop_text: torch.Tensor | None = None,
        drop_flow: torch.Tensor | None = None,
    ) -> torch.Tensor:
        grid = self.grid(x.shape)
        tokens = self.embed(self.patchify(x)) + self.positions(grid)  # (B, N, D)
        if flow is not None:
            flow_tokens = self.flow(flow, grid)  # (B, N, D)
            if drop_flow is not None:
                flow_tokens = flow_tokens * (~drop_flow).to(flow_tokens.dtype)[:, None, None]
            tokens = tokens + flow_tokens
        text, text_mask = self.condition_text(text, text_mask, drop_text)
        c = self.time(timestep_embedding(t, self.cfg.width).to(tokens.dtype))
        c = c + self.text_pool(masked_mean(text, text_mask))  # (B, D)
        context = self.text_proj(text)  # (B, L, D)
        for block in self.blocks:
            if self.gradient_checkpointing and self.training:
                tokens = checkpoint(block, tokens, c, context, text_mask, grid, use_reentrant=False)
            else:
                tokens = block(tokens, c, context, text_mask, grid)
        shift, scale = self.ada_out(F.silu(c)).chunk(2, dim=-1)
        out = self.out(modulate(self.norm_out(tokens), shift, scale))
        return self.unpatchify(out, grid)
