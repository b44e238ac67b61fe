"""The one validated configuration: `params.yaml` read into pydantic models.

Every stage reads its own section. A bad file fails once, with every problem named by its
key path (e.g. ``ingest.clip_seconds.max: must be > min (2.0)``), so a curator can fix
`params.yaml` without reading code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(ValueError):
    """A params file that cannot be used; the message names every offending key path."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecondsRange(_Section):
    """A closed interval of seconds; `max` must exceed `min`."""

    min: float = Field(gt=0, description="shortest allowed, seconds")
    max: float = Field(gt=0, description="longest allowed, seconds")

    @field_validator("max")
    @classmethod
    def _max_above_min(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("min")
        if low is not None and value <= low:
            raise ValueError(f"must be > min ({low})")
        return value


class SynthConfig(_Section):
    """The shapes world: a procedurally rendered demo corpus with ground truth."""

    seed: int = Field(ge=0, description="all randomness of the corpus follows from it")
    out_dir: str = Field(min_length=1, description="where the mp4 + json sidecars go")
    videos: int = Field(ge=1, le=100_000, description="single-scene videos")
    multi_scene_videos: int = Field(ge=0, le=10_000, description="videos joining scenes by cuts")
    scenes_per_multi: int = Field(ge=2, le=5, description="scenes in each multi-scene video")
    broken_files: bool = Field(description="add truncated / empty / non-video / audio-only files")
    size: int = Field(ge=32, le=1024, description="frame width and height, pixels")
    fps: int = Field(ge=4, le=60, description="frames per second")
    scene_seconds: SecondsRange
    crf: int = Field(ge=0, le=51, description="H.264 quality (lower is better)")

    @field_validator("size")
    @classmethod
    def _even_size(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even (H.264 with yuv420p)")
        return value


class SceneDetectConfig(_Section):
    """PySceneDetect settings for finding hard cuts."""

    detector: Literal["content", "adaptive"] = "content"
    threshold: float = Field(gt=0, description="content: score to cut; adaptive: ratio to cut")
    min_scene_seconds: float = Field(gt=0, description="no two cuts closer than this")
    analysis_width: int = Field(ge=32, le=1920, description="frames are scaled to this to detect")
    trim_frames: int = Field(ge=0, le=30, description="source frames dropped either side of a cut")


class TargetConfig(_Section):
    """The standard every clip is normalised to."""

    fps: float = Field(gt=0, le=120)
    width: int = Field(ge=16, le=4096)
    height: int = Field(ge=16, le=4096)

    @field_validator("width", "height")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even (H.264 with yuv420p)")
        return value


class EncodeConfig(_Section):
    """libx264 settings for the clips."""

    crf: int = Field(ge=0, le=51)
    preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower"
    ]


class IngestConfig(_Section):
    """Probe, check, cut and normalise sources into fixed-length clips."""

    sources: Annotated[list[str], Field(min_length=1)] = Field(
        description="folders, globs or fsspec URLs (s3://, gs://, http://, memory://)"
    )
    extensions: Annotated[list[str], Field(min_length=1)]
    clips_dir: str = Field(min_length=1)
    manifest: str = Field(min_length=1)
    quarantine: str = Field(min_length=1)
    clip_seconds: SecondsRange
    target: TargetConfig
    scenes: SceneDetectConfig
    encode: EncodeConfig
    min_decoded_share: float = Field(
        gt=0, le=1, description="a file whose decoded duration is below this share is truncated"
    )
    min_source_fps: float = Field(ge=0, description="sources below this frame rate are rejected")
    concurrency: int = Field(ge=0, le=256, description="files in parallel; 0 = CPU cores")

    @field_validator("extensions")
    @classmethod
    def _dotless_lowercase(cls, value: list[str]) -> list[str]:
        return [ext.lower().lstrip(".") for ext in value]

    def workers(self) -> int:
        """Files processed at once: the configured count, or the machine's cores."""
        return self.concurrency or os.cpu_count() or 1


class AiprodConfig(_Section):
    """All of `params.yaml`: one section per DVC stage."""

    synth: SynthConfig
    ingest: IngestConfig


def _format_errors(error: ValidationError, source: str) -> str:
    lines = [f"{source}: {error.error_count()} invalid key(s)"]
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "<root>"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling against params.yaml's comments)"
        lines.append(f"  {path}: {message}")
    return "\n".join(lines)


def parse_config(data: object, source: str = "params") -> AiprodConfig:
    """Validate an already-loaded mapping; raise ConfigError naming every bad key path."""
    try:
        return AiprodConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, source)) from None


def load_config(path: str | Path = DEFAULT_PARAMS) -> AiprodConfig:
    """Read and validate a params file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return parse_config(data, str(path))
