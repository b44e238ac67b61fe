"""Hard-cut detection with PySceneDetect's detectors, fed frames one at a time."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode

from aiprod.config import SceneDetectConfig


class CutDetector:
    """Wraps a PySceneDetect detector; `feed` returns source frame indices where scenes start."""

    def __init__(self, cfg: SceneDetectConfig, fps: float) -> None:
        self.fps = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
        self.min_scene_frames = max(1, math.ceil(cfg.min_scene_seconds * float(self.fps)))
        if cfg.detector == "adaptive":
            self.detector = AdaptiveDetector(
                adaptive_threshold=cfg.threshold, min_scene_len=self.min_scene_frames
            )
            self.delay = self.min_scene_frames + 2 * 2  # window_width frames each side
        else:
            self.detector = ContentDetector(
                threshold=cfg.threshold, min_scene_len=self.min_scene_frames
            )
            self.delay = self.min_scene_frames  # the flash filter may hold a cut this long
        self.last_index = -1

    def feed(self, index: int, image: np.ndarray) -> list[int]:
        """Analyse source frame `index` (BGR); return cuts confirmed so far (may lag)."""
        self.last_index = index
        found = self.detector.process_frame(FrameTimecode(index, self.fps), image)
        return [tc.frame_num for tc in found if tc.frame_num > 0]

    def finish(self) -> list[int]:
        """Cuts still held back by the detector at the end of the video."""
        if self.last_index < 0:
            return []
        found = self.detector.post_process(FrameTimecode(self.last_index, self.fps))
        return [tc.frame_num for tc in found if tc.frame_num > 0]
