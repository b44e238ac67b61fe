"""Does flow guidance let fewer sampler steps do? FVD and prompt adherence of the trained demo
model at 8, 12 and 20 Euler steps, without and with flow guidance (strength 1).

- FVD: the held-out clips' captions generated without a guide, and with each clip's own
  flow as the guide, against the held-out clips (the evaluation's FVD: shapes-classifier
  features, in the real features' top principal components).
- Adherence: English prompts of the evaluation's scenes, read back by the shapes
  classifier (colour) and the flow (direction); guided by a reference rendered from the same
  scene, moving the way the prompt says (as `--motion-ref` would give it).

Run after `make run` (it reads the phase-5 model, the classifier and the shards):

    python benchmarks/steps_guidance.py [--params params.yaml] [--steps 8 12 20] [--prompts 96]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from aiprod.config import load_config
from aiprod.evaluate.adherence import adherence
from aiprod.evaluate.classifier import MODEL_FILE as CLASSIFIER_FILE
from aiprod.evaluate.classifier import load_classifier
from aiprod.evaluate.contradiction import _reference_flow
from aiprod.evaluate.features import make_extractor
from aiprod.evaluate.frechet import feature_distance, full_rank_dims, principal_basis
from aiprod.evaluate.held_out import held_out
from aiprod.evaluate.prompts import Prompt, eval_scenes
from aiprod.evaluate.sampling import generate_batched
from aiprod.generate import VideoGenerator
from aiprod.runtime import resolve
from aiprod.synth.captions import caption


def features(extractor: object, videos: torch.Tensor) -> np.ndarray:
    return np.asarray(extractor(videos).cpu().numpy(), np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 12, 20])
    parser.add_argument("--prompts", type=int, default=96)
    args = parser.parse_args()
    config = load_config(args.params)
    ev = config.evaluate
    runtime = resolve(config.runtime)
    generator = VideoGenerator(ev.checkpoint, runtime=runtime)
    classifier_file = Path(config.classifier.out_dir) / CLASSIFIER_FILE
    classifier = runtime.to(load_classifier(classifier_file))
    extractor = make_extractor(ev.fvd_extractor, classifier_file, ev.i3d_path, runtime.device)
    held = list(held_out(config, ev.fvd_videos))
    real = features(extractor, torch.stack([h.video for h in held]))
    dims = full_rank_dims(real.shape[1], len(real), len(real))
    basis = principal_basis(real, dims)
    captions, guides = [h.caption for h in held], torch.stack([h.guide for h in held])
    scenes = eval_scenes(args.prompts, ev.seed + 2)
    prompts = [
        Prompt("en", caption(s, "en"), s.objects[0].colour, s.objects[0].shape,
               str(s.objects[0].direction))
        for s in scenes
    ]  # fmt: skip
    references = torch.stack([_reference_flow(generator, s) for s in scenes])
    rows = []
    for steps in args.steps:
        stepped = config.model_copy(update={"evaluate": ev.model_copy(update={"steps": steps})})
        for strength in (0.0, 1.0):
            started = time.perf_counter()
            flows = guides if strength else None
            fake = features(
                extractor, generate_batched(generator, captions, stepped, flows, strength)
            )
            fvd = feature_distance(real @ basis, fake @ basis)
            refs = references if strength else None
            videos = generate_batched(generator, [p.text for p in prompts], stepped, refs, strength)
            table = adherence(videos, prompts, classifier)
            rows.append(
                {
                    "steps": steps,
                    "guidance": strength,
                    "fvd": round(float(fvd), 3),
                    "colour": round(float((table.colour == table.read_colour).mean()), 3),
                    "direction": round(float((table.direction == table.read_direction).mean()), 3),
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)  # noqa: T201
    print(f"videos per FVD: {len(held)} (fit in {dims} dims); prompts: {len(prompts)}")  # noqa: T201
    print("| steps | guidance | FVD | colour | direction |")  # noqa: T201
    print("| --- | --- | --- | --- | --- |")  # noqa: T201
    for r in rows:
        print(f"| {r['steps']} | {r['guidance']} | {r['fvd']} | {r['colour']} | {r['direction']} |")  # noqa: T201


if __name__ == "__main__":
    main()
