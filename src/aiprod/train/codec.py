"""The trained VAE as the rest of the pipeline uses it: videos <-> unit-scale latents.

`train_vae` writes `model.pt` (EMA weights, config, per-channel latent statistics); every
later model file names it by its path relative to itself and by its sha256, so a folder of
models copied elsewhere still finds (and checks) its VAE.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from aiprod.fsutil import sha256_file
from aiprod.nn.vae import VAEConfig, VideoVAE
from aiprod.train.checkpoint import load_payload

MODEL_FILE = "model.pt"


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

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def to(self, device: torch.device | str) -> LatentCodec:
        self.vae.to(device)
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    @torch.no_grad()
    def encode(self, videos: torch.Tensor) -> torch.Tensor:
        """(N, 3, T, H, W) in [-1, 1] -> normalised latent means, on the codec's device."""
        return (self.vae.encode(videos.to(self.device))[0].float() - self.mean) / self.std

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> videos in [-1, 1], on the codec's device."""
        latents = latents.to(self.device).float() * self.std + self.mean
        return self.vae.decode(latents).float().clamp(-1, 1)

    def read_back(self, videos: torch.Tensor, batch: int = 32) -> torch.Tensor:
        """Videos encoded and decoded, `batch` at a time, returned on the CPU: what the VAE
        keeps of them (a generated video can show no more than this)."""
        parts = [
            self.decode(self.encode(videos[start : start + batch])).cpu()
            for start in range(0, len(videos), batch)
        ]
        return torch.cat(parts)


def load_codec(path: str | Path) -> LatentCodec:
    """The VAE written by `train_vae`; a clear error when it is missing."""
    payload = load_payload(path, "no trained VAE here (run `dvc repro train_vae`)")
    config = dict(payload["config"])
    config["channels"] = tuple(config["channels"])
    vae = VideoVAE(VAEConfig(**config))
    vae.load_state_dict(payload["state_dict"])
    return LatentCodec(vae, payload["latent_mean"], payload["latent_std"])


def vae_reference(vae_file: str | Path, model_file: str | Path) -> dict:
    """How a model file names its VAE: relative to the model file, and by content."""
    rel = os.path.relpath(Path(vae_file).resolve(), Path(model_file).resolve().parent)
    return {"vae": rel, "vae_sha256": sha256_file(vae_file)}


def resolve_vae(model_file: str | Path, payload: dict) -> Path:
    """The VAE a model file was trained with: beside it by the recorded relative path (then
    as given, for older files), checked against its recorded sha256."""
    recorded = str(payload.get("vae", ""))
    model_dir = Path(model_file).resolve().parent
    candidates = [model_dir / recorded, Path(recorded)] if recorded else []
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise FileNotFoundError(
            f"{model_file}: its VAE {recorded!r} is not at {model_dir / recorded} "
            "(copy the VAE's folder along with the model's, or pass --vae)"
        )
    expected = payload.get("vae_sha256")
    if expected and sha256_file(found) != expected:
        raise ValueError(
            f"{model_file}: the VAE at {found} is not the one it was trained with "
            f"(sha256 {expected[:12]}...); pass the right one with --vae"
        )
    return found
