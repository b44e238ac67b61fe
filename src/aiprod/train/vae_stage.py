"""VAE pre-training on pixel windows streamed from the phase shards, evaluated on held-out
clips. Nothing holds the corpus: training streams shuffled blocks, and the held-out metrics,
latent statistics and reconstructions are single passes over a bounded number of windows."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aiprod.config import AiprodConfig
from aiprod.fsutil import atomic_write, fingerprint, save_torch
from aiprod.nn.presets import preset
from aiprod.nn.seeding import seeded_normal
from aiprod.nn.vae import VideoVAE
from aiprod.runtime import Runtime
from aiprod.shards.stream import Item, ShardSpec, StreamBatches, listing, sequential
from aiprod.train.checkpoint import TrainState, resumable
from aiprod.train.codec import MODEL_FILE
from aiprod.train.data import NoClips, PixelWindow, WindowSpec, phase_dirs, pixel_shards
from aiprod.train.data import pixel_windows as cut_windows
from aiprod.train.loop import MetricsOpener, no_metrics, phase_loop, rank_split, train
from aiprod.train.metrics import psnr, ssim

EVAL_BATCH = 8


def window_spec(config: AiprodConfig, windows: int | None = None) -> WindowSpec:
    cfg = config.train_vae
    return WindowSpec(
        cfg.frames, cfg.size, windows or cfg.windows, cfg.frame_step, config.score.flow.stride
    )


def video_batches(shards: list[ShardSpec], spec: WindowSpec, size: int) -> Iterator[torch.Tensor]:
    """(B, 3, T, H, W) float batches of every window, in shard order."""
    windows = sequential(shards, lambda raw: cut_windows(raw, spec))
    while batch := list(islice(windows, size)):
        yield torch.stack([w.as_float() for w in batch])


@torch.no_grad()
def evaluate_vae(vae: VideoVAE, batches: Iterator[torch.Tensor], runtime: Runtime) -> dict:
    """PSNR / SSIM of reconstructions (latent means) over held-out windows, per window."""
    vae.eval()
    psnrs, ssims, count = [], [], 0
    for video in batches:
        video = runtime.to(video)
        with runtime.autocast():
            recon = vae.decode(vae.encode(video)[0]).float()
        psnrs.append(psnr(recon, video) * len(video))
        ssims.append(ssim(recon, video) * len(video))
        count += len(video)
    return {
        "psnr": round(float(np.sum(psnrs) / max(1, count)), 3),
        "ssim": round(float(np.sum(ssims) / max(1, count)), 4),
        "compression_ratio": vae.compression_ratio(),
        "clips": count,
    }


@torch.no_grad()
def latent_stats(
    vae: VideoVAE, batches: Iterator[torch.Tensor], runtime: Runtime
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the latents (float64 sums over a single pass): the
    diffusion model trains on unit-scale latents."""
    vae.eval()
    total, squares, n = 0.0, 0.0, 0
    for video in batches:
        with runtime.autocast():
            latents = vae.encode(runtime.to(video))[0]
        flat = latents.double().transpose(0, 1).flatten(1)
        total, squares, n = total + flat.sum(1), squares + flat.pow(2).sum(1), n + flat.shape[1]
    mean = total / n
    std = (squares / n - mean.pow(2)).clamp_min(0).sqrt() * (n / max(1, n - 1)) ** 0.5
    return mean.cpu().tolist(), std.clamp_min(1e-4).cpu().tolist()


def save_reconstructions(path: Path, vae: VideoVAE, video: torch.Tensor, runtime: Runtime) -> Path:
    """A PNG grid: for each clip, the original frames over the reconstructed ones."""
    with torch.no_grad(), runtime.autocast():
        recon = vae.decode(vae.encode(runtime.to(video))[0]).float().cpu()
    rows = []
    for original, rebuilt in zip(video, recon, strict=True):
        for clip in (original, rebuilt):  # (C, T, H, W) -> one row of frames
            frames = ((clip.clamp(-1, 1) + 1) * 127.5).byte().permute(1, 2, 3, 0).numpy()
            rows.append(np.concatenate(list(frames), axis=1))
    grid = np.concatenate(rows, axis=0)
    return atomic_write(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))


def vae_collate(items: list[Item]) -> tuple[torch.Tensor, torch.Tensor]:
    """(videos (B, 3, T, H, W) float in [-1, 1], ordinals (B,))."""
    videos = torch.stack([item.value.as_float() for item in items])
    return videos, torch.tensor([item.ordinal for item in items], dtype=torch.long)


def vae_loss(  # noqa: ANN201
    kl_weight: float, seed: int, foreground_weight: float = 0.0, temporal_weight: float = 0.0
):
    """The VAE's loss (a loss_fn factory) with each window's posterior noise drawn from its
    own ordinal."""

    def loss_fn(net: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        videos, ordinals = batch
        inner = net.module if hasattr(net, "module") else net
        noise = seeded_normal(ordinals, inner.latent_shape(videos.shape), seed)
        out = net(
            videos,
            kl_weight=kl_weight,
            noise=noise,
            foreground_weight=foreground_weight,
            temporal_weight=temporal_weight,
        )
        return out.losses["loss"]

    return loss_fn


def train_vae_stage(
    config: AiprodConfig, runtime: Runtime, metrics: MetricsOpener = no_metrics
) -> dict:
    """Train (resuming if this run's checkpoint exists), save EMA weights and held-out
    metrics (on rank 0; other ranks return {})."""
    cfg, share = config.train_vae, config.shards.holdout_share
    folders = phase_dirs(config.shards.dir, list(cfg.phases))
    spec, held_spec = window_spec(config), window_spec(config, windows=1)
    train_shards = pixel_shards(folders, spec, share, holdout=False)
    held_shards = pixel_shards(folders, held_spec, share, holdout=True)
    if not any(sum(s.counts) for s in train_shards):
        raise NoClips(f"train_vae: no training windows of {cfg.frames} frames in {folders}")
    vae_cfg = preset(config.model.preset).vae
    settings = {
        "vae": cfg.model_dump(),
        "architecture": vae_cfg.__dict__,  # a preset edited in code: not resumed
        "precision": runtime.cfg.precision,
        "grad_accumulation": runtime.cfg.grad_accumulation,
        "holdout_share": share,
        "flow_stride": config.score.flow.stride,
    }
    loop = phase_loop(
        cfg, cfg.seed, cfg.checkpoint_every, fingerprint([settings, listing(folders)], [])
    )
    out_dir = Path(cfg.out_dir)
    state = resumable(out_dir, loop.fingerprint)
    split = rank_split(runtime, state)

    def expand(raw: dict) -> list[PixelWindow]:
        return cut_windows(raw, spec)

    data = StreamBatches(
        train_shards, split, cfg.batch_size, cfg.seed, cfg.shuffle_buffer, expand, vae_collate
    )
    torch.manual_seed(cfg.seed)
    vae = VideoVAE(vae_cfg)
    with metrics(state is not None) as log_metric:
        result = train(
            vae,
            vae_loss(cfg.kl_weight, cfg.seed, cfg.foreground_weight, cfg.temporal_weight),
            data,
            loop,
            out_dir,
            runtime,
            log_metric,
            state=TrainState(data_streams=split.streams),
        )
    if not runtime.ranks.main:
        return {}
    averaged = result.averaged
    report = {
        **evaluate_vae(averaged, video_batches(held_shards, held_spec, EVAL_BATCH), runtime),
        "steps": result.state.step,
        "train_windows_per_epoch": data.items_per_epoch,
        "final_loss": result.state.last_loss,
        "samples_per_s": round(result.samples_per_s, 2) if result.samples_per_s else None,
        "peak_gpu_memory_gb": result.peak_gpu_memory_gb,
    }
    stats = islice(
        video_batches(train_shards, spec, EVAL_BATCH), -(-cfg.stats_windows // EVAL_BATCH)
    )
    mean, std = latent_stats(averaged, stats, runtime)
    payload = {
        "config": vae_cfg.__dict__,
        "state_dict": {k: v.cpu() for k, v in averaged.state_dict().items()},
        "latent_mean": mean,
        "latent_std": std,
    }
    save_torch(out_dir / MODEL_FILE, payload)
    first = next(video_batches(held_shards, held_spec, 4), None)
    if first is not None:
        save_reconstructions(out_dir / "reconstructions.png", averaged, first, runtime)
    return report
