"""Params section `runtime`: where and how every stage that runs a network runs it.

Read by train_vae, encode, train_phaseK, mine_K, classifier, evaluate, finetune and
`aiprod generate`. Whether the device can honour the choice (a GPU without bf16, `cuda` on a
machine without one) is checked by `aiprod.runtime.resolve` when a stage starts, before any
work; the checks here are the ones that need no device.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from aiprod.config.base import _Section

DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


class RuntimeConfig(_Section):
    """Device, precision, parallelism and loader settings shared by the network stages."""

    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N")
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        default="fp32",
        description="compute precision under autocast; fp16 trains with a GradScaler (GPUs "
        "without bf16, e.g. a GTX 1070)",
    )
    compile: bool = Field(default=False, description="torch.compile the backbone")
    grad_checkpointing: bool = Field(
        default=False, description="recompute block activations in the backward pass"
    )
    tf32: bool = Field(default=True, description="TF32 matmuls and convolutions on CUDA")
    grad_accumulation: int = Field(
        default=1, ge=1, le=1024, description="micro-batches per optimiser step"
    )
    num_workers: int = Field(
        default=0, ge=0, le=64, description="DataLoader worker processes per rank (0: inline)"
    )
    strategy: Literal["ddp", "fsdp"] = Field(
        default="ddp", description="data parallelism under torchrun: ddp, or fsdp (fully_shard)"
    )
    launcher: str = Field(
        default="python",
        description="what `dvc repro` starts the training stages (train_vae, train_phaseK) "
        "with: python, or torchrun and its options, e.g. "
        "'torchrun --standalone --nproc_per_node 8'",
    )
    data_streams: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="independent shard streams the data order is made of (null: world size "
        "x max(1, num_workers) at a fresh start, then what the checkpoint recorded); the order "
        "depends on this number, not on how many ranks read it",
    )

    @field_validator("launcher")
    @classmethod
    def _known_launcher(cls, value: str) -> str:
        first = value.split()[0] if value.split() else ""
        if first not in ("python", "python3", "torchrun"):
            raise ValueError(f"must be python or torchrun [options], got {value!r}")
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not DEVICE.match(value):
            raise ValueError(f"must be auto, cpu, cuda or cuda:N, got {value!r}")
        return value
