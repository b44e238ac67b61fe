"""The text-to-video model as trained: a text encoder and the hybrid backbone on VAE latents.

Batches come from the latent shards (`aiprod.latents.batches.LatentBatch`): latents, the
caption variant each window trains on, the frozen text features the `encode` stage stored,
and flow at the latent grid. The model's `forward` returns per-sample losses, so DDP and
FSDP wrap it whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from aiprod.fsutil import save_torch
from aiprod.latents.batches import LatentBatch, collate, reference_variant
from aiprod.latents.format import LatentWindow
from aiprod.nn.backbone import BackboneConfig, HybridBackbone
from aiprod.nn.presets import preset
from aiprod.nn.rectified_flow import (
    PLAIN_LOSS,
    Batch,
    LossWeights,
    TrainingDraw,
    per_sample_loss,
    seeded_draw,
)
from aiprod.nn.seeding import sample_generator
from aiprod.nn.text import (
    ByteTextConfig,
    ByteTextEncoder,
    HFTextEncoder,
    SentenceTextEncoder,
)
from aiprod.runtime import Runtime
from aiprod.train.checkpoint import load_payload


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

    def fsdp_units(self) -> list[nn.Module]:
        """What FSDP shards one by one: the backbone's blocks (then the rest as the root)."""
        return list(self.backbone.blocks)

    def batch(
        self,
        latents: torch.Tensor,
        captions: list[str],
        flow: torch.Tensor | None,
        frozen: object = None,
    ) -> Batch:
        tokens, mask = self.text(captions, frozen)
        return Batch(latents, tokens, mask, flow)

    def forward(
        self,
        latents: torch.Tensor,
        captions: list[str],
        flow: torch.Tensor | None,
        draw: TrainingDraw,
        frozen: object = None,
        weights: LossWeights = PLAIN_LOSS,
    ) -> torch.Tensor:
        """Per-sample velocity loss for one training draw: (B,)."""
        batch = self.batch(latents, captions, flow, frozen)
        return per_sample_loss(
            self.backbone, batch, draw.t, draw.noise, draw.drop_text, draw.drop_flow, weights
        )


def build_model(spec: ModelSpec) -> TextToVideo:
    chosen = preset(spec.preset)
    backbone = BackboneConfig(**{**asdict(chosen.backbone), "conv": spec.conv})
    hf_path = spec.text_encoder_path if spec.text_encoder == "hf" else ""
    return TextToVideo(chosen.text, backbone, hf_path, sentence=spec.text_encoder == "use")


def save_model(path: Path, model: TextToVideo, spec: ModelSpec, **info: object) -> Path:
    """Weights (on the CPU) + spec (+ what else is worth knowing: frames, VAE reference)."""
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"spec": asdict(spec), "state_dict": weights, **info}
    return save_torch(path, payload)


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


def t2v_loss(  # noqa: ANN201 (a loss_fn factory)
    text_dropout: float,
    flow_dropout: float,
    timestep_mean: float,
    seed: int,
    weights: LossWeights = PLAIN_LOSS,
):
    """The loop's loss of a LatentBatch: timesteps, noise and dropout drawn per window from
    its ordinal."""

    def loss_fn(model: nn.Module, batch: LatentBatch) -> torch.Tensor:
        draw = seeded_draw(
            batch.ordinals,
            tuple(batch.latents.shape[1:]),
            seed,
            text_dropout,
            flow_dropout,
            timestep_mean,
            batch.latents.device,
        )
        uncaptioned = [not text.strip() for text in batch.texts]
        if any(uncaptioned):  # a clip with no caption trains with the null text, as CFG's drops
            empty = torch.tensor(uncaptioned, device=draw.drop_text.device)
            draw = replace(draw, drop_text=draw.drop_text | empty)
        return model(batch.latents, batch.texts, batch.flow, draw, batch.frozen, weights).mean()

    return loss_fn


def stable_id(key: str) -> int:
    """An integer of a window key that does not change between runs or batches."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)


@torch.no_grad()
def window_losses(
    model: TextToVideo,
    windows: Iterable[LatentWindow],
    runtime: Runtime,
    seeds: int = 4,
    timesteps: tuple[float, ...] = (0.25, 0.5, 0.75),
    batch_size: int = 16,
) -> tuple[list[LatentWindow], torch.Tensor]:
    """Per-window loss averaged over a fixed grid of noise seeds and timesteps.

    The grid is the same for every window and run (noise seeded by the window's key), so the
    ranking of hard examples is a property of the model, not of sampling luck. Captions are
    the English ones where present (else the first language), flow is given, nothing is
    dropped. Returns the windows' metadata (arrays dropped) and their losses.
    """
    model.eval()
    kept, out, pending = [], [], []

    def flush() -> None:
        rows = [reference_variant(w.texts) for w in pending]
        batch = runtime.to(collate(pending, rows, [0] * len(pending)))
        encoded = model.batch(batch.latents, batch.texts, batch.flow, batch.frozen)
        total = torch.zeros(len(pending), device=runtime.device)
        for seed in range(seeds):
            noise = torch.stack(
                [
                    torch.randn(w.latent.shape, generator=sample_generator(seed, stable_id(w.key)))
                    for w in pending
                ]
            ).to(runtime.device)
            for t in timesteps:
                tt = torch.full((len(pending),), t, device=runtime.device)
                with runtime.autocast():
                    total += per_sample_loss(model.backbone, encoded, tt, noise).float()
        out.append(total.cpu() / (seeds * len(timesteps)))
        kept.extend(LatentWindow(w.key, None, None, w.meta) for w in pending)
        pending.clear()

    for window in windows:
        pending.append(window)
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    return kept, torch.cat(out) if out else torch.zeros(0)


def per_clip(windows: list[LatentWindow], values: torch.Tensor) -> dict[str, float]:
    """Window values averaged per clip id."""
    sums: dict[str, list[float]] = {}
    for window, value in zip(windows, values.tolist(), strict=True):
        sums.setdefault(window.meta["clip_id"], []).append(value)
    return {clip: sum(v) / len(v) for clip, v in sums.items()}
