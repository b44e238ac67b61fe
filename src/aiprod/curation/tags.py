"""Vocabulary tags from measured scores (camera, motion, lighting, focus, composition), in
every caption language: only the terms a score can tell; the rest of the vocabulary is
there for captions that use them."""

from __future__ import annotations

from aiprod.config import TagConfig
from aiprod.synth.captions import LANGUAGES
from aiprod.vocabulary import term

CAMERA_TAGS = {
    "static": "static_shot",
    "tilt_up": "tilt_up",
    "tilt_down": "tilt_down",
    "zoom_in": "zoom_in",
    "zoom_out": "zoom_out",
    "complex": "complex_camera",
}


def tag_keys(scores: dict, cfg: TagConfig) -> list[str]:
    """Vocabulary keys that the clip's scores justify, camera first."""
    keys = []
    camera = scores["camera"]
    if camera in ("pan_left", "pan_right"):
        speed = (scores["camera_dx"] ** 2 + scores["camera_dy"] ** 2) ** 0.5
        keys.append(f"slow_{camera}" if speed < 2 * cfg.slow_px else camera)
    else:
        keys.append(CAMERA_TAGS[camera])
    if scores["motion_p95"] > cfg.fast_px:
        keys.append("fast_motion")
    elif scores["object_motion"] < cfg.slow_px / 4:
        keys.append("still_subject")
    elif scores["object_motion"] < cfg.slow_px:
        keys.append("slow_movement")
    if scores["lighting_change"] > cfg.fade:
        keys.append("fade_in" if scores["lighting_trend"] > 0 else "fade_out")
    if scores["flicker"] > cfg.flicker:
        keys.append("flicker")
    if scores["luma_mean"] < cfg.low_luma:
        keys.append("low_light")
    elif scores["luma_mean"] > cfg.high_luma:
        keys.append("bright_scene")
    if scores.get("sharpness") is not None and scores["sharpness"] < cfg.soft_sharpness:
        keys.append("soft_focus")
    edges = scores.get("edge_density")
    if edges is not None and edges > cfg.busy_edges:
        keys.append("busy_frame")
    elif edges is not None and edges < cfg.minimal_edges:
        keys.append("minimal_frame")
    return keys


def localise(keys: list[str]) -> dict[str, list[str]]:
    """{language: [term, ...]} for every caption language."""
    return {language: [term(key, language) for key in keys] for language in LANGUAGES}
