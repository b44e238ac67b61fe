"""The one validated configuration: `params.yaml` read into pydantic models.

Every stage reads its own section. A bad file fails once, with every problem named by its
key path (e.g. ``ingest.clip_seconds.max: must be > min (2.0)``), so a curator can fix
`params.yaml` without reading code.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from aiprod.config.base import ConfigError, _Section
from aiprod.config.checks import cross_field_problems
from aiprod.config.curation import (
    CaptionConfig,
    ClipScoreConfig,
    CurriculumConfig,
    IngestConfig,
    SceneDetectConfig,
    ScoreConfig,
    ShardConfig,
    SynthConfig,
    TagConfig,
    ThresholdConfig,
)
from aiprod.config.engine import DaskConfig, EngineConfig
from aiprod.config.runtime import RuntimeConfig
from aiprod.config.serve import ServeConfig
from aiprod.config.training import (
    ClassifierConfig,
    EncodeConfig,
    EvaluateConfig,
    FinetuneConfig,
    MineConfig,
    ModelConfig,
    PhaseTrainConfig,
    ToleranceConfig,
    TrainConfig,
    TrainVAEConfig,
)

__all__ = [
    "AiprodConfig",
    "CaptionConfig",
    "ClassifierConfig",
    "ClipScoreConfig",
    "ConfigError",
    "CurriculumConfig",
    "DaskConfig",
    "EncodeConfig",
    "EngineConfig",
    "EvaluateConfig",
    "FinetuneConfig",
    "IngestConfig",
    "MineConfig",
    "ModelConfig",
    "PhaseTrainConfig",
    "RuntimeConfig",
    "SceneDetectConfig",
    "ScoreConfig",
    "ServeConfig",
    "ShardConfig",
    "SynthConfig",
    "TagConfig",
    "ThresholdConfig",
    "ToleranceConfig",
    "TrainConfig",
    "TrainVAEConfig",
    "load_config",
    "parse_config",
]

DEFAULT_PARAMS = Path("params.yaml")


class AiprodConfig(_Section):
    """All of `params.yaml`: one section per DVC stage."""

    synth: SynthConfig
    ingest: IngestConfig
    score: ScoreConfig
    caption: CaptionConfig
    curriculum: CurriculumConfig
    shards: ShardConfig
    runtime: RuntimeConfig = RuntimeConfig()
    engine: EngineConfig = EngineConfig()
    model: ModelConfig
    train_vae: TrainVAEConfig
    encode: EncodeConfig
    train: TrainConfig
    mine: MineConfig
    classifier: ClassifierConfig
    evaluate: EvaluateConfig
    finetune: FinetuneConfig
    serve: ServeConfig = ServeConfig()


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
        config = AiprodConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, source)) from None
    problems = cross_field_problems(config)
    if problems:
        lines = [f"{source}: {len(problems)} invalid key(s)", *(f"  {p}" for p in problems)]
        raise ConfigError("\n".join(lines))
    return config


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
