"""The text-to-video model as trained: a text encoder and the hybrid backbone on VAE latents.

Captions are sampled across the stored languages (seeded by data position), so one model
learns every language; flow from the shards rides along for flow guidance. The model's
`forward` returns per-sample losses, so DDP can wrap it whole.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from aiprod.fsutil import atomic_write
from aiprod.nn.backbone import BackboneConfig, HybridBackbone
from aiprod.nn.presets import preset
from aiprod.nn.rectified_flow import Batch, TrainingDraw, draw_training, per_sample_loss
from aiprod.nn.text import (
    ByteTextConfig,
    ByteTextEncoder,
    HFTextEncoder,
    SentenceTextEncoder,
)
from aiprod.train.checkpoint import load_payload
from aiprod.train.data import VideoBank, clip_of


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a text-to-video model (saved with its weights)."""

    preset: str = "tiny"
    text_encoder: str = "bytes"  # bytes | use (bytes + multilingual sentence embedding) | hf
    text_encoder_path: str = ""
    conv: str = "separable"


class TextToVideo(nn.Module):
    """Text encoder + backbone, trained together (the VAE stays frozen outside)."""

    def __init__(
        self,
        text: ByteTextConfig,
        backbone: BackboneConfig,
        hf_path: str = "",
        sentence: bool = False,
    ) -> None:
        super().__init__()
        if text.width != backbone.text_width:
            raise ValueError(
                f"text width {text.width} != backbone text_width {backbone.text_width}"
            )
        if hf_path:
            self.text = HFTextEncoder(hf_path, text.width, text.max_length)
        elif sentence:
            self.text = SentenceTextEncoder(text)
        else:
            self.text = ByteTextEncoder(text)
        self.backbone = HybridBackbone(backbone)

    def embed_ahead(self, banks: list[VideoBank]) -> None:
        """Embed every caption of the banks in large batches before the timed loop (the
        sentence encoder is frozen and cached); other encoders run inside the model."""
        if isinstance(self.text, SentenceTextEncoder):
            self.text.sentence(
                sorted({c for bank in banks for d in bank.captions for c in d.values()})
            )

    def batch(self, latents: torch.Tensor, captions: list[str], flow: torch.Tensor | None) -> Batch:
        tokens, mask = self.text(captions)
        return Batch(latents, tokens, mask, flow)

    def forward(
        self,
        latents: torch.Tensor,
        captions: list[str],
        flow: torch.Tensor | None,
        draw: TrainingDraw,
    ) -> torch.Tensor:
        """Per-sample velocity loss for one training draw: (B,)."""
        batch = self.batch(latents, captions, flow)
        return per_sample_loss(
            self.backbone, batch, draw.t, draw.noise, draw.drop_text, draw.drop_flow
        )


def build_model(spec: ModelSpec) -> TextToVideo:
    chosen = preset(spec.preset)
    backbone = BackboneConfig(**{**asdict(chosen.backbone), "conv": spec.conv})
    hf_path = spec.text_encoder_path if spec.text_encoder == "hf" else ""
    return TextToVideo(chosen.text, backbone, hf_path, sentence=spec.text_encoder == "use")


def save_model(path: Path, model: TextToVideo, spec: ModelSpec, **info: object) -> Path:
    """Weights + spec (+ anything else worth knowing, e.g. the frame count trained on)."""
    payload = {"spec": asdict(spec), "state_dict": model.state_dict(), **info}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_model(path: str | Path) -> tuple[TextToVideo, dict]:
    """A saved text-to-video model (eval mode) and its payload; clear error when missing."""
    payload = load_payload(
        path, "no text-to-video checkpoint here (run `dvc repro` or pass --checkpoint)"
    )
    if "spec" not in payload:
        raise ValueError(f"{path}: not a text-to-video model file (no 'spec')")
    model = build_model(ModelSpec(**payload["spec"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload


def pick_caption(captions: dict[str, str], position: int, seed: int) -> str:
    """One caption of the clip, its language drawn by data position (every language in turn)."""
    if not captions:
        return ""
    languages = sorted(captions)
    return captions[random.Random(seed * 1_000_003 + position).choice(languages)]


def flow_for(bank: VideoBank, index: int, pairs: int) -> torch.Tensor:
    """The first `pairs` stored flow fields of a clip window: (2, pairs, h, w).

    A window near a clip's end may have fewer fields stored; the last one is repeated.
    """
    flow = bank.flows[index][:pairs]
    if flow.shape[0] < pairs:
        flow = torch.cat([flow, flow[-1:].expand(pairs - flow.shape[0], -1, -1, -1)])
    return flow.permute(1, 0, 2, 3)


def flow_pairs(frames: int, temporal_factor: int) -> int:
    """Stored flow fields per window: one per latent step."""
    return max(1, (frames - 1) // temporal_factor)


class PhaseData:
    """Batches of (latents, caption, flow) by data position, for `aiprod.train.loop.train`."""

    def __init__(self, bank: VideoBank, latents: torch.Tensor, pairs: int, seed: int) -> None:
        self.bank, self.latents, self.pairs, self.seed = bank, latents, pairs, seed

    def __call__(self, position: int, size: int) -> tuple[torch.Tensor, list[str], torch.Tensor]:
        indices = self.bank.indices(position, size)
        captions = [
            pick_caption(self.bank.captions[i], position + k, self.seed)
            for k, i in enumerate(indices)
        ]
        flows = torch.stack([flow_for(self.bank, i, self.pairs) for i in indices])
        return self.latents[indices], captions, flows


def phase_loss(  # noqa: ANN201 (a loss_fn factory)
    text_dropout: float, flow_dropout: float, timestep_mean: float = 0.0
):
    """The loop's loss function for a (latents, captions, flow) batch."""

    def loss_fn(model: nn.Module, batch: tuple, generator: torch.Generator) -> torch.Tensor:
        latents, captions, flow = batch
        draw = draw_training(latents, generator, text_dropout, flow_dropout, timestep_mean)
        return model(latents, captions, flow, draw).mean()

    return loss_fn


@torch.no_grad()
def mine_losses(
    model: TextToVideo,
    data: PhaseData,
    seeds: int = 4,
    timesteps: tuple[float, ...] = (0.25, 0.5, 0.75),
    batch_size: int = 16,
) -> torch.Tensor:
    """Per-window loss averaged over a fixed grid of noise seeds and timesteps: (N,).

    The grid is the same for every clip and every run, so the ranking of hard examples is a
    property of the model, not of sampling luck. Captions are the English ones where present
    (else the first language), flow is given, nothing is dropped.
    """
    model.eval()
    device = next(model.parameters()).device
    bank = data.bank
    out = []
    for start in range(0, len(bank), batch_size):
        rows = range(start, min(start + batch_size, len(bank)))
        latents = data.latents[list(rows)].to(device)
        captions = [_reference_caption(bank.captions[i]) for i in rows]
        flow = torch.stack([flow_for(bank, i, data.pairs) for i in rows]).to(device)
        batch = model.batch(latents, captions, flow)
        total = torch.zeros(len(rows), device=device)
        for seed in range(seeds):
            # the same noise for a clip whatever its batch: seeded by (seed, clip)
            noise = torch.stack(
                [
                    torch.randn(
                        latents.shape[1:], generator=torch.Generator().manual_seed(seed * 7919 + i)
                    )
                    for i in rows
                ]
            ).to(device)
            for t in timesteps:
                tt = torch.full((len(rows),), t, device=device)
                total += per_sample_loss(model.backbone, batch, tt, noise)
        out.append(total.cpu() / (seeds * len(timesteps)))
    return torch.cat(out)


def _reference_caption(captions: dict[str, str]) -> str:
    if not captions:
        return ""
    return captions.get("en", captions[sorted(captions)[0]])


def per_clip(keys: list[str], values: torch.Tensor) -> dict[str, float]:
    """Window values averaged per clip id."""
    sums: dict[str, list[float]] = {}
    for key, value in zip(keys, values.tolist(), strict=True):
        sums.setdefault(clip_of(key), []).append(value)
    return {clip: sum(v) / len(v) for clip, v in sums.items()}
