"""Run by test_distributed.py, alone or under torchrun: a few streamed steps of the tiny
text-to-video model on one rank of a DDP or FSDP group.

    ddp_worker.py OUT SHARDS STRATEGY BATCH STREAMS STOP_AFTER
"""

import json
import sys
from pathlib import Path

import torch
from tiny_models import tiny_backbone

from aiprod.config import RuntimeConfig
from aiprod.latents.batches import expand_window, latent_shards, training_collate
from aiprod.nn.text import ByteTextConfig
from aiprod.runtime import resolve
from aiprod.shards.stream import Split, StreamBatches, choose_streams
from aiprod.train.checkpoint import TrainState, resumable
from aiprod.train.loop import LoopConfig, train
from aiprod.train.t2v import TextToVideo, t2v_loss

LOOP = LoopConfig(steps=6, lr=3e-3, warmup=1, checkpoint_every=2, seed=0, fingerprint="test")


def run(out_dir: Path, shard_dir: Path, strategy: str, batch: int, streams: int, stop: int):
    runtime = resolve(RuntimeConfig(device="cpu", strategy=strategy, data_streams=streams))
    ranks = runtime.ranks
    state = resumable(out_dir, LOOP.fingerprint)
    chosen = choose_streams(streams, ranks.world_size, 0, state.data_streams if state else 0)
    data = StreamBatches(
        latent_shards([shard_dir]),
        Split(chosen, ranks.rank, ranks.world_size),
        batch,
        seed=3,
        buffer=8,
        expand=expand_window,
        collate=training_collate(3, tag_dropout=0.5),
    )
    torch.manual_seed(0)
    model = TextToVideo(ByteTextConfig(width=16, layers=1, heads=2, max_length=64), tiny_backbone())
    loop = LoopConfig(**{**LOOP.__dict__, "batch_size": batch})
    result = train(
        model,
        t2v_loss(0.2, 0.5, 0.0, seed=11),
        data,
        loop,
        out_dir,
        runtime,
        stop_after=stop or None,
        state=TrainState(data_streams=chosen),
    )
    if ranks.main:
        torch.save(result.averaged.state_dict(), out_dir / "model.pt")
        with (out_dir / "losses.jsonl").open("a") as log:
            log.write(json.dumps({"world": ranks.world_size, "losses": result.losses}) + "\n")


if __name__ == "__main__":
    out, shards, strategy, batch, streams, stop = sys.argv[1:7]
    run(Path(out), Path(shards), strategy, int(batch), int(streams), int(stop))
