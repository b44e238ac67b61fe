"""Prompt adherence: what the shapes classifier and the direction reader read back from the
generated videos, per language, and the most the readers can read from the scenes themselves."""

from __future__ import annotations

import pandas as pd
import torch
from scipy.stats import binomtest

from aiprod.config import AiprodConfig
from aiprod.evaluate.classifier import COLOUR_NAMES, predict, rendered_video
from aiprod.evaluate.motion import dominant_direction, motion_read_back, motion_summary, video_flow
from aiprod.evaluate.prompts import Prompt, eval_prompts, eval_scenes
from aiprod.generate import VideoGenerator
from aiprod.synth.world import DIRECTIONS, SHAPES


def adherence(
    videos: torch.Tensor, prompts: list[Prompt], classifier: torch.nn.Module
) -> pd.DataFrame:
    """One row per generated video: what was asked and what was read back (direction, speed
    and path from the flow of every frame pair)."""
    colour, shape = predict(classifier, videos)
    rows = []
    for k, prompt in enumerate(prompts):
        flow = video_flow(videos[k])
        direction = dominant_direction(flow)
        rows.append(
            {
                "language": prompt.language,
                "prompt": prompt.text,
                "colour": prompt.colour,
                "read_colour": COLOUR_NAMES[int(colour[k].argmax())],
                "shape": prompt.shape,
                "read_shape": SHAPES[int(shape[k].argmax())],
                "direction": prompt.direction,
                "read_direction": direction or "none",
                **motion_read_back(flow, prompt.direction),
            }
        )
    return pd.DataFrame(rows)


def adherence_summary(table: pd.DataFrame) -> dict:
    """Per language: the share read back right for colour, shape and direction, and for colour
    and direction the one-sided exact binomial p-value of doing that well by chance (what
    "beats chance clearly" means: a small p in every language)."""
    chance = {
        "colour": 1 / len(COLOUR_NAMES),
        "shape": 1 / len(SHAPES),
        "direction": 1 / len(DIRECTIONS),
    }
    out = {}
    for language, group in table.groupby("language", sort=False):
        hits = {key: group[key] == group[f"read_{key}"] for key in chance}
        out[language] = {key: round(float(hit.mean()), 4) for key, hit in hits.items()}
        for key in ("colour", "direction"):
            test = binomtest(int(hits[key].sum()), len(group), chance[key], alternative="greater")
            out[language][f"{key}_p"] = float(f"{test.pvalue:.3g}")
        out[language]["prompts"] = len(group)
    out["chance"] = {key: round(value, 4) for key, value in chance.items()}
    return out


def read_back_ceiling(
    generator: VideoGenerator, classifier: torch.nn.Module, config: AiprodConfig
) -> dict:
    """How much of each prompt the readers recover from the evaluation scenes themselves,
    rendered, and after a pass through the VAE: the most a generated video (which the VAE
    decodes) can score on colour, shape and direction adherence. Read back as `adherence`
    reads."""
    ev = config.evaluate
    scenes = eval_scenes(ev.prompts_per_language, ev.seed)
    prompts = eval_prompts(ev.languages[:1], ev.prompts_per_language, ev.seed)  # same scenes
    rendered = torch.stack(
        [rendered_video(s, generator.frames, generator.frame_step, generator.size) for s in scenes]
    )

    def score(videos: torch.Tensor) -> dict:
        table = adherence(videos, prompts, classifier)
        shares = {
            k: round(float((table[k] == table[f"read_{k}"]).mean()), 4)
            for k in ("colour", "shape", "direction")
        }
        return {**shares, "motion": motion_summary(table)}

    return {
        "rendered": score(rendered),
        "vae": score(generator.codec.read_back(rendered)),
        "scenes": len(scenes),
    }
