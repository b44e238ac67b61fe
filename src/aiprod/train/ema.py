"""Exponential moving average of a model's weights (the weights that get evaluated)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """Keeps `decay`-averaged copies of a model's parameters and buffers."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        averages, currents = list(self.shadow.parameters()), list(model.parameters())
        if len(averages) != len(currents):
            raise ValueError("EMA and model have different parameter lists")
        torch._foreach_lerp_(averages, [p.detach() for p in currents], 1.0 - self.decay)  # one op
        for average, current in zip(self.shadow.buffers(), model.buffers(), strict=True):
            average.copy_(current)
