"""Render a shapes-world scene to frames, with the true motion of every object and the camera.

World coordinates equal screen coordinates at frame 0. The camera then pans, tilts or zooms;
screen = (world - (centre + offset(t))) * scale(t) + centre. Backgrounds live on a canvas
three frames wide so a moving camera never runs off it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from aiprod.synth.world import BACKGROUND_COLOURS, COLOURS, DIRECTIONS, SIZES, SceneSpec

SUBPIXEL_BITS = 4  # OpenCV's `shift`: coordinates in 1/16 px, so slow motion stays smooth
SPEED = {"linear": 0.014, "fast": 0.03, "bouncing": 0.02}  # frame sizes per frame
PAN_SPEED = 0.012  # frame sizes per frame
ZOOM_RATE = 0.008  # scale change per frame
FADE_FLOOR = 0.3  # darkest gain of a fade
FLICKER_DEPTH = 0.15  # largest brightness drop of a flicker frame
PILLAR_HALF_WIDTH = 0.05  # frame sizes
PILLAR_COLOUR = (70, 70, 70)


@dataclass(frozen=True)
class SceneTruth:
    """Ground truth per frame, in screen pixels: what the captions and metrics check against."""

    positions: np.ndarray  # (frames, objects, 2)
    velocities: np.ndarray  # (frames, objects, 2), pixels per frame
    camera: np.ndarray  # (frames, 3): background dx, dy in pixels per frame, zoom ratio
    gains: np.ndarray  # (frames,) brightness multiplier


def _polygon(shape: str, radius: float) -> np.ndarray:
    """Vertices of a shape around the origin."""
    if shape == "star":
        angles = np.linspace(-np.pi / 2, 1.5 * np.pi, 10, endpoint=False)
        radii = np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    corners, start, squash = {
        "triangle": (3, -np.pi / 2, 1.0),
        "square": (4, np.pi / 4, 1.0),
        "hexagon": (6, 0.0, 1.0),
        "diamond": (4, 0.0, 0.65),  # narrower than tall, so it is not a turned square
    }[shape]
    angles = start + np.linspace(0, 2 * np.pi, corners, endpoint=False)
    return np.stack([squash * radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _draw_shape(
    image: np.ndarray, shape: str, centre: np.ndarray, radius: float, colour: tuple
) -> None:
    scale = 1 << SUBPIXEL_BITS
    if shape == "circle":
        centre_fixed = tuple(int(round(v * scale)) for v in centre)
        cv2.circle(
            image, centre_fixed, int(round(radius * scale)), colour, -1, cv2.LINE_AA, SUBPIXEL_BITS
        )
        return
    points = np.round((_polygon(shape, radius) + centre) * scale).astype(np.int32)
    cv2.fillPoly(image, [points], colour, cv2.LINE_AA, SUBPIXEL_BITS)


def _background(scene: SceneSpec, size: int, rng: np.random.Generator) -> np.ndarray:
    """A (3 size, 3 size, 3) float canvas; world (0, 0) sits at canvas (size, size)."""
    extent = 3 * size
    colour = np.array(BACKGROUND_COLOURS[scene.background_colour], dtype=np.float32)
    canvas = np.broadcast_to(colour, (extent, extent, 3)).copy()
    if scene.background == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:extent, 0:extent].astype(np.float32) / extent
        ramp = 0.6 + 0.5 * (np.cos(angle) * xs + np.sin(angle) * ys + 1) / 2
        canvas *= ramp[..., None]
    elif scene.background == "textured":
        noise = rng.normal(size=(extent, extent)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=2.0)
        canvas += 28.0 * (noise / (noise.std() + 1e-6))[..., None]
    return np.clip(canvas, 0, 255)


def _world_paths(scene: SceneSpec, frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """World positions (frames, objects, 2) of every object."""
    t = np.arange(frames, dtype=np.float64)[:, None]
    centre = np.array([size / 2, size / 2])
    paths = []
    for obj in scene.objects:
        radius = SIZES[obj.size] * size
        jitter = rng.uniform(-0.25, 0.25, size=2) * size
        if obj.motion == "static":
            path = np.broadcast_to(centre + jitter, (frames, 2))
        elif obj.motion in ("linear", "fast"):
            step = SPEED[obj.motion] * size * np.array(DIRECTIONS[obj.direction])
            start = centre + 0.6 * jitter - step * (frames - 1) / 2  # crosses the centre midway
            path = start + t * step
        elif obj.motion == "circular":
            omega = 2 * np.pi / max(frames * 0.8, 1) * rng.choice([-1, 1])
            phase = rng.uniform(0, 2 * np.pi)
            path = (
                centre
                + 0.5 * jitter
                + 0.2 * size * np.hstack([np.cos(omega * t + phase), np.sin(omega * t + phase)])
            )
        else:  # bouncing: straight lines folded back at the frame edges
            angle = rng.uniform(0, 2 * np.pi)
            unfolded = (
                centre
                + jitter
                + t * SPEED["bouncing"] * size * np.array([np.cos(angle), np.sin(angle)])
            )
            low, span = radius, size - 2 * radius
            folded = np.mod(unfolded - low, 2 * span)
            path = low + np.where(folded > span, 2 * span - folded, folded)
        paths.append(np.asarray(path, dtype=np.float64))
    return np.stack(paths, axis=1)


def _camera(scene: SceneSpec, frames: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Camera offset (frames, 2) in world pixels and scale (frames,)."""
    t = np.arange(frames, dtype=np.float64)
    offset = np.zeros((frames, 2))
    scale = np.ones(frames)
    pan = PAN_SPEED * size * t
    if scene.camera == "pan_left":
        offset[:, 0] = -pan
    elif scene.camera == "pan_right":
        offset[:, 0] = pan
    elif scene.camera == "tilt_up":
        offset[:, 1] = -pan
    elif scene.camera == "tilt_down":
        offset[:, 1] = pan
    elif scene.camera == "zoom_in":
        scale = (1 + ZOOM_RATE) ** t
    elif scene.camera == "zoom_out":
        scale = (1 + ZOOM_RATE) ** -t
    return offset, scale


def _gains(scene: SceneSpec, frames: int, rng: np.random.Generator) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, frames)
    if scene.lighting == "fade_out":
        return 1 - (1 - FADE_FLOOR) * ramp
    if scene.lighting == "fade_in":
        return FADE_FLOOR + (1 - FADE_FLOOR) * ramp
    if scene.lighting == "flicker":
        return 1 - FLICKER_DEPTH * rng.uniform(0, 1, frames)
    return np.ones(frames)


def render_scene(scene: SceneSpec, frames: int, size: int) -> tuple[list[np.ndarray], SceneTruth]:
    """Frames (BGR uint8, size x size) of a scene and its truth; deterministic in scene.seed."""
    rng = np.random.default_rng(scene.seed)
    background = _background(scene, size, rng)
    world = _world_paths(scene, frames, size, rng)
    offset, scale = _camera(scene, frames, size)
    gains = _gains(scene, frames, rng)
    centre = np.array([size / 2, size / 2])
    screen = (world - (centre + offset)[:, None, :]) * scale[:, None, None] + centre
    images = []
    for k in range(frames):
        shift = centre - scale[k] * (centre + offset[k])  # screen = scale * world + shift
        to_canvas = np.array(
            [
                [1 / scale[k], 0, size - shift[0] / scale[k]],
                [0, 1 / scale[k], size - shift[1] / scale[k]],
            ]
        )
        image = cv2.warpAffine(
            background, to_canvas, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        )
        for index, obj in enumerate(scene.objects):
            radius = SIZES[obj.size] * size * scale[k]
            _draw_shape(image, obj.shape, screen[k, index], radius, COLOURS[obj.colour])
        if scene.occlusion:
            half = PILLAR_HALF_WIDTH * size * scale[k]
            x = scale[k] * size / 2 + shift[0]
            cv2.rectangle(image, (int(x - half), -1), (int(x + half), size), PILLAR_COLOUR, -1)
        images.append(np.clip(image * gains[k], 0, 255).astype(np.uint8))
    centre_track = (centre - (centre + offset)) * scale[:, None] + centre
    ratio = np.append(scale[1:] / scale[:-1], scale[-1] / scale[-2] if frames > 1 else 1.0)
    camera = np.column_stack([_forward_diff(centre_track), ratio])
    return images, SceneTruth(screen, _forward_diff(screen), camera, gains)


def _forward_diff(series: np.ndarray) -> np.ndarray:
    """Per-frame change along axis 0, the last frame repeating the one before it."""
    if len(series) < 2:
        return np.zeros_like(series)
    step = np.diff(series, axis=0)
    return np.concatenate([step, step[-1:]], axis=0)
