"""Peak memory of one training step, counted without the memory: fake tensors + MemTracker.

The model is built under `FakeTensorMode` (parameters have shapes and dtypes, no storage),
then one step (forward under autocast, backward, AdamW) runs under torch's `MemTracker`,
which counts every tensor allocation by kind (parameters, gradients, optimiser state,
activations, temporaries). The latents come from disk in training, so the VAE is not part of
the step. The fake tensors live on the CPU: this machine's torch cannot make fake CUDA
tensors run a backward pass (the autograd engine asks for a CUDA context), and CPU autocast
casts the same matmuls to fp16/bf16 as CUDA's. What is not counted is the CUDA context and
the caching allocator's slack, which `estimate_step_memory` reports apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from aiprod.nn.backbone import BackboneConfig
from aiprod.nn.presets import preset
from aiprod.nn.rectified_flow import TrainingDraw

CUDA_CONTEXT_GB = 0.45  # what a CUDA context takes before the first tensor (seen: 0.3-0.6 GB)
ALLOCATOR_SLACK = 0.10  # the caching allocator's fragmentation on top of live tensors
TEXT_TOKENS = 16  # caption tokens per sample (the sentence token + a few terms)
GB = 1024**3


@dataclass(frozen=True)
class StepMemory:
    """Peak bytes of one step by kind, and the estimate for a GPU (+ context and slack)."""

    by_kind: dict[str, float]  # GB at the peak
    tracked_gb: float
    gpu_estimate_gb: float
    parameters: int

    def as_dict(self) -> dict:
        return asdict(self)


def _batch(
    cfg: BackboneConfig, batch: int, frames: int, size: int, spatial: int, temporal: int
) -> tuple:
    latent_t = 1 + (frames - 1) // temporal
    h = size // spatial
    latents = torch.randn(batch, cfg.latent_channels, latent_t, h, h)
    text = torch.randn(batch, TEXT_TOKENS, cfg.text_width)
    mask = torch.ones(batch, TEXT_TOKENS, dtype=torch.bool)
    flow = torch.randn(batch, 2, max(1, latent_t - 1), h, h)
    draw = TrainingDraw(
        torch.rand(batch), torch.randn_like(latents), torch.zeros(batch, dtype=torch.bool),
        torch.zeros(batch, dtype=torch.bool),
    )  # fmt: skip
    return latents, text, mask, flow, draw


def estimate_step_memory(
    preset_name: str,
    batch: int,
    frames: int,
    size: int,
    precision: str = "fp16",
    checkpointing: bool = True,
    ema: bool = True,
) -> StepMemory:
    """Count one step of the preset's backbone (+ text projections, EMA copy, AdamW)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    from aiprod.nn.backbone import HybridBackbone
    from aiprod.nn.rectified_flow import Batch, per_sample_loss

    chosen = preset(preset_name)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": None}[precision]
    with FakeTensorMode():
        model = HybridBackbone(chosen.backbone)
        model.gradient_checkpointing = checkpointing
        # the EMA copy, built anew (a deep copy would leave this fake mode)
        shadow = HybridBackbone(chosen.backbone).requires_grad_(False) if ema else None
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
        latents, text, mask, flow, draw = _batch(
            chosen.backbone,
            batch,
            frames,
            size,
            chosen.vae.spatial_factor,
            chosen.vae.temporal_factor,
        )

        def step() -> None:
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                loss = per_sample_loss(
                    model, Batch(latents, text, mask, flow), draw.t, draw.noise,
                    draw.drop_text, draw.drop_flow,
                ).mean()  # fmt: skip
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if shadow is not None:
                with torch.no_grad():
                    torch._foreach_lerp_(list(shadow.parameters()), list(model.parameters()), 0.01)

        step()  # the optimiser's state exists from the first step on: count the second
        tracker = MemTracker()
        tracker.track_external(model, optimizer, *([shadow] if shadow is not None else []))
        with tracker:
            step()
        peak = next(iter(tracker.get_tracker_snapshot("peak").values()))
        parameters = sum(p.numel() for p in model.parameters())
    by_kind = {str(getattr(k, "value", k)): round(v / GB, 3) for k, v in peak.items() if v}
    tracked = peak["Total"] / GB
    return StepMemory(
        by_kind=by_kind,
        tracked_gb=round(tracked, 3),
        gpu_estimate_gb=round(tracked * (1 + ALLOCATOR_SLACK) + CUDA_CONTEXT_GB, 3),
        parameters=parameters,
    )
