"""One process or several: the same stage under `torchrun` trains with DDP (gloo on the CPU).

`torchrun --nproc_per_node 2 -m flows.train_phase --phase 1` sets RANK / WORLD_SIZE /
MASTER_ADDR; each rank reads its own slice of every global batch, gradients are averaged by
DDP, and only rank 0 writes checkpoints, metrics and models.
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


def init_from_env() -> Ranks:
    """Join the process group torchrun describes; a plain run is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return Ranks(dist.get_rank(), dist.get_world_size())


def current() -> Ranks:
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def device() -> torch.device:
    """This rank's accelerator, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")
