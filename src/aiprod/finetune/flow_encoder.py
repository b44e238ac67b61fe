"""Flow guidance on a pretrained transformer: a small flow encoder whose tokens are added to
the base's patch embedding.

Its last layer starts at zero, so before training the base (with its adapters) is exactly
what it was; `strength` in [0, 1] scales the tokens per sample, so
`guidance_strength` 0 adds exact zeros: the base + LoRA output bit for bit.
"""

from __future__ import annotations

import torch
from torch import nn


class FlowEncoder(nn.Module):
    """(B, 2, P, h, w) flow on the latent grid -> (B, D, T / pt, h / ph, w / pw) tokens."""

    def __init__(self, width: int, patch: tuple[int, int, int], hidden: int = 64) -> None:
        super().__init__()
        self.patch = patch
        self.inner = nn.Sequential(
            nn.Conv3d(2, hidden, 3, padding=1), nn.SiLU(), nn.Conv3d(hidden, hidden, 3, padding=1),
            nn.SiLU(),
        )  # fmt: skip
        self.out = nn.Conv3d(hidden, width, kernel_size=patch, stride=patch)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, flow: torch.Tensor, frames: int) -> torch.Tensor:
        """The first latent frame has no motion before it: P = T - 1 fields, padded with
        zeros in front (a guide with more or fewer fields is cut or repeats its last)."""
        steps = frames - 1
        if flow.shape[2] < steps:
            extra = flow[:, :, -1:].expand(-1, -1, steps - flow.shape[2], -1, -1)
            flow = torch.cat([flow, extra], 2)
        flow = torch.cat([torch.zeros_like(flow[:, :, :1]), flow[:, :, :steps]], dim=2)
        return self.out(self.inner(flow.float()))


class FlowInjection:
    """A forward hook on the base's patch embedding that adds the flow tokens set for the
    current call (`tokens` of the embedding's layout, or None for none)."""

    def __init__(self, module: nn.Module, layout: str) -> None:
        self.layout, self.tokens = layout, None
        self.handle = module.register_forward_hook(self.add)

    def add(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        if self.tokens is None:
            return output
        tokens = self.tokens
        if self.layout == "tokens":  # (B, N, D), N in (t, h, w) order
            tokens = tokens.flatten(2).transpose(1, 2)
        if tokens.shape[0] != output.shape[0]:  # a CFG batch: the same guide on every half
            tokens = tokens.repeat(output.shape[0] // tokens.shape[0], *[1] * (tokens.ndim - 1))
        return output + tokens.to(output.dtype)
