"""VAE pre-training on the phase shards, evaluated on held-out clips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aiprod.config import ModelConfig, ShardConfig, TrainVAEConfig
from aiprod.fsutil import atomic_write
from aiprod.nn.presets import preset
from aiprod.nn.vae import VideoVAE
from aiprod.train.data import VideoBank, load_bank, shard_urls
from aiprod.train.loop import LoopConfig, train
from aiprod.train.metrics import psnr, ssim

MODEL_FILE = "model.pt"


def evaluate_vae(vae: VideoVAE, bank: VideoBank, batch_size: int = 4) -> dict:
    """PSNR / SSIM of reconstructions (latent means) over a bank, and the compression ratio."""
    vae.eval()
    psnrs, ssims = [], []
    with torch.no_grad():
        for start in range(0, len(bank), batch_size):
            video = bank.videos[start : start + batch_size]
            recon = vae.decode(vae.encode(video)[0])
            psnrs.append(psnr(recon, video))
            ssims.append(ssim(recon, video))
    return {
        "psnr": round(float(np.mean(psnrs)), 3),
        "ssim": round(float(np.mean(ssims)), 4),
        "compression_ratio": vae.compression_ratio(),
        "clips": len(bank),
    }


def save_reconstructions(path: Path, vae: VideoVAE, bank: VideoBank, clips: int = 4) -> Path:
    """A PNG grid: for each clip, the original frames over the reconstructed ones."""
    with torch.no_grad():
        video = bank.videos[:clips]
        recon = vae.decode(vae.encode(video)[0])
    rows = []
    for original, rebuilt in zip(video, recon, strict=True):
        for clip in (original, rebuilt):  # (C, T, H, W) -> one row of frames
            frames = ((clip.clamp(-1, 1) + 1) * 127.5).byte().permute(1, 2, 3, 0).numpy()
            rows.append(np.concatenate(list(frames), axis=1))
    grid = np.concatenate(rows, axis=0)
    return atomic_write(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))


def train_vae_stage(
    cfg: TrainVAEConfig,
    model: ModelConfig,
    shards: ShardConfig,
    log_metric: Callable[[str, float, int], None] | None = None,
) -> dict:
    """Train (resuming if a checkpoint exists), save EMA weights and held-out metrics."""
    urls = shard_urls(Path(shards.dir), list(cfg.phases))
    vae_cfg = preset(model.preset).vae
    train_bank = load_bank(urls, cfg.frames, cfg.size, shards.holdout_share, False, cfg.seed)
    held_out = load_bank(urls, cfg.frames, cfg.size, shards.holdout_share, True, cfg.seed)
    torch.manual_seed(cfg.seed)
    vae = VideoVAE(vae_cfg)
    vae.check_length(cfg.frames)

    def batch_at(position: int, size: int) -> torch.Tensor:
        return train_bank.videos[train_bank.indices(position, size)]

    def loss_fn(net: VideoVAE, video: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return net(video, kl_weight=cfg.kl_weight, generator=generator).losses["loss"]

    loop = LoopConfig(
        steps=cfg.steps,
        lr=cfg.lr,
        warmup=cfg.warmup,
        batch_size=cfg.batch_size,
        ema_decay=cfg.ema,
        checkpoint_every=cfg.checkpoint_every,
        seed=cfg.seed,
    )
    out_dir = Path(cfg.out_dir)
    state, ema, _ = train(vae, loss_fn, batch_at, loop, out_dir, log_metric)
    metrics = {
        **evaluate_vae(ema.shadow, held_out),
        "steps": state.step,
        "train_clips": len(train_bank),
        "final_loss": state.last_loss,
    }
    payload = {"config": vae_cfg.__dict__, "state_dict": ema.shadow.state_dict()}
    atomic_write(out_dir / MODEL_FILE, lambda tmp: torch.save(payload, tmp))
    save_reconstructions(out_dir / "reconstructions.png", ema.shadow, held_out)
    return metrics
