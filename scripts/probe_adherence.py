"""Adherence probe: train a fresh demo-size text-to-video model on every shard (shuffled, no
flow), or on rendered scenes, and read colour and direction back from the evaluation prompts.

The README's probe table came from runs of this script, e.g.
    python scripts/probe_adherence.py --steps 2200               # as the demo trains it
    python scripts/probe_adherence.py --steps 2200 --rendered 2000   # + freshly rendered scenes
    python scripts/probe_adherence.py --vae other_vae/model.pt   # another VAE's latents
    python scripts/probe_adherence.py --steps 4400 --languages en,de,ja   # more steps
    python scripts/probe_adherence.py --steps 4000 --eval-like 2000 --languages en,de,ja
    python scripts/probe_adherence.py --phase 1 --steps 2000 --flow-dropout 1 --timestep-mean 1 \
        --lr 0.004 --seed 1 --languages en,de,ja   # phase 1's shards as its stage reads them
It needs a finished `dvc repro` (shards, VAE, classifier); nothing it writes is tracked.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from aiprod.config import load_config
from aiprod.evaluate.classifier import COLOUR_NAMES, load_classifier, predict, rendered_video
from aiprod.evaluate.motion import dominant_direction, video_flow
from aiprod.evaluate.prompts import eval_prompts, eval_scenes
from aiprod.generate import VideoGenerator
from aiprod.nn.rectified_flow import draw_training
from aiprod.synth.captions import captions as all_captions
from aiprod.synth.world import sample_scene
from aiprod.train.loop import LoopConfig, train
from aiprod.train.phase_stage import phase_data
from aiprod.train.t2v import ModelSpec, build_model, phase_loss, pick_caption, save_model
from aiprod.train.vae_stage import load_codec


def training_set(args: argparse.Namespace) -> tuple[torch.Tensor, list[dict[str, str]]]:
    config = load_config("params.yaml")
    config = config.model_copy(
        update={"curriculum": config.curriculum.model_copy(update={"enabled": False})}
    )
    codec = load_codec(args.vae)
    latents, captions = [], []
    if not args.eval_like:
        data = phase_data(config, 1, codec, holdout=False)  # curriculum off: every shard
        latents, captions = [data.latents], list(data.bank.captions)
    rng = np.random.default_rng(7)
    scenes = [sample_scene(rng, int(rng.integers(1, 5)), 50_000 + k) for k in range(args.rendered)]
    scenes += eval_scenes(args.eval_like, 10_000)  # other draws than the evaluated seed 0
    rendered = []
    for scene in scenes:
        rendered.append(rendered_video(scene, 9, 2, 32))
        captions.append(all_captions(scene))
    if rendered:
        latents.append(codec.encode(torch.stack(rendered)))
    return torch.cat(latents), captions


def shuffled_batches(latents: torch.Tensor, captions: list[dict[str, str]]):  # noqa: ANN201
    """Batches drawn at random (seeded by data position), no flow."""

    def batch_at(position: int, size: int) -> tuple:
        rows = [
            int(torch.randint(len(latents), (1,), generator=torch.Generator().manual_seed(p)))
            for p in range(position, position + size)
        ]
        texts = [pick_caption(captions[i], position + k, 0) for k, i in enumerate(rows)]
        return latents[rows], texts, None

    return batch_at


def no_flow_loss(timestep_mean: float):  # noqa: ANN201 (a loss_fn)
    def loss_fn(net: torch.nn.Module, batch: tuple, generator: torch.Generator) -> torch.Tensor:
        x, texts, _ = batch
        return net(x, texts, None, draw_training(x, generator, 0.1, 1.0, timestep_mean)).mean()

    return loss_fn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2200)
    parser.add_argument("--rendered", type=int, default=0, help="extra rendered scenes")
    parser.add_argument(
        "--eval-like",
        type=int,
        default=0,
        help="train on this many rendered scenes like the evaluation's (one large object moving "
        "on a plain background) instead of the shards",
    )
    parser.add_argument("--vae", default="models/vae/model.pt")
    parser.add_argument("--languages", default="en", help="comma-separated, e.g. en,de,ja")
    parser.add_argument("--cfg", type=float, default=6.0)
    parser.add_argument(
        "--phase", type=int, default=0, help="train on this phase's shards (with their flow)"
    )
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--flow-dropout", type=float, default=1.0, help="with --phase")
    parser.add_argument("--timestep-mean", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0, help="of the model's initial weights")
    args = parser.parse_args()
    spec = ModelSpec(preset="tiny", text_encoder="use")
    if args.phase:
        data = phase_data(load_config("params.yaml"), args.phase, load_codec(args.vae), False)
        batch_at, loss_fn = data, phase_loss(0.1, args.flow_dropout, args.timestep_mean)
        latents = data.latents
    else:
        latents, captions = training_set(args)
        batch_at, loss_fn = shuffled_batches(latents, captions), no_flow_loss(args.timestep_mean)
    torch.manual_seed(args.seed)
    model = build_model(spec)
    if args.phase:
        model.embed_ahead([data.bank])

    work = Path(tempfile.mkdtemp())
    loop = LoopConfig(args.steps, args.lr, 30, args.batch_size, 0.99, checkpoint_every=10**9)
    _, ema, losses = train(model, loss_fn, batch_at, loop, work)
    checkpoint = save_model(
        work / "model.pt", ema.shadow.cpu(), spec, frames=9, size=32, frame_step=2, vae=args.vae
    )
    generator = VideoGenerator(checkpoint)
    classifier = load_classifier("models/classifier/model.pt")
    for language in args.languages.split(","):
        prompts = eval_prompts([language], 32, 0)
        videos = generator([p.text for p in prompts], steps=20, cfg=args.cfg, seed=0)
        colour, _ = predict(classifier, videos)
        colour_hits = [
            COLOUR_NAMES[int(c.argmax())] == p.colour for c, p in zip(colour, prompts, strict=True)
        ]
        direction_hits = [
            dominant_direction(video_flow(v)) == p.direction
            for v, p in zip(videos, prompts, strict=True)
        ]
        print(  # noqa: T201 (the probe's output)
            f"windows {len(latents)}  steps {args.steps}  final loss {np.mean(losses[-50:]):.3f}  "
            f"{language}: colour {np.mean(colour_hits):.3f}  "
            f"direction {np.mean(direction_hits):.3f}  (chance 0.125, {len(prompts)} prompts)",
            flush=True,
        )


if __name__ == "__main__":
    main()
