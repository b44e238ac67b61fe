"""Params sections of the model stages: model, train_vae, train, mine, classifier, evaluate,
finetune."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from aiprod.config.base import _required_when, _Section


class TrainVAEConfig(_Section):
    """VAE pre-training on the phase shards."""

    out_dir: str = Field(min_length=1)
    metrics: str = Field(min_length=1)
    phases: Annotated[list[Literal[1, 2, 3, 4, 5]], Field(min_length=1)]
    frames: int = Field(ge=1, description="frames per clip: 1 + k * the VAE's temporal factor")
    size: int = Field(ge=16, le=1024, description="square frame size the clips are resized to")
    steps: int = Field(ge=1)
    lr: float = Field(gt=0, le=1)
    warmup: int = Field(ge=0)
    batch_size: int = Field(ge=1)
    kl_weight: float = Field(ge=0)
    foreground_weight: float = Field(
        default=0.0,
        ge=0,
        description="reconstruction error weighted 1 + w x a pixel's distance from its "
        "frame's median colour: small objects keep their colour (0: a plain mean)",
    )
    temporal_weight: float = Field(
        default=0.0,
        ge=0,
        description="weight of the same error on frame-to-frame differences: motion "
        "survives the temporal compression (0: frames alone)",
    )
    ema: float = Field(ge=0, lt=1)
    checkpoint_every: int = Field(ge=1)
    seed: int = Field(ge=0)
    windows: int = Field(ge=1, description="consecutive frame windows taken from each clip")
    frame_step: int = Field(ge=1, le=8, description="every n-th source frame (lower frame rate)")
    shuffle_buffer: int = Field(
        default=1000,
        ge=1,
        description="windows shuffled together as the pixel shards stream (held in memory "
        "as uint8, per data stream)",
    )
    stats_windows: int = Field(
        default=1000, ge=1, description="training windows the latent statistics are taken from"
    )


class PhaseTrainConfig(_Section):
    """One curriculum phase of text-to-video training."""

    steps: int = Field(ge=1)
    lr: float = Field(gt=0, le=1)
    warmup: int = Field(ge=0)
    batch_size: int = Field(ge=1)
    size: int = Field(ge=16, le=1024, description="square frame size (progressive resolution)")
    frames: int = Field(ge=1, description="1 + k * the VAE's temporal factor")
    frame_step: int = Field(ge=1, le=8, description="every n-th source frame (lower frame rate)")
    text_dropout: float = Field(ge=0, le=1, description="share of captions replaced by null text")
    flow_dropout: float = Field(ge=0, le=1, description="share of samples trained without flow")
    tag_dropout: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="share of samples whose caption goes without the clip's motion/camera "
        "tags (in the caption's language)",
    )
    ema: float = Field(ge=0, lt=1)
    timestep_mean: float = Field(
        default=0.0,
        ge=-3,
        le=3,
        description="location of the logit-normal training timesteps (SD3): > 0 trains more "
        "on noisy inputs, where layout and motion are decided",
    )
    replay: bool = Field(
        default=False,
        description="also read the earlier phases' shards: a growing pool, against forgetting",
    )
    motion_weight: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="extra loss weight on the latent cells that move (by the window's flow, "
        "relative to its fastest cell): 0 = plain MSE; a small moving subject otherwise "
        "counts for a few cells of the loss",
    )
    temporal_weight: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="weight of the velocity error's frame-to-frame change, added to the loss: "
        "errors that differ between latent frames (wrong or wandering motion) cost more "
        "than errors the frames share (0: the plain loss)",
    )


class TrainConfig(_Section):
    """Rectified-flow training of text encoder + backbone, one DVC stage per phase."""

    out_dir: str = Field(min_length=1, description="models/phaseK/ per phase")
    metrics: str = Field(min_length=1, description="reports/train_phaseK.json per phase")
    windows: int = Field(ge=1, description="consecutive frame windows taken from each clip")
    checkpoint_every: int = Field(ge=1)
    seed: int = Field(ge=0)
    shuffle_buffer: int = Field(
        default=2000, ge=1, description="latent windows shuffled together, per data stream"
    )
    phase1: PhaseTrainConfig
    phase2: PhaseTrainConfig
    phase3: PhaseTrainConfig
    phase4: PhaseTrainConfig
    phase5: PhaseTrainConfig

    def phase(self, k: int) -> PhaseTrainConfig:
        return getattr(self, f"phase{k}")


class EncodeConfig(_Section):
    """The `encode` stage: every training window through the trained VAE, into latent shards."""

    dir: str = Field(min_length=1, description="phaseK/{train,heldout}/shard-*.tar + index")
    batch_size: int = Field(ge=1, le=4096, description="windows encoded at once")
    max_count: int = Field(ge=1, description="windows per latent shard at most")
    tagged_captions: bool = Field(
        default=True,
        description="also embed each caption with the caption stage's tags appended (what "
        "a phase with tag_dropout < 1 trains on); false: the plain captions only",
    )
    mirror: bool = Field(
        default=False,
        description="also encode every training window flipped left to right, its captions' "
        "left and right swapped (where the vocabulary can swap them)",
    )


class MineConfig(_Section):
    """Hard-example mining: per-clip loss on a fixed grid of noise seeds and timesteps."""

    out_dir: str = Field(min_length=1, description="phaseK/hard.parquet + carried shards")
    seeds: int = Field(ge=1, le=64)
    timesteps: Annotated[list[Annotated[float, Field(gt=0, lt=1)]], Field(min_length=1)]
    hours: float | None = Field(
        default=None, ge=0, description="carry budget; null = curriculum.hours.carry x scale"
    )


class ClassifierConfig(_Section):
    """The shapes-world video classifier: FVD features and prompt read-back."""

    out_dir: str = Field(min_length=1)
    metrics: str = Field(min_length=1)
    size: int = Field(ge=16, le=256)
    frames: int = Field(ge=2)
    train_frames: int = Field(
        ge=1, description="each training clip is a random run of this many of its frames"
    )
    frame_step: int = Field(ge=1, le=8)
    rendered: int = Field(ge=0, description="freshly rendered shapes-world clips to train on")
    width: int = Field(ge=8, le=256, description="channels of the first convolution")
    steps: int = Field(ge=1)
    lr: float = Field(gt=0, le=1)
    batch_size: int = Field(ge=1)
    seed: int = Field(ge=0)

    @field_validator("train_frames")
    @classmethod
    def _within_frames(cls, value: int, info: ValidationInfo) -> int:
        frames = info.data.get("frames")
        if frames is not None and value > frames:
            raise ValueError(f"must be <= frames ({frames})")
        return value


class ToleranceConfig(_Section):
    epe_px: float = Field(gt=0, description="end-point error, pixels per frame at the video size")
    relative_epe: float = Field(
        default=0.3, ge=0, le=1, description="on moving pixels: or this share of the guide's speed"
    )
    angle_deg: float = Field(gt=0, le=180)
    min_motion_px: float = Field(ge=0, description="slower guide pixels count by EPE alone")


class EvaluateConfig(_Section):
    """FVD, flow agreement, prompt adherence per language, VAE metrics, gallery."""

    metrics: str = Field(min_length=1)
    plots_dir: str = Field(min_length=1)
    gallery: str = Field(min_length=1)
    media_dir: str = Field(min_length=1, description="the gallery's mp4 files")
    checkpoint: str = Field(min_length=1, description="the text-to-video model evaluated")
    steps: int = Field(ge=1, le=1000, description="sampler steps")
    cfg: float = Field(ge=0, le=30, description="classifier-free guidance scale")
    seed: int = Field(ge=0)
    prompts_per_language: int = Field(ge=1)
    languages: Annotated[list[str], Field(min_length=1)]
    zero_shot_languages: list[Literal["ko", "nl", "tr"]] = Field(
        default=[],
        description="evaluation-only prompt languages no caption uses (adherence reported apart)",
    )
    guidance_strengths: Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(min_length=1)]
    flow_videos: int = Field(ge=1, description="held-out clips whose flow guides generation")
    fvd_videos: int = Field(
        default=2048, ge=2, description="held-out (and as many generated) videos FVD compares"
    )
    sweep_steps: list[Annotated[int, Field(ge=1, le=1000)]] = Field(
        default=[],
        description="sampler step counts at which FVD and adherence are measured without "
        "and with flow guidance (empty: no sweep)",
    )
    sweep_prompts: int = Field(default=32, ge=1, description="English prompts per sweep point")
    tolerance: ToleranceConfig
    fvd_extractor: Literal["shapes", "i3d"]
    i3d_path: str = ""
    gallery_languages: Annotated[list[str], Field(min_length=1)]

    _path_for_i3d = field_validator("i3d_path")(
        _required_when("fvd_extractor", "i3d", "a local I3D TorchScript file")
    )


class BucketConfig(_Section):
    """One training resolution of the short path: clips go to the bucket nearest their
    aspect ratio (the longest one their length fills) and each batch is drawn from one."""

    width: int = Field(ge=8, le=4096)
    height: int = Field(ge=8, le=4096)
    frames: int = Field(ge=1, le=1024)


class LoraTrainConfig(_Section):
    """The optimisation of the adapters, per curriculum phase of `finetune.phases`."""

    steps: int = Field(ge=1, description="optimiser steps per phase")
    lr: float = Field(gt=0, le=1)
    warmup: int = Field(ge=0)
    batch_size: int = Field(ge=1, description="windows per micro-batch (one bucket each)")
    text_dropout: float = Field(ge=0, le=1, description="share of captions replaced by null text")
    flow_dropout: float = Field(ge=0, le=1, description="share of samples trained without flow")
    tag_dropout: float = Field(default=0.5, ge=0, le=1)
    ema: float = Field(ge=0, lt=1)
    timestep_mean: float = Field(default=0.0, ge=-3, le=3)
    motion_weight: float = Field(default=0.0, ge=0, le=100)
    temporal_weight: float = Field(default=0.0, ge=0, le=100)


class LoraValidationConfig(_Section):
    """Videos sampled for fixed prompts while the adapters train, logged beside the loss."""

    every: int = Field(
        default=0, ge=0, description="steps between validations (diffusers bases); 0 = at the end"
    )
    prompts: list[str] = Field(default_factory=list)
    steps: int = Field(default=8, ge=1, le=200)
    cfg: float = Field(default=3.0, ge=1, le=20)
    seed: int = Field(default=0, ge=0)


class FinetuneConfig(_Section):
    """The short path: LoRA adapters (peft) on a pretrained text-to-video model, trained on
    the curated phases' shards (`lora_precompute` + `finetune` stages)."""

    base: Literal["aiprod", "ltx-video", "wan", "ltx-2"] = "aiprod"
    base_path: str = Field(
        description="the weights adapted: base aiprod, a text-to-video model.pt; a diffusers "
        "base, its folder in diffusers layout. The one DVC dependency on the base, so a "
        "diffusers base never waits on AIPROD's own training",
    )
    hard_examples: str = Field(
        min_length=1,
        description="folder of mining tables (phaseK/hard.parquet): phase K also trains on "
        "the clips carried out of phase K - 1; a folder without them carries none",
    )
    latents_dir: str = Field(min_length=1, description="the base's precomputed latent shards")
    out_dir: str = Field(min_length=1)
    metrics: str = Field(default="reports/finetune.json", min_length=1)
    rank: int = Field(ge=1, le=256)
    alpha: float = Field(gt=0)
    dropout: float = Field(ge=0, lt=1)
    targets: Annotated[list[str], Field(min_length=1)]
    phases: Annotated[list[Literal[1, 2, 3, 4, 5]], Field(min_length=1)]
    buckets: Annotated[list[BucketConfig], Field(min_length=1)]
    frame_step: int = Field(default=1, ge=1, le=8, description="every n-th source frame")
    windows: int = Field(default=1, ge=1, description="windows cut from each clip")
    max_sequence_length: int = Field(default=128, ge=1, le=4096, description="text tokens")
    layerwise_fp8: bool = Field(
        default=False,
        description="store the frozen base weights in float8 and compute in the runtime's "
        "precision (diffusers' layerwise casting; CUDA only)",
    )
    optimizer: Literal["adamw", "adamw8bit"] = Field(
        default="adamw", description="adamw8bit: bitsandbytes' 8-bit AdamW (CUDA; optional)"
    )
    flow_guidance: bool = Field(
        default=True, description="train a zero-initialised flow encoder beside the adapters"
    )
    train: LoraTrainConfig
    validation: LoraValidationConfig = LoraValidationConfig()

    @field_validator("base_path")
    @classmethod
    def _names_the_weights(cls, path: str, info: ValidationInfo) -> str:
        if not path:
            base = info.data.get("base")
            what = "a text-to-video model.pt" if base == "aiprod" else "a local diffusers folder"
            raise ValueError(f"must name the weights to adapt: {what} when base: {base}")
        return path

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: object) -> object:
        if isinstance(data, dict) and "checkpoint" in data:
            raise ValueError(
                "finetune.checkpoint was renamed finetune.base_path (the model.pt to adapt)"
            )
        return data

    @field_validator("phases")
    @classmethod
    def _in_order(cls, phases: list[int]) -> list[int]:
        if phases != sorted(set(phases)):
            raise ValueError(f"must list phases once each, in order, got {phases}")
        return phases


class ModelConfig(_Section):
    """Which named model size to build (see aiprod.nn.presets)."""

    preset: Literal["tiny", "small", "consumer8g", "medium", "full"]
    text_encoder: Literal["bytes", "use", "hf"] = "bytes"
    text_encoder_path: str = ""
    conv: Literal["separable", "full", "cudnn"] = "separable"

    _path_for_hf = field_validator("text_encoder_path")(
        _required_when("text_encoder", "hf", "a local Hugging Face encoder folder")
    )
