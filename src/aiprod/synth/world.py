"""The shapes world's vocabulary, scene description, and its true difficulty level.

A scene is sampled for a wanted level; `difficulty_level` then derives the level from the
scene's own choices, so the label is a fact about the video and not a separate guess.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "hexagon", "diamond")
# BGR, as OpenCV draws.
COLOURS = {
    "red": (40, 40, 220),
    "green": (60, 180, 60),
    "blue": (220, 90, 30),
    "yellow": (40, 220, 240),
    "orange": (20, 140, 250),
    "purple": (170, 50, 140),
    "white": (250, 250, 250),
    "black": (20, 20, 20),
}
# radius as a share of the frame: still legible at the 32 px demo size after the 4x VAE
SIZES = {"small": 0.1, "large": 0.2}
BACKGROUND_COLOURS = {
    "white": (235, 235, 235),
    "grey": (150, 150, 150),
    "beige": (180, 215, 230),
    "sky": (235, 205, 160),
    "navy": (90, 40, 30),
}
BACKGROUND_KINDS = ("plain", "gradient", "textured")
DIRECTIONS = {  # unit vectors in image coordinates (y grows downwards)
    "right": (1.0, 0.0),
    "up_right": (0.7071, -0.7071),
    "up": (0.0, -1.0),
    "up_left": (-0.7071, -0.7071),
    "left": (-1.0, 0.0),
    "down_left": (-0.7071, 0.7071),
    "down": (0.0, 1.0),
    "down_right": (0.7071, 0.7071),
}
SIMPLE_MOTIONS = ("static", "linear")
COMPLEX_MOTIONS = ("circular", "bouncing")
MOTIONS = (*SIMPLE_MOTIONS, *COMPLEX_MOTIONS, "fast")
CAMERA_MOTIONS = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out")
LIGHTING = ("steady", "fade_out", "fade_in", "flicker")
LEVELS = (1, 2, 3, 4)


@dataclass(frozen=True)
class ObjectSpec:
    """One shape and how it moves; `direction` is set for linear and fast motion."""

    shape: str
    colour: str
    size: str
    motion: str
    direction: str | None


@dataclass(frozen=True)
class SceneSpec:
    """Everything that decides what a scene looks like; rendering adds only noise-free pixels."""

    objects: tuple[ObjectSpec, ...]
    background: str
    background_colour: str
    camera: str
    lighting: str
    occlusion: bool
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)


def difficulty_level(scene: SceneSpec) -> int:
    """1 simple static scene, 2 compound scene, 3 complex motion/camera/lighting, 4 edge case."""
    motions = {obj.motion for obj in scene.objects}
    if "fast" in motions or scene.lighting == "flicker" or scene.occlusion:
        return 4
    if motions & set(COMPLEX_MOTIONS) or scene.camera != "static" or scene.lighting != "steady":
        return 3
    if len(scene.objects) > 1 or scene.background == "textured":
        return 2
    return 1


def _pick(rng: np.random.Generator, options: tuple | list) -> object:
    return options[int(rng.integers(len(options)))]


def _object(rng: np.random.Generator, motion: str, avoid_colour: str) -> ObjectSpec:
    colours = [name for name in COLOURS if name != avoid_colour]
    return ObjectSpec(
        shape=str(_pick(rng, SHAPES)),
        colour=str(_pick(rng, colours)),
        size=str(_pick(rng, tuple(SIZES))),
        motion=motion,
        direction=str(_pick(rng, tuple(DIRECTIONS))) if motion in ("linear", "fast") else None,
    )


def hidden_colour(background_colour: str) -> str:
    """The object colour too close to a background colour to be seen on it."""
    return {"white": "white", "navy": "black", "grey": "black", "beige": "yellow"}.get(
        background_colour, "blue"
    )


def sample_scene(rng: np.random.Generator, level: int, seed: int) -> SceneSpec:
    """Sample a scene whose derived difficulty is exactly `level`."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level}")
    count = 1 if level == 1 else int(rng.integers(2, 4)) if level == 2 else int(rng.integers(1, 4))
    # Level 1 is where the corpus teaches motion words: its one object always moves in a
    # straight line, in one of 8 directions (still objects come in every other level). Half
    # of them stood still before, which left too few clean examples of each direction.
    motions = ["linear"] if level == 1 else [str(_pick(rng, SIMPLE_MOTIONS)) for _ in range(count)]
    camera, lighting, occlusion = "static", "steady", False
    background = str(_pick(rng, ("plain", "gradient") if level == 1 else BACKGROUND_KINDS))
    if level >= 3:
        # At least one level-3 trait; each of the others joins by chance.
        traits = ["motion", "camera", "lighting"]
        wanted = {traits[int(rng.integers(3))]} | {t for t in traits if rng.random() < 0.3}
        if "motion" in wanted:
            motions[0] = str(_pick(rng, COMPLEX_MOTIONS))
        if "camera" in wanted:
            camera = str(_pick(rng, CAMERA_MOTIONS[1:]))
        if "lighting" in wanted:
            lighting = str(_pick(rng, ("fade_out", "fade_in")))
    if level == 4:
        edge = str(_pick(rng, ("fast", "flicker", "occlusion")))
        if edge == "fast":
            motions[-1] = "fast"
        elif edge == "flicker":
            lighting = "flicker"
        else:
            occlusion = True
            motions[0] = "linear"
    if camera != "static":
        background = "textured"  # a camera move is only visible against a textured background
    background_colour = str(_pick(rng, tuple(BACKGROUND_COLOURS)))
    avoid = hidden_colour(background_colour)
    objects = tuple(_object(rng, motion, avoid) for motion in motions)
    if occlusion:  # the occluder stands mid-frame; make the first object cross it sideways
        objects = (
            ObjectSpec(**{**asdict(objects[0]), "direction": str(_pick(rng, ("left", "right")))}),
            *objects[1:],
        )
    scene = SceneSpec(objects, background, background_colour, camera, lighting, occlusion, seed)
    assert difficulty_level(scene) == level, (scene, level)
    return scene
