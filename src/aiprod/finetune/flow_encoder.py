"""Flow guidance on a pretrained transformer: a small flow encoder whose tokens are added to
the base's patch embedding.

Its last layer starts at zero, so before training the base (with its adapters) is exactly
what it was; `strength` in [0, 1] scales the tokens per sample, so
`guidance_strength` 0 adds exact zeros: the base + LoRA output bit for bit.
"""

from __future__ import annotations

import torch
from torch import nn

from aiprod.nn.flow_guidance import PatchFlowEncoder as FlowEncoder

__all__ = ["FlowEncoder", "FlowInjection"]


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
