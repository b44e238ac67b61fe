"""The models a job may name (`serve.models`), and the shapes each one can generate.

The API checks a request's frames and size against the model before queueing it, so a bad
shape is a 422 naming the field, not a job that fails later. The rules are read once per
checkpoint file (path and mtime) by loading it on the CPU; the weights are not kept.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from aiprod.config.serve import ServeConfig
from aiprod.generate import VideoGenerator


@dataclass(frozen=True)
class ShapeRules:
    """What `VideoGenerator.latent_shape` accepts, without the model in memory."""

    frames: int  # defaults: what the model trained on
    size: int
    temporal_factor: int
    size_multiple: int  # spatial factor x patch
    max_latent_frames: int  # max_grid x patch
    max_size: int
    frame_patch: int
    frame_step: int  # source frames per generated frame (a motion reference is read at it)

    @classmethod
    def of(cls, generator: VideoGenerator) -> ShapeRules:
        cfg = generator.model.backbone.cfg
        sf = generator.codec.spatial_factor
        return cls(
            frames=generator.frames,
            size=generator.size,
            temporal_factor=generator.codec.temporal_factor,
            size_multiple=sf * cfg.patch[1],
            max_latent_frames=cfg.max_grid[0] * cfg.patch[0],
            max_size=min(cfg.max_grid[1] * cfg.patch[1], cfg.max_grid[2] * cfg.patch[2]) * sf,
            frame_patch=cfg.patch[0],
            frame_step=generator.frame_step,
        )

    def reference_frames(self, frames: int | None) -> int:
        """Frames a motion reference needs (`VideoGenerator.flow_from_video` reads every
        `frame_step`-th one)."""
        return ((frames or self.frames) - 1) * self.frame_step + 1

    def problems(self, frames: int | None, size: int | None) -> dict[str, str]:
        """{field: what is wrong} for a request's frames and size (None: the defaults)."""
        found: dict[str, str] = {}
        frames, size = frames or self.frames, size or self.size
        tf = self.temporal_factor
        latent = 1 + (frames - 1) // tf
        if (frames - 1) % tf or latent % self.frame_patch or latent > self.max_latent_frames:
            most = 1 + (self.max_latent_frames - 1) * tf
            found["frames"] = f"{frames}: must be 1 + k * {tf}, at most {most}, for this model"
        if size % self.size_multiple or size > self.max_size:
            found["size"] = (
                f"{size}: must be a multiple of {self.size_multiple}, at most {self.max_size}, "
                "for this model"
            )
        return found


class ModelCatalog:
    """Model names -> checkpoint paths (relative to `root`), and their shape rules."""

    def __init__(self, serve: ServeConfig, root: str | Path = ".") -> None:
        self.names = dict(serve.models)
        self.default = serve.default_model
        self.root = Path(root)
        self._rules: dict[tuple[str, float], ShapeRules] = {}
        self._lock = threading.Lock()

    def path(self, name: str | None) -> Path:
        return self.root / self.names[name or self.default]

    def rules(self, name: str | None) -> ShapeRules:
        """FileNotFoundError when the checkpoint is missing; ValueError when it is not one."""
        path = self.path(name)
        cache_key = (str(path), path.stat().st_mtime)
        with self._lock:
            if cache_key not in self._rules:
                self._rules[cache_key] = ShapeRules.of(VideoGenerator(path))
            return self._rules[cache_key]
