"""Turn a stream of decoded frames and detected cuts into fixed-length clips, in one pass.

Frames are resampled to the target rate by timestamp (right for variable frame rates:
output frame k shows the source frame on screen at k / fps). Frames are held only until
no late cut report can still split them, then cut into clips of `max` seconds; a scene's
remainder becomes a clip when it lasts at least `min` seconds. Memory holds at most one
clip plus the detector's delay, however long the video.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass(frozen=True)
class FrameGeometry:
    """How a displayed frame becomes a target frame: scale to cover, then centre-crop."""

    cover: tuple[int, int]  # (w, h) that covers the target with the aspect ratio kept
    target: tuple[int, int]

    @classmethod
    def plan(cls, display: tuple[int, int], target: tuple[int, int]) -> FrameGeometry:
        width, height = display
        scale = max(target[0] / width, target[1] / height)
        cover = (max(target[0], round(width * scale)), max(target[1], round(height * scale)))
        return cls(cover=cover, target=target)

    def to_target(self, image: np.ndarray) -> np.ndarray:
        """Cover-scale (if not yet) and centre-crop a displayed frame to the target size."""
        if (image.shape[1], image.shape[0]) != self.cover:
            image = cv2.resize(image, self.cover, interpolation=cv2.INTER_AREA)
        left = (self.cover[0] - self.target[0]) // 2
        top = (self.cover[1] - self.target[1]) // 2
        return image[top : top + self.target[1], left : left + self.target[0]]


@dataclass(frozen=True)
class Clip:
    """A finished clip: target-size frames and where they came from."""

    index: int  # order within the source
    start_time: float  # seconds from the source's first frame
    end_time: float
    start_frame: int  # source frame indices, end exclusive
    end_frame: int
    frames: list[np.ndarray] = field(repr=False)

    def clip_id(self, source_sha256: str) -> str:
        """Stable id from the source's content and the time range."""
        key = f"{source_sha256}:{self.start_time:.4f}:{self.end_time:.4f}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class _Pending:
    out_index: int
    source_index: int
    payload: object  # whatever `convert` turns into a target frame (a decoded frame)


class ClipAssembler:
    """Streaming resample + scene split + chunking. Feed frames and cuts; collect clips."""

    def __init__(
        self,
        fps: float,
        min_seconds: float,
        max_seconds: float,
        trim_frames: int,
        cut_delay: int,
        convert: Callable[[object], np.ndarray],
    ) -> None:
        self.fps = fps
        self.max_frames = max(1, int(round(max_seconds * fps)))
        self.min_frames = max(1, math.ceil(min_seconds * fps - 1e-6))
        self.trim = trim_frames
        self.margin = cut_delay + trim_frames + 2
        self.convert = convert
        self.cuts: list[int] = []
        self._previous: tuple[int, float, object] | None = None
        self._next_out = 0
        self._pending: deque[_Pending] = deque()
        self._current: list[_Pending] = []
        self._scene = 0
        self._clips = 0
        self.last_interval = 0.0

    def add_cuts(self, cuts: list[int]) -> None:
        for cut in cuts:
            if cut not in self.cuts:
                bisect.insort(self.cuts, cut)

    def feed(self, index: int, time: float, image: object) -> Iterator[Clip]:
        """One decoded source frame in display order; yields the clips now complete."""
        if self._previous is not None:
            self.last_interval = time - self._previous[1]
            self._emit_until(time)
        self._previous = (index, time, image)
        yield from self._settle(index - self.margin)

    def finish(self) -> Iterator[Clip]:
        """End of the source: flush everything, the last frame shown for its interval."""
        if self._previous is not None:
            self._emit_until(self._previous[1] + max(self.last_interval, 1e-6))
        yield from self._settle(math.inf)
        yield from self._flush_scene()

    def _emit_until(self, time: float) -> None:
        """Queue the output frames due before `time`: they show the previous source frame."""
        source_index, _, image = self._previous
        while self._next_out / self.fps < time - 1e-9:
            self._pending.append(_Pending(self._next_out, source_index, image))
            self._next_out += 1

    def _settle(self, settled_below: float) -> Iterator[Clip]:
        while self._pending and self._pending[0].source_index < settled_below:
            frame = self._pending.popleft()
            if self._near_cut(frame.source_index):
                continue
            scene = bisect.bisect_right(self.cuts, frame.source_index)
            if scene != self._scene:
                yield from self._flush_scene()
                self._scene = scene
            if self._current and frame.out_index != self._current[-1].out_index + 1:
                yield from self._flush_scene()  # a gap (trimmed frames) ends the clip
            self._current.append(frame)
            if len(self._current) == self.max_frames:
                yield self._make_clip(self._current)
                self._current = []

    def _near_cut(self, source_index: int) -> bool:
        """Within `trim` frames of a cut: c - trim <= index < c + trim."""
        position = bisect.bisect_right(self.cuts, source_index + self.trim)
        return position > 0 and self.cuts[position - 1] > source_index - self.trim

    def _flush_scene(self) -> Iterator[Clip]:
        if len(self._current) >= self.min_frames:
            yield self._make_clip(self._current)
        self._current = []

    def _make_clip(self, frames: list[_Pending]) -> Clip:
        first, last = frames[0], frames[-1]
        images: list[np.ndarray] = []
        previous: object = None
        for frame in frames:  # a repeated source frame (rate up-sampling) is converted once
            same = bool(images) and frame.payload is previous
            images.append(images[-1] if same else self.convert(frame.payload))
            previous = frame.payload
        clip = Clip(
            index=self._clips,
            start_time=first.out_index / self.fps,
            end_time=(last.out_index + 1) / self.fps,
            start_frame=first.source_index,
            end_frame=last.source_index + 1,
            frames=images,
        )
        self._clips += 1
        return clip
