"""The one seam between the stages and the hardware: device, precision, distributed set-up.

Every stage that runs a network resolves `params.runtime` here first, so a choice the
machine cannot honour fails before any work with the key named; models and batches then
reach the device through `Runtime.to`, compute runs under `Runtime.autocast`, and training
models are wrapped for DDP or FSDP by `Runtime.parallelize` (as torchtitan applies
parallelism in one place, not inside the models).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from aiprod.config import ConfigError, RuntimeConfig
from aiprod.train import distributed
from aiprod.train.distributed import Ranks

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def pick_device(cfg: RuntimeConfig, world_size: int) -> torch.device:
    """The device `runtime.device` names on this machine; ConfigError when it cannot be had."""
    choice = cfg.device
    has_cuda = torch.cuda.is_available()
    if choice == "cpu" or (choice == "auto" and not has_cuda):
        return torch.device("cpu")
    if not has_cuda:
        raise ConfigError(f"runtime.device: {choice} asked for, but this machine has no CUDA GPU")
    if choice.startswith("cuda:"):
        index = int(choice.split(":", 1)[1])
        if world_size > 1:
            raise ConfigError(
                f"runtime.device: {choice} names one GPU, but under torchrun every rank takes "
                "cuda:LOCAL_RANK (use cuda or auto)"
            )
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"runtime.device: {choice}, but this machine has {torch.cuda.device_count()} GPU(s)"
            )
        return torch.device("cuda", index)
    return torch.device("cuda", _local_rank())


def check_precision(cfg: RuntimeConfig, device: torch.device) -> None:
    """bf16 on a GPU without it (Pascal, e.g. the GTX 1070) fails here, naming the key."""
    if cfg.precision == "bf16" and device.type == "cuda":
        if not torch.cuda.is_bf16_supported(including_emulation=False):
            name = torch.cuda.get_device_name(device)
            raise ConfigError(
                f"runtime.precision: bf16 is not supported by {device} ({name}); "
                "use fp16 (trained with a GradScaler) or fp32"
            )


@dataclass
class Runtime:
    """A resolved `runtime` section: where tensors live and how they are computed."""

    cfg: RuntimeConfig
    device: torch.device
    ranks: Ranks

    @property
    def dtype(self) -> torch.dtype:
        """The autocast compute dtype (float32: no autocast)."""
        return DTYPES[self.cfg.precision]

    def autocast(self) -> AbstractContextManager:
        """Mixed precision for the forward pass (a no-op in fp32)."""
        if self.cfg.precision == "fp32":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def to(self, value: object) -> object:
        """A module, a tensor, a batch with a `to(device)` method, or a (nested) tuple, list
        or dict of them, on this device: the one way anything reaches it."""
        if isinstance(value, tuple | list):
            return type(value)(self.to(item) for item in value)
        if isinstance(value, dict):
            return {key: self.to(item) for key, item in value.items()}
        if isinstance(value, torch.Tensor):
            return value.to(self.device, non_blocking=True)
        if hasattr(value, "to") and not isinstance(value, str | bytes):
            return value.to(self.device)
        return value

    def grad_scaler(self) -> torch.amp.GradScaler:
        """fp16 needs loss scaling (its range underflows small gradients); other precisions
        get a disabled scaler, so the loop has one code path."""
        enabled = self.cfg.precision == "fp16"
        if enabled and self.cfg.strategy == "fsdp" and self.ranks.world_size > 1:
            from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

            # every rank holds a shard of the gradients: overflow must be agreed on by all
            return ShardedGradScaler(self.device.type)
        return torch.amp.GradScaler(self.device.type, enabled=enabled)

    @property
    def distributed(self) -> bool:
        return self.ranks.world_size > 1

    def prepare(self, model: nn.Module) -> nn.Module:
        """Gradient checkpointing switched on where asked, the model on the device."""
        if self.cfg.grad_checkpointing:
            for module in model.modules():
                if hasattr(module, "gradient_checkpointing"):
                    module.gradient_checkpointing = True
        return model.to(self.device)

    def compile(self, model: nn.Module) -> nn.Module:
        """torch.compile of the backbone, in place: parameter names (and so checkpoints)
        stay as they are."""
        backbone = getattr(model, "backbone", None)
        if self.cfg.compile and isinstance(backbone, nn.Module):
            backbone.compile()
        return model

    def parallelize(self, model: nn.Module) -> nn.Module:
        """The module the training step calls: the model itself, DDP around it, or the model
        sharded in place by FSDP's `fully_shard` (each unit of `fsdp_units()`, then the root)."""
        if not self.distributed:
            return model
        if self.cfg.strategy == "fsdp":
            shard(model, self.device)
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        # every parameter takes part in every step (dropped text and flow are masked, not
        # skipped), so DDP need not search the graph for unused ones
        return DistributedDataParallel(model, device_ids=ids)

    @contextmanager
    def no_sync(self, runner: nn.Module, skip: bool) -> Iterator[None]:
        """Gradient all-reduce held back on micro-batches before the last of a step."""
        if not skip or not self.distributed:
            yield
            return
        if hasattr(runner, "no_sync"):
            with runner.no_sync():
                yield
            return
        runner.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            runner.set_requires_gradient_sync(True)


def shard(model: nn.Module, device: torch.device) -> nn.Module:
    """`fully_shard` on the model's units (blocks) and then its root, over all ranks."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (distributed.current().world_size,))
    units = model.fsdp_units() if hasattr(model, "fsdp_units") else []
    for unit in units:
        fully_shard(unit, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def preflight(cfg: RuntimeConfig) -> torch.device:
    """The checks of `resolve` that need no process group: device and precision."""
    device = pick_device(cfg, int(os.environ.get("WORLD_SIZE", "1")))
    check_precision(cfg, device)
    return device


def resolve(cfg: RuntimeConfig) -> Runtime:
    """Join torchrun's process group (if any), pick the device, check the precision."""
    device = preflight(cfg)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # before NCCL initialises: one GPU per rank
        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
        torch.backends.cudnn.allow_tf32 = cfg.tf32
    ranks = distributed.init_from_env(device)
    if ranks.main:
        log.info("runtime: %s, %s, %s x %d", device, cfg.precision, cfg.strategy, ranks.world_size)
    return Runtime(cfg, device, ranks)
