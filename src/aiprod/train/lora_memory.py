"""Peak memory of one LoRA training step of a pretrained diffusers video transformer.

The transformer is built from its real config on the meta device (shapes and dtypes, no
storage), gets peft LoRA adapters, and runs one step (forward, backward, AdamW on the
adapters) under torch's `MemTracker`, which counts every allocation by kind. Two things
make that count a GPU's rather than this CPU's:

- attention: CPU and meta run the math kernel, which materialises every (N x N) score
  matrix; CUDA's memory-efficient kernel (sm50+, so a GTX 1070 too) keeps only the output
  and a log-sum-exp per query. `efficient_attention` stands in for
  `F.scaled_dot_product_attention` with exactly those saved tensors;
- frozen weights: `MemTracker` puts a gradient hook on every parameter, which torch refuses
  for the frozen base (`frozen_weights_allowed`).

What is not counted is the CUDA context and the caching allocator's slack, added as in
`aiprod.train.memory`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

from aiprod.train.memory import ALLOCATOR_SLACK, CUDA_CONTEXT_GB, GB


class _EfficientAttention(torch.autograd.Function):
    """What CUDA's memory-efficient attention allocates: the output, a float32 log-sum-exp
    per query for the backward pass, and the three input gradients."""

    @staticmethod
    def forward(ctx: object, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        out = q.new_empty(*q.shape[:-1], v.shape[-1])
        lse = q.new_empty(q.shape[:-1], dtype=torch.float32)
        ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
        q, k, v, _, _ = ctx.saved_tensors
        return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)


def efficient_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *args: object, **kwargs: object
) -> torch.Tensor:
    return _EfficientAttention.apply(query, key, value)


@contextmanager
def gpu_attention() -> Iterator[None]:
    """`F.scaled_dot_product_attention` counted as the memory-efficient CUDA kernel."""
    real = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = efficient_attention
    try:
        yield
    finally:
        F.scaled_dot_product_attention = real


@contextmanager
def frozen_weights_allowed() -> Iterator[None]:
    """Gradient hooks on frozen tensors become no-ops (MemTracker hooks every parameter)."""
    real_hook = torch.Tensor.register_hook
    real_post = torch.Tensor.register_post_accumulate_grad_hook

    def only_trainable(real: Callable) -> Callable:
        def register(tensor: torch.Tensor, hook: Callable) -> RemovableHandle:
            return real(tensor, hook) if tensor.requires_grad else RemovableHandle(OrderedDict())

        return register

    torch.Tensor.register_hook = only_trainable(real_hook)
    torch.Tensor.register_post_accumulate_grad_hook = only_trainable(real_post)
    try:
        yield
    finally:
        torch.Tensor.register_hook = real_hook
        torch.Tensor.register_post_accumulate_grad_hook = real_post


@dataclass(frozen=True)
class LoraStepMemory:
    by_kind: dict[str, float]  # GB at the peak
    bytes_by_kind: dict[str, int]
    tracked_gb: float
    gpu_estimate_gb: float
    parameters: int
    trainable: int


def lora_step_memory(
    build: Callable[[], nn.Module],
    inputs: Callable[[], dict],
    targets: list[str],
    rank: int = 16,
    dtype: torch.dtype = torch.float16,
    checkpointing: bool = True,
) -> LoraStepMemory:
    """Count the second step (the optimiser's state exists by then) of LoRA training."""
    from peft import LoraConfig
    from torch.distributed._tools.mem_tracker import MemTracker

    with torch.device("meta"):
        model = build().to(dtype).requires_grad_(False)
        if checkpointing:
            model.enable_gradient_checkpointing()
        model.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets))
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=1e-4, foreach=True)
        batch = inputs()

        def step() -> None:
            out = model(**batch, return_dict=False)[0]  # fp16 weights; peft casts for adapters
            out.float().pow(2).mean().backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        with gpu_attention():
            step()
            tracker = MemTracker()
            with frozen_weights_allowed():
                tracker.track_external(model, optimizer)
                with tracker:
                    step()
        peak = next(iter(tracker.get_tracker_snapshot("peak").values()))
    by_kind = {str(getattr(k, "value", k)): round(v / GB, 3) for k, v in peak.items() if v}
    tracked = peak["Total"] / GB
    return LoraStepMemory(
        by_kind=by_kind,
        bytes_by_kind={str(getattr(k, "value", k)): int(v) for k, v in peak.items() if v},
        tracked_gb=round(tracked, 3),
        gpu_estimate_gb=round(tracked * (1 + ALLOCATOR_SLACK) + CUDA_CONTEXT_GB, 3),
        parameters=sum(p.numel() for p in model.parameters()),
        trainable=sum(p.numel() for p in trainable),
    )
