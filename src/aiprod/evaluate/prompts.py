"""Evaluation prompts: single-object shapes-world scenes, described in every language.

One object moving in a straight line on a plain background with a still camera: its colour,
shape and direction are each one answer, so what a generated video shows can be scored
against the prompt. The same scenes are used for every language, so languages compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aiprod.evaluate.zero_shot import ZERO_SHOT
from aiprod.synth.captions import GRAMMARS, describe
from aiprod.synth.world import (
    BACKGROUND_COLOURS,
    COLOURS,
    DIRECTIONS,
    SHAPES,
    ObjectSpec,
    SceneSpec,
    hidden_colour,
)


@dataclass(frozen=True)
class Prompt:
    language: str
    text: str
    colour: str
    shape: str
    direction: str


def eval_scenes(count: int, seed: int) -> list[SceneSpec]:
    """`count` single-object linear-motion scenes, colours and directions cycled evenly; the
    render seed (start positions) follows from `seed` too, so two seeds share no scene."""
    rng = np.random.default_rng(seed)
    colours, directions = list(COLOURS), list(DIRECTIONS)
    scenes = []
    for k in range(count):
        background = str(rng.choice(list(BACKGROUND_COLOURS)))
        colour = colours[k % len(colours)]
        if colour == hidden_colour(background):
            background = "sky" if colour != "blue" else "grey"
        obj = ObjectSpec(
            shape=str(rng.choice(SHAPES)),
            colour=colour,
            size="large",
            motion="linear",
            direction=directions[(k + 3 * (k // len(directions))) % len(directions)],
        )
        scenes.append(
            SceneSpec((obj,), "plain", background, "static", "steady", False, seed * 1_000_003 + k)
        )
    return scenes


def eval_prompts(languages: list[str], count: int, seed: int) -> list[Prompt]:
    """The same `count` scenes described in each language: a caption language, or a
    zero-shot one (evaluation only: ko, nl, tr)."""
    scenes = eval_scenes(count, seed)
    grammars = {**GRAMMARS, **ZERO_SHOT}
    return [
        Prompt(
            language,
            describe(scene, grammars[language]),
            scene.objects[0].colour,
            scene.objects[0].shape,
            str(scene.objects[0].direction),
        )
        for language in languages
        for scene in scenes
    ]
