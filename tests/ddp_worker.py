"""Run under torchrun by test_distributed.py: the training loop on one rank of a DDP group."""

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from aiprod.train import distributed
from aiprod.train.loop import LoopConfig, train


def sample_batch(position: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample i is a fixed function of i, so a batch is a pure function of its position."""
    index = torch.arange(position, position + size, dtype=torch.float32)[:, None]
    x = torch.cat([torch.sin(index * (k + 1)) for k in range(4)], dim=1)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.25


def mse(model: nn.Module, batch: tuple, generator: torch.Generator) -> torch.Tensor:
    x, y = batch
    return F.mse_loss(model(x), y)


def run(out_dir: Path, batch_size: int) -> None:
    ranks = distributed.init_from_env()
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    loop = LoopConfig(steps=20, lr=0.05, batch_size=batch_size, checkpoint_every=10, seed=0)
    train(model, mse, sample_batch, loop, out_dir)
    torch.save(model.state_dict(), out_dir / f"weights_rank{ranks.rank}.pt")


if __name__ == "__main__":
    run(Path(sys.argv[1]), int(sys.argv[2]))
