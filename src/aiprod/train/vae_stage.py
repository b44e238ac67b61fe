"""VAE pre-training on the phase shards, evaluated on held-out clips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aiprod.config import ModelConfig, ShardConfig, TrainVAEConfig
from aiprod.fsutil import atomic_write, fingerprint
from aiprod.nn.presets import preset
from aiprod.nn.vae import VAEConfig, VideoVAE
from aiprod.train.checkpoint import load_payload
from aiprod.train.data import VideoBank, load_bank, shard_urls
from aiprod.train.loop import phase_loop, train
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


@torch.no_grad()
def latent_stats(vae: VideoVAE, videos: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the latents: the diffusion model trains on unit-scale ones."""
    vae.eval()
    latents = torch.cat([vae.encode(videos[i : i + 8])[0] for i in range(0, len(videos), 8)])
    flat = latents.transpose(0, 1).flatten(1)
    return flat.mean(1).tolist(), flat.std(1).clamp_min(1e-4).tolist()


class LatentCodec:
    """A frozen VAE with its latent statistics: videos <-> unit-scale latents."""

    def __init__(self, vae: VideoVAE, mean: list[float], std: list[float]) -> None:
        self.vae = vae.eval().requires_grad_(False)
        self.mean = torch.tensor(mean).view(1, -1, 1, 1, 1)
        self.std = torch.tensor(std).view(1, -1, 1, 1, 1)

    @property
    def temporal_factor(self) -> int:
        return self.vae.cfg.temporal_factor

    @property
    def spatial_factor(self) -> int:
        return self.vae.cfg.spatial_factor

    def to(self, device: torch.device | str) -> LatentCodec:
        self.vae.to(device)
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    @torch.no_grad()
    def encode(self, videos: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
        """(N, 3, T, H, W) in [-1, 1] -> normalised latent means, on the CPU."""
        device = self.mean.device
        parts = [
            ((self.vae.encode(videos[i : i + batch_size].to(device))[0] - self.mean) / self.std)
            for i in range(0, len(videos), batch_size)
        ]
        return torch.cat(parts).cpu()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> videos in [-1, 1]."""
        latents = latents.to(self.mean.device) * self.std + self.mean
        return self.vae.decode(latents).clamp(-1, 1)


def load_codec(path: str | Path) -> LatentCodec:
    """The VAE written by `train_vae`; a clear error when it is missing."""
    payload = load_payload(path, "no trained VAE here (run `dvc repro train_vae`)")
    config = dict(payload["config"])
    config["channels"] = tuple(config["channels"])
    vae = VideoVAE(VAEConfig(**config))
    vae.load_state_dict(payload["state_dict"])
    return LatentCodec(vae, payload["latent_mean"], payload["latent_std"])


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
    train_bank = load_bank(
        urls,
        cfg.frames,
        cfg.size,
        shards.holdout_share,
        False,
        cfg.seed,
        cfg.windows,
        frame_step=cfg.frame_step,
    )
    held_out = load_bank(
        urls, cfg.frames, cfg.size, shards.holdout_share, True, cfg.seed, frame_step=cfg.frame_step
    )
    torch.manual_seed(cfg.seed)
    vae = VideoVAE(vae_cfg)
    vae.check_length(cfg.frames)

    def batch_at(position: int, size: int) -> torch.Tensor:
        return train_bank.videos[train_bank.indices(position, size)]

    def loss_fn(net: VideoVAE, video: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return net(video, kl_weight=cfg.kl_weight, generator=generator).losses["loss"]

    loop = phase_loop(
        cfg,
        cfg.seed,
        cfg.checkpoint_every,
        # the preset's architecture too: a checkpoint of another shape is not resumed
        fingerprint({"vae": cfg.model_dump(), "architecture": vae_cfg.__dict__}, urls),
    )
    out_dir = Path(cfg.out_dir)
    state, ema, _ = train(vae, loss_fn, batch_at, loop, out_dir, log_metric)
    metrics = {
        **evaluate_vae(ema.shadow, held_out),
        "steps": state.step,
        "train_clips": len(train_bank),
        "final_loss": state.last_loss,
    }
    mean, std = latent_stats(ema.shadow, train_bank.videos)
    payload = {
        "config": vae_cfg.__dict__,
        "state_dict": ema.shadow.state_dict(),
        "latent_mean": mean,
        "latent_std": std,
    }
    atomic_write(out_dir / MODEL_FILE, lambda tmp: torch.save(payload, tmp))
    save_reconstructions(out_dir / "reconstructions.png", ema.shadow, held_out)
    return metrics
