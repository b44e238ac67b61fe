"""Does flow guidance let fewer sampler steps do? FVD and prompt adherence at each of
`evaluate.sweep_steps` Euler steps, without and with flow guidance (strength 1).

- FVD: the held-out clips' captions, generated without a guide and with each clip's own flow
  as the guide, against the held-out clips (the `fvd` figure's real set and basis).
- Adherence: `evaluate.sweep_prompts` English prompts of evaluation scenes, read back by the
  shapes classifier (colour) and the flow (direction); guided by a reference rendered from
  the same scene moving the way the prompt says (as `--motion-ref` gives it).
"""

from __future__ import annotations

import torch

from aiprod.config import AiprodConfig
from aiprod.evaluate.adherence import adherence
from aiprod.evaluate.contradiction import reference_flow
from aiprod.evaluate.fvd import RealSet, generated_batches
from aiprod.evaluate.prompts import eval_prompts, eval_scenes
from aiprod.evaluate.sampling import generate_batched
from aiprod.generate import VideoGenerator

STRENGTHS = (0.0, 1.0)


def steps_guidance_metrics(
    generator: VideoGenerator,
    config: AiprodConfig,
    classifier: torch.nn.Module,
    real: RealSet,
    fvd_at_eval_steps: float | None = None,
) -> dict:
    """{"steps8_s0": {fvd, colour, direction}, ...} plus the counts behind them.
    `fvd_at_eval_steps`: the `fvd` figure, made of the very videos the unguided point at
    `evaluate.steps` would generate again (same captions, seeds and steps), so it is reused."""
    ev = config.evaluate
    seed = ev.seed + 2  # scenes of their own: not the adherence or contradiction ones
    prompts = eval_prompts(["en"], ev.sweep_prompts, seed)
    scenes = eval_scenes(ev.sweep_prompts, seed)
    references = torch.stack([reference_flow(generator, scene) for scene in scenes])
    out: dict = {"language": "en", "prompts": len(prompts), "fvd_videos": len(real.captions)}
    for steps in ev.sweep_steps:
        stepped = config.model_copy(update={"evaluate": ev.model_copy(update={"steps": steps})})
        for strength in STRENGTHS:
            guided = strength > 0
            if steps == ev.steps and not guided and fvd_at_eval_steps is not None:
                fvd = fvd_at_eval_steps
            else:
                fvd = real.fvd(generated_batches(generator, real, stepped, guided, strength))
            videos = generate_batched(
                generator,
                [p.text for p in prompts],
                stepped,
                references if guided else None,
                strength,
            )
            table = adherence(videos, prompts, classifier)
            out[f"steps{steps}_s{strength:g}"] = {
                "fvd": fvd,
                "colour": round(float((table.colour == table.read_colour).mean()), 4),
                "direction": round(float((table.direction == table.read_direction).mean()), 4),
            }
    return out
