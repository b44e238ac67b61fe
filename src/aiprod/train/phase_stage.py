"""One curriculum phase of text-to-video training, and the hard-example mining after it.

Phase K starts from phase K-1's weights and reads phase K's shards plus the hard examples
mined from phase K-1 (`<mine.out_dir>/phase{K-1}/carry`); with `replay` also phases 1..K-1's
shards (a growing pool: each phase trains for 50-100 epochs of its own clips, and without
the earlier ones the model forgets them). With `curriculum.enabled: false`
every phase reads all five phases' shards instead: the same steps, no ordering (the ablation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from aiprod.config import AiprodConfig
from aiprod.fsutil import fingerprint
from aiprod.nn.presets import preset
from aiprod.train.data import NoClips, VideoBank, join_banks, load_bank, shard_urls
from aiprod.train.loop import phase_loop, train
from aiprod.train.t2v import (
    ModelSpec,
    PhaseData,
    build_model,
    flow_pairs,
    load_model,
    mine_losses,
    phase_loss,
    save_model,
)
from aiprod.train.vae_stage import MODEL_FILE, LatentCodec, load_codec

PHASES = (1, 2, 3, 4, 5)


def model_spec(config: AiprodConfig) -> ModelSpec:
    m = config.model
    return ModelSpec(m.preset, m.text_encoder, m.text_encoder_path, m.conv)


def phase_dir(config: AiprodConfig, phase: int) -> Path:
    return Path(config.train.out_dir) / f"phase{phase}"


def carry_dir(config: AiprodConfig, phase: int) -> Path:
    """Where mining after `phase` writes the shards carried into phase + 1."""
    return Path(config.mine.out_dir) / f"phase{phase}" / "carry"


def carried_urls(config: AiprodConfig, phase: int) -> list[str]:
    """The hard examples mined after phase K-1, as shards (none without the curriculum)."""
    if phase == 1 or not config.curriculum.enabled:
        return []
    return [str(p) for p in sorted(carry_dir(config, phase - 1).glob("shard-*.tar"))]


def own_urls(config: AiprodConfig, phase: int) -> list[str]:
    """Phase K's shards (with replay also phases 1..K-1's; all phases without curriculum)."""
    shard_dir = Path(config.shards.dir)
    if not config.curriculum.enabled:
        return shard_urls(shard_dir, list(PHASES))
    replay = config.train.phase(phase).replay
    return shard_urls(shard_dir, list(range(1, phase + 1)) if replay else [phase])


def mined_urls(config: AiprodConfig, phase: int) -> list[str]:
    """What mining after phase K ranks: phase K's own shards, not the replayed earlier phases
    nor the clips carried in (all phases without curriculum)."""
    shard_dir = Path(config.shards.dir)
    return shard_urls(shard_dir, [phase] if config.curriculum.enabled else list(PHASES))


def phase_urls(config: AiprodConfig, phase: int) -> list[str]:
    """Every shard phase K trains on (see the module docstring)."""
    return own_urls(config, phase) + carried_urls(config, phase)


def shard_bank(
    config: AiprodConfig, phase: int, urls: list[str], holdout: bool, windows: int
) -> VideoBank:
    """The windows of some shards, as phase K's settings cut them."""
    cfg = config.train.phase(phase)
    return load_bank(
        urls,
        cfg.frames,
        cfg.size,
        config.shards.holdout_share,
        holdout,
        config.train.seed + phase,
        windows,
        frame_step=cfg.frame_step,
    )


def phase_bank(config: AiprodConfig, phase: int, holdout: bool) -> VideoBank:
    """Phase K's training windows, or every phase's held-out ones.

    The carried hard examples are loaded apart and appended, so a clip that is also in the
    phase's own shards (always, with replay) is seen twice as often."""
    if holdout:
        return shard_bank(config, phase, shard_urls(Path(config.shards.dir), list(PHASES)), True, 1)
    banks, error = [], None
    for urls in (own_urls(config, phase), carried_urls(config, phase)):
        if not urls:
            continue
        try:
            banks.append(shard_bank(config, phase, urls, False, config.train.windows))
        except NoClips as empty:
            error = error or empty
    if not banks:
        raise error or NoClips(f"phase {phase}: no shards under {config.shards.dir}")
    return banks[0] if len(banks) == 1 else join_banks(*banks)


def phase_data(
    config: AiprodConfig,
    phase: int,
    codec: LatentCodec,
    holdout: bool,
    urls: list[str] | None = None,
) -> PhaseData:
    """Phase K's windows as latents (`phase_bank`), or the training windows of `urls`."""
    if urls is None:
        bank = phase_bank(config, phase, holdout)
    else:
        bank = shard_bank(config, phase, urls, holdout, config.train.windows)
    pairs = flow_pairs(config.train.phase(phase).frames, codec.temporal_factor)
    return PhaseData(bank, codec.encode(bank.videos), pairs, config.train.seed + phase)


def carry_forward(config: AiprodConfig, phase: int, reason: str) -> dict:
    """A phase with no training clips (a tiny corpus) passes the previous model on unchanged."""
    model, payload = load_model(phase_dir(config, phase - 1) / MODEL_FILE)
    info = {k: v for k, v in payload.items() if k not in ("spec", "state_dict")}
    save_model(
        phase_dir(config, phase) / MODEL_FILE,
        model,
        ModelSpec(**payload["spec"]),
        **{**info, "phase": phase},
    )
    return {"phase": phase, "steps": 0, "skipped": reason}


def train_phase_stage(
    config: AiprodConfig,
    phase: int,
    log_metric: Callable[[str, float, int], None] | None = None,
) -> dict:
    """Train phase K (resuming if its checkpoint exists); save EMA weights and metrics."""
    cfg = config.train.phase(phase)
    codec = load_codec(Path(config.train_vae.out_dir) / MODEL_FILE)
    held_out = phase_data(config, phase, codec, holdout=True)
    try:
        data = phase_data(config, phase, codec, holdout=False)
    except NoClips as error:
        if phase == 1:
            raise
        return carry_forward(config, phase, str(error))
    spec = model_spec(config)
    torch.manual_seed(config.train.seed + phase)
    if phase == 1:
        model = build_model(spec)
    else:
        model, _ = load_model(phase_dir(config, phase - 1) / MODEL_FILE)
        model.train()
    model.embed_ahead([data.bank, held_out.bank])
    vae_file = Path(config.train_vae.out_dir) / MODEL_FILE
    start_file = [phase_dir(config, phase - 1) / MODEL_FILE] if phase > 1 else []
    settings = {
        "phase": cfg.model_dump(),
        "model": config.model.model_dump(),
        "architecture": repr(preset(config.model.preset)),  # a preset edited in code
        "windows": config.train.windows,
        "curriculum": config.curriculum.enabled,
        "seed": config.train.seed,
    }
    loop = phase_loop(
        cfg,
        config.train.seed + phase,
        config.train.checkpoint_every,
        fingerprint(settings, [vae_file, *start_file, *phase_urls(config, phase)]),
    )
    out_dir = phase_dir(config, phase)
    started = time.perf_counter()
    state, ema, losses = train(
        model,
        phase_loss(cfg.text_dropout, cfg.flow_dropout, cfg.timestep_mean),
        data,
        loop,
        out_dir,
        log_metric,
    )
    seconds = time.perf_counter() - started
    averaged = ema.shadow.cpu()
    val = mine_losses(averaged, held_out, seeds=2)
    save_model(
        out_dir / MODEL_FILE,
        averaged,
        spec,
        phase=phase,
        frames=cfg.frames,
        size=cfg.size,
        frame_step=cfg.frame_step,
        latent_shape=list(data.latents.shape[1:]),
        flow_shape=list(data.bank.flows[0].shape[1:]),
        vae=str(Path(config.train_vae.out_dir) / MODEL_FILE),
    )
    return {
        "phase": phase,
        "curriculum": config.curriculum.enabled,
        "steps": state.step,
        "train_windows": len(data.bank),
        "held_out_windows": len(held_out.bank),
        "final_loss": round(float(sum(losses[-20:]) / max(1, len(losses[-20:]))), 5)
        if losses
        else state.last_loss,
        "val_loss": round(float(val.mean()), 5),
        "steps_this_run": len(losses),  # 0: a finished checkpoint was found and reused
        "seconds_this_run": round(seconds, 1),
        "samples_per_s": round(len(losses) * cfg.batch_size / seconds, 2) if losses else None,
    }
