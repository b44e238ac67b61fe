"""One process or several: the same stage under `torchrun` joins one process group.

`torchrun --nproc_per_node 2 -m flows.train_phase --phase 1` sets RANK / WORLD_SIZE /
MASTER_ADDR; `aiprod.runtime.resolve` joins the group here (NCCL on GPUs, gloo on CPUs).
Each rank reads its own streams of every global batch; only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_from_env(device: torch.device | None = None) -> Ranks:
    """Join the process group torchrun describes; a plain run is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    if not dist.is_initialized():
        on_gpu = device is not None and device.type == "cuda"
        dist.init_process_group(backend="nccl" if on_gpu else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size())


def current() -> Ranks:
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def gather_objects(value: object) -> list[object]:
    """Every rank's `value`, in rank order (a one-item list when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def broadcast_object(value: object) -> object:
    """Rank 0's `value` on every rank."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mean_and_all_finite(loss: torch.Tensor) -> tuple[float, bool]:
    """The loss averaged over ranks, and whether it was finite on every rank (one all-reduce
    a step, so a NaN on one rank stops them all instead of hanging the others)."""
    value = loss.detach().float().reshape(1)
    finite = torch.isfinite(value).float()
    if dist.is_available() and dist.is_initialized():
        packed = torch.cat([torch.nan_to_num(value, nan=0.0, posinf=0.0, neginf=0.0), finite])
        dist.all_reduce(packed)
        world = dist.get_world_size()
        return float(packed[0]) / world, bool(packed[1] == world)
    return float(value), bool(finite)


def shutdown() -> None:
    """Leave the process group (a stage ends cleanly, without NCCL's teardown warning)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
