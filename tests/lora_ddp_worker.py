"""Run by test_finetune_diffusers.py, alone or under torchrun: LoRA training of a tiny
diffusers base on one rank; rank 0 saves the trained tensors and the losses.

    lora_ddp_worker.py PARAMS OUT
"""

import json
import sys
from pathlib import Path

import torch

from aiprod.config import load_config
from aiprod.finetune.trainer import build_denoiser, load_spec, train_lora, trainable_state
from aiprod.runtime import resolve
from aiprod.train import distributed


def main(params: str, out: str) -> None:
    config = load_config(params)
    runtime = resolve(config.runtime)
    denoiser = build_denoiser(config, load_spec(config), runtime)
    run = train_lora(config, denoiser, runtime, Path(out))
    if runtime.ranks.main:
        torch.save(trainable_state(denoiser), Path(out) / "trainable.pt")
        (Path(out) / "losses.json").write_text(json.dumps(run.losses))
    distributed.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])
