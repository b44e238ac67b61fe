"""The text-to-video model as trained: a text encoder and the hybrid backbone on VAE latents.

Captions are sampled across the stored languages (seeded by data position), so one model
learns every language; flow from the shards rides along for flow guidance.
"""

from __future__ import annotations

import random

import torch
from torch import nn

from aiprod.nn.backbone import BackboneConfig, HybridBackbone
from aiprod.nn.rectified_flow import Batch, per_sample_loss, training_loss
from aiprod.nn.text import ByteTextConfig, ByteTextEncoder
from aiprod.nn.vae import VideoVAE
from aiprod.train.data import VideoBank


class TextToVideo(nn.Module):
    """Text encoder + backbone, trained together (the VAE stays frozen outside)."""

    def __init__(self, text: ByteTextConfig, backbone: BackboneConfig) -> None:
        super().__init__()
        if text.width != backbone.text_width:
            raise ValueError(
                f"text width {text.width} != backbone text_width {backbone.text_width}"
            )
        self.text = ByteTextEncoder(text)
        self.backbone = HybridBackbone(backbone)

    def batch(self, latents: torch.Tensor, captions: list[str], flow: torch.Tensor | None) -> Batch:
        tokens, mask = self.text(captions)
        return Batch(latents, tokens, mask, flow)


def pick_caption(captions: dict[str, str], position: int, seed: int) -> str:
    """One caption of the clip, its language drawn by data position (every language in turn)."""
    if not captions:
        return ""
    languages = sorted(captions)
    return captions[random.Random(seed * 1_000_003 + position).choice(languages)]


@torch.no_grad()
def encode_latents(vae: VideoVAE, videos: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """Latent means (N, C, T', H', W') of a bank's videos with a frozen VAE."""
    vae.eval()
    return torch.cat(
        [vae.encode(videos[i : i + batch_size])[0] for i in range(0, len(videos), batch_size)]
    )


def flow_for(bank: VideoBank, index: int, pairs: int) -> torch.Tensor:
    """The first `pairs` stored flow fields of a clip: (2, pairs, h, w)."""
    flow = bank.flows[index][:pairs]
    return flow.permute(1, 0, 2, 3)


class PhaseData:
    """Batches of (latents, caption, flow) by data position, for `aiprod.train.loop.train`."""

    def __init__(self, bank: VideoBank, latents: torch.Tensor, flow_pairs: int, seed: int) -> None:
        self.bank, self.latents, self.flow_pairs, self.seed = bank, latents, flow_pairs, seed

    def __call__(self, position: int, size: int) -> tuple[torch.Tensor, list[str], torch.Tensor]:
        indices = self.bank.indices(position, size)
        captions = [
            pick_caption(self.bank.captions[i], position + k, self.seed)
            for k, i in enumerate(indices)
        ]
        flows = torch.stack([flow_for(self.bank, i, self.flow_pairs) for i in indices])
        return self.latents[indices], captions, flows


def phase_loss(text_dropout: float, flow_dropout: float):  # noqa: ANN201 (a loss_fn factory)
    """The loop's loss function for a (latents, captions, flow) batch."""

    def loss_fn(model: TextToVideo, batch: tuple, generator: torch.Generator) -> torch.Tensor:
        latents, captions, flow = batch
        return training_loss(
            model.backbone,
            model.batch(latents, captions, flow),
            generator,
            text_dropout,
            flow_dropout,
        )

    return loss_fn


@torch.no_grad()
def mine_losses(
    model: TextToVideo,
    data: PhaseData,
    seeds: int = 4,
    timesteps: tuple[float, ...] = (0.25, 0.5, 0.75),
) -> torch.Tensor:
    """Per-clip loss averaged over a fixed grid of noise seeds and timesteps: (N,).

    The grid is the same for every clip and every run, so the ranking of hard examples is a
    property of the model, not of sampling luck.
    """
    model.eval()
    bank = data.bank
    totals = torch.zeros(len(bank))
    for index in range(len(bank)):
        latents = data.latents[index : index + 1]
        caption = pick_caption(bank.captions[index], 0, data.seed)
        flow = flow_for(bank, index, data.flow_pairs)[None]
        batch = model.batch(latents, [caption], flow)
        for seed in range(seeds):
            noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(seed))
            for t in timesteps:
                totals[index] += per_sample_loss(model.backbone, batch, torch.tensor([t]), noise)[0]
    return totals / (seeds * len(timesteps))
