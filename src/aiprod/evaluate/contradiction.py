"""Motion references that contradict the prompt: which one does a generated video follow?

For every ordered pair of the eight directions (56), the prompt asks for one object moving
in the first direction while the flow reference (the same scene rendered moving in the
second) moves the other way. At each guidance strength, the share of videos whose read-back
direction follows the reference and the share that follows the prompt: with s = 0 the prompt
should win as often as direction adherence says, and the reference's share should rise
with s.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import torch

from aiprod.config import AiprodConfig
from aiprod.evaluate.motion import dominant_direction, video_flow
from aiprod.evaluate.prompts import eval_scenes
from aiprod.evaluate.sampling import generate_batched
from aiprod.generate import VideoGenerator
from aiprod.synth.captions import caption
from aiprod.synth.render import render_scene
from aiprod.synth.world import DIRECTIONS, SceneSpec


def reference_flow(generator: VideoGenerator, scene: SceneSpec) -> torch.Tensor:
    """The guide a rendered scene gives, as from a reference video (`--motion-ref`)."""
    frames, size = generator.frames, generator.size
    images, _ = render_scene(scene, frames * generator.frame_step, 2 * size)
    bgr = np.stack([cv2.resize(i, (size, size), interpolation=cv2.INTER_AREA) for i in images])
    return generator.flow_from_frames(bgr, frames, size)


def contradicting_pairs(seed: int) -> list[tuple[SceneSpec, SceneSpec]]:
    """(prompt scene, reference scene): the same object, moving in two different directions."""
    pairs = [(asked, shown) for asked in DIRECTIONS for shown in DIRECTIONS if shown != asked]
    scenes = eval_scenes(len(pairs), seed)
    out = []
    for scene, (asked, shown) in zip(scenes, pairs, strict=True):
        obj = scene.objects[0]
        out.append(
            (
                replace(scene, objects=(replace(obj, direction=asked),)),
                replace(scene, objects=(replace(obj, direction=shown),)),
            )
        )
    return out


def contradiction_metrics(generator: VideoGenerator, config: AiprodConfig) -> dict:
    ev = config.evaluate
    pairs = contradicting_pairs(ev.seed + 1)
    texts = [caption(asked, "en") for asked, _ in pairs]
    guides = torch.stack([reference_flow(generator, shown) for _, shown in pairs])
    asked = [str(a.objects[0].direction) for a, _ in pairs]
    shown = [str(s.objects[0].direction) for _, s in pairs]
    out: dict = {"pairs": len(pairs), "language": "en"}
    for strength in ev.guidance_strengths:
        videos = generate_batched(generator, texts, config, guides, strength)
        read = np.array([dominant_direction(video_flow(video)) or "none" for video in videos])
        out[f"s{strength:g}"] = {
            "follows_reference": round(float((read == np.array(shown)).mean()), 4),
            "follows_prompt": round(float((read == np.array(asked)).mean()), 4),
        }
    return out
