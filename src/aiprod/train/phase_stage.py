"""One curriculum phase of text-to-video training, streamed from the latent shards.

Phase K starts from phase K-1's weights and reads phase K's latent shards plus the hard
examples mined from phase K-1 (`<mine.out_dir>/phase{K-1}/carry`, latent shards too); with
`replay` also phases 1..K-1's (a growing pool: each phase trains for many epochs of its own
clips, and without the earlier ones the model forgets them). With `curriculum.enabled: false`
every phase reads all five phases' latents instead: the same steps, no ordering (the
ablation). Validation is the fixed-grid loss on `latents/phaseK/heldout`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from aiprod.config import AiprodConfig
from aiprod.fsutil import fingerprint
from aiprod.latents.batches import expand_window, latent_shards, training_collate
from aiprod.nn.presets import preset
from aiprod.nn.rectified_flow import LossWeights
from aiprod.runtime import Runtime
from aiprod.shards.stream import StreamBatches, listing, sequential
from aiprod.train.checkpoint import TrainState, resumable
from aiprod.train.codec import MODEL_FILE, vae_reference
from aiprod.train.data import NoClips
from aiprod.train.loop import MetricsOpener, no_metrics, phase_loop, rank_split, train
from aiprod.train.t2v import (
    ModelSpec,
    TextToVideo,
    build_model,
    load_model,
    save_model,
    t2v_loss,
    window_losses,
)

PHASES = (1, 2, 3, 4, 5)
META_FILE = "meta.json"


def model_spec(config: AiprodConfig) -> ModelSpec:
    m = config.model
    return ModelSpec(m.preset, m.text_encoder, m.text_encoder_path, m.conv)


def phase_dir(config: AiprodConfig, phase: int) -> Path:
    return Path(config.train.out_dir) / f"phase{phase}"


def latent_dir(config: AiprodConfig, phase: int, split: str = "train") -> Path:
    """`<encode.dir>/phaseK/train` (phase K's training windows) or `.../heldout` (one
    window of every held-out clip of every phase, at phase K's settings)."""
    return Path(config.encode.dir) / f"phase{phase}" / split


def carry_dir(config: AiprodConfig, phase: int) -> Path:
    """Where mining after `phase` writes the latent shards carried into phase + 1."""
    return Path(config.mine.out_dir) / f"phase{phase}" / "carry"


def own_phases(config: AiprodConfig, phase: int) -> list[int]:
    """The phases whose latents phase K trains on (with replay 1..K; all without curriculum)."""
    if not config.curriculum.enabled:
        return list(PHASES)
    return list(range(1, phase + 1)) if config.train.phase(phase).replay else [phase]


def train_folders(config: AiprodConfig, phase: int) -> list[Path]:
    """Every latent folder phase K trains on: its pool, then the clips carried into it."""
    folders = [latent_dir(config, k) for k in own_phases(config, phase)]
    if phase > 1 and config.curriculum.enabled:
        folders.append(carry_dir(config, phase - 1))
    return folders


def mined_folders(config: AiprodConfig, phase: int) -> list[Path]:
    """What mining after phase K ranks: phase K's own latents, not the replayed phases nor
    the clips carried in (all phases without curriculum)."""
    phases = [phase] if config.curriculum.enabled else list(PHASES)
    return [latent_dir(config, k) for k in phases]


def read_meta(folder: Path) -> dict:
    path = folder.parent / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no latents here (run `dvc repro encode`)")
    return json.loads(path.read_text(encoding="utf-8"))


def carry_forward(config: AiprodConfig, phase: int, reason: str) -> dict:
    """A phase with no training windows (a tiny corpus) passes the previous model on."""
    model, payload = load_model(phase_dir(config, phase - 1) / MODEL_FILE)
    info = {k: v for k, v in payload.items() if k not in ("spec", "state_dict")}
    target = phase_dir(config, phase) / MODEL_FILE
    vae_file = Path(config.train_vae.out_dir) / MODEL_FILE
    info.update(vae_reference(vae_file, target), phase=phase)
    save_model(target, model, ModelSpec(**payload["spec"]), **info)
    return {"phase": phase, "steps": 0, "skipped": reason}


def held_out_loss(model: TextToVideo, config: AiprodConfig, phase: int, runtime: Runtime) -> dict:
    """The fixed-grid loss of phase K's model on the held-out latents (two noise seeds)."""
    held = latent_shards([latent_dir(config, phase, "heldout")])
    windows, losses = window_losses(
        runtime.to(model), sequential(held, expand_window), runtime, seeds=2
    )
    mean = round(float(losses.mean()), 5) if len(windows) else None
    return {"val_loss": mean, "held_out_windows": len(windows)}


def model_info(config: AiprodConfig, phase: int, meta: dict, target: Path) -> dict:
    """What a phase model file records beside its weights, so it loads from anywhere."""
    cfg = config.train.phase(phase)
    vae_file = Path(config.train_vae.out_dir) / MODEL_FILE
    reference = vae_reference(vae_file, target)
    if meta.get("vae_sha256") and meta["vae_sha256"] != reference["vae_sha256"]:
        raise ValueError(
            f"{config.encode.dir}/phase{phase}: latents of another VAE than {vae_file} "
            "(re-run `dvc repro encode`)"
        )
    return {
        "phase": phase,
        "frames": cfg.frames,
        "size": cfg.size,
        "frame_step": cfg.frame_step,
        "latent_shape": meta["latent_shape"],
        "flow_shape": meta["flow_shape"],
        "flow_stride": meta["flow_stride"],
        "flow_save_size": meta["flow_save_size"],
        **reference,
    }


def train_phase_stage(
    config: AiprodConfig, phase: int, runtime: Runtime, metrics: MetricsOpener = no_metrics
) -> dict:
    """Train phase K (resuming if its checkpoint exists); save EMA weights and metrics (on
    rank 0; other ranks return {})."""
    cfg = config.train.phase(phase)
    folders = train_folders(config, phase)
    shards = latent_shards(folders)
    if not any(sum(s.counts) for s in shards):
        reason = f"phase {phase}: no training windows in {[str(f) for f in folders]}"
        if phase == 1:
            raise NoClips(reason)
        return carry_forward(config, phase, reason) if runtime.ranks.main else {}
    spec = model_spec(config)
    start_file = [phase_dir(config, phase - 1) / MODEL_FILE] if phase > 1 else []
    settings = {
        "phase": cfg.model_dump(),
        "model": config.model.model_dump(),
        "architecture": repr(preset(config.model.preset)),  # a preset edited in code
        "curriculum": config.curriculum.enabled,
        "seed": config.train.seed,
        "shuffle_buffer": config.train.shuffle_buffer,
        "precision": runtime.cfg.precision,
        "grad_accumulation": runtime.cfg.grad_accumulation,
    }
    seed = config.train.seed + phase
    loop = phase_loop(
        cfg,
        seed,
        config.train.checkpoint_every,
        fingerprint([settings, listing(folders)], start_file),
    )
    out_dir = phase_dir(config, phase)
    state = resumable(out_dir, loop.fingerprint)
    ranks = runtime.ranks
    split = rank_split(runtime, state)
    collate = training_collate(seed, cfg.tag_dropout)
    data = StreamBatches(
        shards, split, cfg.batch_size, seed, config.train.shuffle_buffer, expand_window, collate
    )
    torch.manual_seed(seed)
    if phase == 1:
        model = build_model(spec)
    else:
        model, _ = load_model(start_file[0])
        model.train()
    with metrics(state is not None) as log_metric:
        result = train(
            model,
            t2v_loss(
                cfg.text_dropout,
                cfg.flow_dropout,
                cfg.timestep_mean,
                seed,
                LossWeights(cfg.motion_weight, cfg.temporal_weight),
            ),
            data,
            loop,
            out_dir,
            runtime,
            log_metric,
            state=TrainState(data_streams=split.streams),
        )
    if not ranks.main:
        return {}
    averaged = result.averaged
    target = out_dir / MODEL_FILE
    info = model_info(config, phase, read_meta(latent_dir(config, phase)), target)
    save_model(target, averaged, spec, **info)
    losses = result.losses
    return {
        "phase": phase,
        "curriculum": config.curriculum.enabled,
        "steps": result.state.step,
        "train_windows_per_epoch": data.items_per_epoch,
        "data_streams": split.streams,
        "world_size": ranks.world_size,
        "final_loss": round(sum(losses[-20:]) / len(losses[-20:]), 5)
        if losses
        else result.state.last_loss,
        **held_out_loss(averaged, config, phase, runtime),
        "steps_this_run": len(losses),  # 0: a finished checkpoint was found and reused
        "seconds_this_run": round(result.seconds, 1),
        "samples_per_s": round(result.samples_per_s, 2) if result.samples_per_s else None,
        "data_wait_share": round(result.data_wait_share, 4)
        if result.data_wait_share is not None
        else None,
        "peak_gpu_memory_gb": result.peak_gpu_memory_gb,
    }
