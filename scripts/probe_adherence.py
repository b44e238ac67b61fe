"""Adherence probe: train a fresh demo-size text-to-video model on every phase's latents
(shuffled, no flow), or on rendered scenes, and read colour and direction back from the
evaluation prompts.

The README's probe table came from runs of this script, e.g.
    python scripts/probe_adherence.py --steps 2200               # as the demo trains it
    python scripts/probe_adherence.py --steps 2200 --rendered 2000   # + freshly rendered scenes
    python scripts/probe_adherence.py --vae other_vae/model.pt   # another VAE's latents
    python scripts/probe_adherence.py --steps 4400 --languages en,de,ja   # more steps
    python scripts/probe_adherence.py --steps 4000 --eval-like 2000 --languages en,de,ja
    python scripts/probe_adherence.py --phase 1 --steps 2000 --flow-dropout 1 --timestep-mean 1 \
        --lr 0.004 --seed 1 --languages en,de,ja   # phase 1's latents as its stage reads them
It needs a finished `dvc repro` (latents, VAE, classifier); nothing it writes is tracked.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from aiprod.config import RuntimeConfig, load_config
from aiprod.evaluate.classifier import COLOUR_NAMES, load_classifier, predict, rendered_video
from aiprod.evaluate.motion import dominant_direction, video_flow
from aiprod.evaluate.prompts import eval_prompts, eval_scenes
from aiprod.generate import VideoGenerator
from aiprod.latents.batches import expand_window, latent_shards, training_collate
from aiprod.latents.encode import encode_windows
from aiprod.latents.stage import frozen_text, write_latents
from aiprod.runtime import resolve
from aiprod.shards.stream import Split, StreamBatches
from aiprod.synth.captions import captions as all_captions
from aiprod.synth.world import sample_scene
from aiprod.train.codec import load_codec, vae_reference
from aiprod.train.data import PixelWindow
from aiprod.train.loop import LoopConfig, train
from aiprod.train.phase_stage import latent_dir
from aiprod.train.t2v import ModelSpec, build_model, save_model, t2v_loss


def rendered_latents(args: argparse.Namespace, folder: Path, runtime: object) -> Path | None:
    """Rendered scenes encoded as `encode` would, into a latent folder (None: none asked)."""
    rng = np.random.default_rng(7)
    scenes = [sample_scene(rng, int(rng.integers(1, 5)), 50_000 + k) for k in range(args.rendered)]
    scenes += eval_scenes(args.eval_like, 10_000)  # other draws than the evaluated seed 0
    if not scenes:
        return None
    windows = []
    for k, scene in enumerate(scenes):
        video = ((rendered_video(scene, 9, 2, 32) + 1) * 127.5).round().byte()
        meta = {"clip_id": f"rendered{k:05d}", "captions": all_captions(scene), "tags": {}}
        windows.append(PixelWindow(f"rendered{k:05d}_w0", 0, video, np.zeros((2, 2, 32, 32)), meta))
    codec = load_codec(args.vae).to(runtime.device)
    text = frozen_text(load_config("params.yaml"), runtime)
    write_latents(encode_windows(windows, codec, runtime, text, 0, 32), folder, 256)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2200)
    parser.add_argument("--rendered", type=int, default=0, help="extra rendered scenes")
    parser.add_argument(
        "--eval-like",
        type=int,
        default=0,
        help="train on this many rendered scenes like the evaluation's (one large object moving "
        "on a plain background) instead of the latents",
    )
    parser.add_argument("--vae", default="models/vae/model.pt")
    parser.add_argument("--languages", default="en", help="comma-separated, e.g. en,de,ja")
    parser.add_argument("--cfg", type=float, default=6.0)
    parser.add_argument("--phase", type=int, default=0, help="train on this phase's latents only")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--flow-dropout", type=float, default=1.0)
    parser.add_argument("--tag-dropout", type=float, default=0.5)
    parser.add_argument("--timestep-mean", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0, help="of the model's initial weights")
    args = parser.parse_args()
    config = load_config("params.yaml")
    runtime = resolve(RuntimeConfig(device="cpu"))
    work = Path(tempfile.mkdtemp())
    folders = [latent_dir(config, k) for k in ([args.phase] if args.phase else range(1, 6))]
    folders = [] if args.eval_like else folders
    extra = rendered_latents(args, work / "rendered", runtime)
    shards = latent_shards(folders + ([extra] if extra else []))
    data = StreamBatches(
        shards, Split(1), args.batch_size, 0, 4000, expand_window,
        training_collate(0, args.tag_dropout),
    )  # fmt: skip
    spec = ModelSpec(preset="tiny", text_encoder="use")
    torch.manual_seed(args.seed)
    loop = LoopConfig(args.steps, args.lr, 30, args.batch_size, 0.99, checkpoint_every=10**9)
    loss = t2v_loss(0.1, args.flow_dropout, args.timestep_mean, seed=0)
    result = train(build_model(spec), loss, data, loop, work / "run", runtime)
    target = work / "model.pt"
    checkpoint = save_model(
        target, result.averaged, spec, frames=9, size=32, frame_step=2,
        **vae_reference(args.vae, target),
    )  # fmt: skip
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
            f"windows {data.items_per_epoch}  steps {args.steps}  "
            f"final loss {np.mean(result.losses[-50:]):.3f}  "
            f"{language}: colour {np.mean(colour_hits):.3f}  "
            f"direction {np.mean(direction_hits):.3f}  (chance 0.125, {len(prompts)} prompts)",
            flush=True,
        )


if __name__ == "__main__":
    main()
