"""Euler sampling of a flow-matching denoiser with the base scheduler's sigmas, text CFG, and
the flow guide (its tokens scaled by the guidance strength) as a second guided condition."""

from __future__ import annotations

from collections.abc import Callable

import torch

from aiprod.finetune.objective import NullText, with_null_text
from aiprod.nn.rectified_flow import flow_guided


def sigmas(steps: int, shift: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The pipelines' schedule: linspace(1, 1/steps), shifted, then 0."""
    base = torch.linspace(1.0, 1.0 / steps, steps)
    return torch.cat([shift(base), torch.zeros(1)])


@torch.no_grad()
def sample(
    model: torch.nn.Module,
    shape: tuple[int, ...],
    text: tuple[torch.Tensor, torch.Tensor],
    null: NullText,
    steps: int,
    cfg: float,
    shift: Callable[[torch.Tensor], torch.Tensor],
    generator: torch.Generator,
    flow: torch.Tensor | None = None,
    strength: float = 0.0,
) -> torch.Tensor:
    """(B, C, T, H, W) latents: v = v_null + cfg (v_text - v_null) without a guide; with one
    (its tokens scaled by `strength`), the two-condition guidance of
    `aiprod.nn.rectified_flow.flow_guided`, so a guide the prompt contradicts is followed.
    Strength 0 adds exact zeros (the base + LoRA)."""
    device = text[0].device
    x = torch.randn(shape, generator=generator).to(device)
    hidden, mask = text
    b = shape[0]
    all_null = torch.ones(b, dtype=torch.bool, device=device)
    null_hidden, null_mask = with_null_text(hidden, mask, all_null, null)
    schedule = sigmas(steps, shift).to(device)
    weight = torch.full((b,), strength if flow is not None else 0.0, device=device)
    guided = flow is not None and strength > 0 and cfg != 1
    for k in range(steps):
        s = schedule[k].expand(b)
        v_text = model(x, s, hidden, mask, flow, weight)
        v = model(x, s, null_hidden, null_mask, flow, weight)
        if guided:
            v_null = model(x, s, null_hidden, null_mask, flow, torch.zeros_like(weight))
            v = flow_guided(v_null, v, v_text, cfg)
        else:
            v = v + cfg * (v_text - v) if cfg != 1 else v_text
        x = x + (schedule[k + 1] - schedule[k]) * v
    return x
