"""Generation in fixed-size batches with the evaluation's sampler settings, one seed per batch."""

from __future__ import annotations

import torch

from aiprod.config import AiprodConfig
from aiprod.generate import VideoGenerator

BATCH = 48


def generate_batched(
    generator: VideoGenerator,
    prompts: list[str],
    config: AiprodConfig,
    flows: torch.Tensor | None = None,
    strength: float = 0.0,
) -> torch.Tensor:
    ev = config.evaluate
    parts = []
    for start in range(0, len(prompts), BATCH):
        flow = flows[start : start + BATCH] if flows is not None else None
        parts.append(
            generator(
                prompts[start : start + BATCH],
                steps=ev.steps,
                cfg=ev.cfg,
                seed=ev.seed + start,
                flow=flow,
                guidance_strength=strength,
            )
        )
    return torch.cat(parts)
