"""Params sections of the curation stages: synth, ingest, score, caption, curriculum, shards."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from aiprod.config.base import _above, _Parallel, _required_when, _Section


class SecondsRange(_Section):
    """A closed interval of seconds; `max` must exceed `min`."""

    min: float = Field(gt=0, description="shortest allowed, seconds")
    max: float = Field(gt=0, description="longest allowed, seconds")

    _max_above_min = field_validator("max")(_above("min"))


class SynthConfig(_Section):
    """The shapes world: a procedurally rendered demo corpus with ground truth."""

    enabled: bool = Field(
        default=True,
        description="false: render nothing (a corpus of your own footage); out_dir is emptied",
    )
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
    level_weights: tuple[int, int, int, int] = Field(
        default=(1, 1, 1, 1),
        description="videos of difficulty levels 1-4 in each cycle of their sum (2,1,1,1: twice "
        "as many level-1 videos as of any other level)",
    )

    @field_validator("level_weights")
    @classmethod
    def _some_level(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if min(value) < 0 or sum(value) == 0:
            raise ValueError("must be four counts >= 0, not all 0")
        return value

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


class IngestConfig(_Parallel):
    """Probe, check, cut and normalise sources into fixed-length clips."""

    sources: Annotated[list[str], Field(min_length=1)] = Field(
        description="folders, globs or fsspec URLs (s3://, gs://, http://, memory://)"
    )
    extensions: Annotated[list[str], Field(min_length=1)]
    listing: str = Field(
        default="datasets/manifest/sources.json",
        min_length=1,
        description="every source file with its size and hash (the sources stage writes it)",
    )
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

    @field_validator("extensions")
    @classmethod
    def _dotless_lowercase(cls, value: list[str]) -> list[str]:
        return [ext.lower().lstrip(".") for ext in value]


class FlowConfig(_Section):
    """Optical flow settings (OpenCV DIS)."""

    size: int = Field(ge=16, le=1024, description="frames scaled to this longer side")
    preset: Literal["ultrafast", "fast", "medium"]
    stride: int = Field(ge=1, le=64, description="flow of pairs (k, k+1) every `stride` frames")
    save_size: int = Field(ge=4, le=256, description="longer side of the flow saved per clip")


class CameraConfig(_Section):
    """Global-motion thresholds, per frame, in pixels at the flow size."""

    still_px: float = Field(gt=0, description="below this translation the camera is static")
    zoom_rate: float = Field(gt=0, description="scale change per frame that counts as a zoom")
    min_inliers: float = Field(ge=0, le=1, description="below this agreement: complex")


class ThresholdConfig(_Section):
    """Keep/reject rules; a clip failing any is rejected with every reason listed."""

    min_sharpness: float = Field(ge=0)
    min_luma: float = Field(ge=0, le=255)
    max_luma: float = Field(ge=0, le=255)
    max_clipped: float = Field(ge=0, le=1, description="largest share of crushed or blown pixels")
    max_motion: float = Field(gt=0, description="p95 flow magnitude above this: too shaky")
    reject_duplicates: bool
    min_aesthetic: float | None = None


class ClipScoreConfig(_Section):
    """Optional open_clip scores; weights only from local paths (no download)."""

    enabled: bool
    model_dir: str = ""
    aesthetic_head: str = ""
    frames: int = Field(ge=1, le=16)

    _dir_when_enabled = field_validator("model_dir")(
        _required_when("enabled", True, "a local open_clip folder")
    )


class ScoreConfig(_Parallel):
    """Per-clip motion, camera, quality and duplicate scores, and keep/reject."""

    output: str = Field(min_length=1)
    flow_dir: str = Field(min_length=1)
    metrics: str = Field(min_length=1)
    flow: FlowConfig
    camera: CameraConfig
    duplicate_bits: int = Field(ge=0, le=32, description="pHash distance counted as a duplicate")
    thresholds: ThresholdConfig
    clip: ClipScoreConfig


class VlmConfig(_Section):
    """A local vision-language captioner loaded with transformers."""

    model_dir: str = ""
    frames: int = Field(ge=1, le=16)
    max_new_tokens: int = Field(ge=1, le=512)
    language: str = Field(min_length=2, max_length=8)
    prompt: str = Field(
        default="",
        description="an instruction for a chat VLM (Qwen2-VL, LLaVA) shown all the frames; "
        "empty: a plain captioner (BLIP) captions each frame and the middle one's is kept",
    )
    batch_size: int = Field(default=4, ge=1, le=256, description="clips per generate call")


class TagConfig(_Section):
    """When measured scores earn a vocabulary tag (speeds in pixels per frame at flow size)."""

    slow_px: float = Field(gt=0)
    fast_px: float = Field(gt=0)
    fade: float = Field(gt=0, description="smoothed luma range / mean above this: a fade")
    flicker: float = Field(gt=0, description="frame-to-frame luma jitter / mean above this")
    low_luma: float = Field(ge=0, le=255, description="mean luma below this: low light")
    high_luma: float = Field(
        default=200, ge=0, le=255, description="mean luma above this: brightly lit"
    )
    soft_sharpness: float = Field(
        default=15, ge=0, description="variance of the Laplacian below this: soft focus"
    )
    busy_edges: float = Field(default=0.15, ge=0, le=1, description="edge density above: busy")
    minimal_edges: float = Field(
        default=0.002, ge=0, le=1, description="edge density below this: a minimalist frame"
    )

    _fast_above_slow = field_validator("fast_px")(_above("slow_px"))


class CaptionConfig(_Parallel):
    """Caption backends, tried in order per language, and motion tags."""

    output: str = Field(min_length=1)
    backends: Annotated[list[Literal["sidecar", "mapping", "vlm"]], Field(min_length=1)]
    default_language: str = Field(min_length=2, max_length=8, description="for plain .txt")
    mapping: str = ""
    vlm: VlmConfig
    tags: TagConfig
    uncaptioned: Literal["unconditional", "stop"] = Field(
        default="unconditional",
        description="clips with no caption in any language: trained with the null text "
        "(counted in a warning), or the stage stops, counting them",
    )

    @field_validator("vlm")
    @classmethod
    def _vlm_path(cls, value: VlmConfig, info: ValidationInfo) -> VlmConfig:
        if "vlm" in (info.data.get("backends") or []) and not value.model_dir:
            raise ValueError("model_dir must name a local model when 'vlm' is a backend")
        return value


class PhaseHours(_Section):
    """Hour budgets of the seed's plan, before `scale`."""

    phase1: float = Field(ge=0)
    phase2: float = Field(ge=0)
    phase3: float = Field(ge=0)
    phase4: float = Field(ge=0)
    phase5: float = Field(ge=0, description="best-quality subset across all phases")
    carry: float = Field(ge=0, description="hard examples carried into phases 2 and 3")


class DifficultyWeights(_Section):
    motion: float = Field(ge=0)
    motion_variation: float = Field(ge=0)
    camera: float = Field(ge=0)
    lighting: float = Field(ge=0)
    flicker: float = Field(ge=0)
    low_light: float = Field(ge=0)
    complexity: float = Field(ge=0)


class CurriculumConfig(_Section):
    """Difficulty and quality scores, and the five phases."""

    output: str = Field(min_length=1)
    metrics: str = Field(min_length=1)
    report: str = Field(min_length=1)
    weights: DifficultyWeights
    hours: PhaseHours
    scale: Literal["auto"] | float = Field(description="multiplies every budget; auto = fit")
    enabled: bool = Field(
        default=True, description="false: every phase trains on all clips shuffled (ablation)"
    )
    hard_examples: dict[int, str] = Field(default_factory=dict)

    @field_validator("scale")
    @classmethod
    def _positive(cls, value: str | float) -> str | float:
        if value != "auto" and value <= 0:
            raise ValueError("must be > 0 or 'auto'")
        return value

    @field_validator("hard_examples")
    @classmethod
    def _phases(cls, value: dict[int, str]) -> dict[int, str]:
        bad = sorted(set(value) - {2, 3, 4, 5})
        if bad:
            raise ValueError(f"phases {bad}: hard examples go into phases 2-5")
        return value


class ShardConfig(_Section):
    """Per-phase WebDataset shards."""

    dir: str = Field(min_length=1)
    max_count: int = Field(ge=1)
    max_bytes: int = Field(ge=1024)
    seed: int = Field(ge=0)
    holdout_share: float = Field(ge=0, lt=1, description="clips kept out of training, by id hash")
