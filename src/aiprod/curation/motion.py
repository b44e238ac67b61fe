"""Dense optical flow (OpenCV DIS) over a clip, and the motion statistics drawn from it."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def gray_frames(frames: np.ndarray, size: int) -> list[np.ndarray]:
    """(T, H, W, 3) BGR -> T grey frames whose longer side is `size` (area-averaged)."""
    height, width = frames.shape[1:3]
    scale = size / max(height, width)
    shape = (max(8, round(width * scale)), max(8, round(height * scale)))
    return [
        cv2.resize(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), shape, interpolation=cv2.INTER_AREA)
        for f in frames
    ]


def clip_flow(frames: np.ndarray, size: int, preset: str = "fast") -> np.ndarray:
    """Flow between every consecutive pair: (T-1, 2, h, w) float32, in pixels at `size`."""
    grays = gray_frames(frames, size)
    dis = cv2.DISOpticalFlow_create(PRESETS[preset])
    flows = [dis.calc(a, b, None) for a, b in zip(grays, grays[1:], strict=False)]
    if not flows:
        h, w = grays[0].shape
        return np.zeros((0, 2, h, w), np.float32)
    return np.stack(flows).transpose(0, 3, 1, 2).astype(np.float32)


def downsample_flow(flow: np.ndarray, size: int) -> np.ndarray:
    """Area-average a (T, 2, h, w) flow to a longer side of `size`; vectors rescaled with it."""
    if len(flow) == 0:
        return flow.astype(np.float16)
    h, w = flow.shape[2:]
    scale = size / max(h, w)
    shape = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.stack(
        [cv2.resize(f.transpose(1, 2, 0), shape, interpolation=cv2.INTER_AREA) for f in flow]
    )
    return (small.transpose(0, 3, 1, 2) * scale).astype(np.float16)


@dataclass(frozen=True)
class MotionStats:
    """How much things move, in pixels per frame at the analysis size."""

    mean: float
    p95: float
    variation: float  # std / mean of per-pair mean magnitude: steady vs jerky motion


def motion_stats(flow: np.ndarray) -> MotionStats:
    """Summaries of the flow magnitude over the whole clip."""
    if len(flow) == 0:
        return MotionStats(0.0, 0.0, 0.0)
    magnitude = np.hypot(flow[:, 0], flow[:, 1])
    per_pair = magnitude.reshape(len(flow), -1).mean(axis=1)
    mean = float(per_pair.mean())
    return MotionStats(
        mean=mean,
        p95=float(np.percentile(magnitude, 95)),
        variation=float(per_pair.std() / (mean + 1e-3)),
    )
