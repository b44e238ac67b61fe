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


def resize_longer(gray: np.ndarray, size: int) -> np.ndarray:
    """Area-average a grey frame so its longer side is `size`."""
    height, width = gray.shape
    scale = size / max(height, width)
    if scale == 1:
        return gray
    shape = (max(8, round(width * scale)), max(8, round(height * scale)))
    return cv2.resize(gray, shape, interpolation=cv2.INTER_AREA)


def pair_starts(frames: int, stride: int) -> list[int]:
    """First frames of the consecutive pairs sampled through a clip, every `stride` frames."""
    return list(range(0, max(frames - 1, 0), stride))


def clip_flow(luma: np.ndarray, size: int, preset: str = "medium", stride: int = 1) -> np.ndarray:
    """Flow of the pairs (k, k+1), k = 0, stride, ...: (P, 2, h, w) float32 px/frame at `size`."""
    dis = cv2.DISOpticalFlow_create(PRESETS[preset])
    starts = pair_starts(len(luma), stride)
    flows = [
        dis.calc(resize_longer(luma[k], size), resize_longer(luma[k + 1], size), None)
        for k in starts
    ]
    if not flows:
        h, w = resize_longer(luma[0], size).shape
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
