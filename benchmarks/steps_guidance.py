"""Does flow guidance let fewer sampler steps do? The evaluate stage's `steps_and_guidance`
figures (FVD and English adherence at each step count, without and with flow guidance), at
more prompts than the demo's `make run` budget allows, with the seconds each point costs.

Run after `make run` (it reads the phase-5 model, the classifier and the shards):

    python benchmarks/steps_guidance.py [--params params.yaml] [--steps 8 12 20] [--prompts 96]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from aiprod.config import load_config
from aiprod.evaluate.classifier import MODEL_FILE as CLASSIFIER_FILE
from aiprod.evaluate.classifier import load_classifier
from aiprod.evaluate.fvd import real_set
from aiprod.evaluate.steps_guidance import steps_guidance_metrics
from aiprod.generate import VideoGenerator
from aiprod.runtime import resolve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 12, 20])
    parser.add_argument("--prompts", type=int, default=96)
    args = parser.parse_args()
    config = load_config(args.params)
    ev = config.evaluate.model_copy(
        update={"sweep_steps": args.steps, "sweep_prompts": args.prompts}
    )
    config = config.model_copy(update={"evaluate": ev})
    runtime = resolve(config.runtime)
    generator = VideoGenerator(ev.checkpoint, runtime=runtime)
    classifier = runtime.to(load_classifier(Path(config.classifier.out_dir) / CLASSIFIER_FILE))
    real = real_set(generator, config)
    started = time.perf_counter()
    figures = steps_guidance_metrics(generator, config, classifier, real)
    seconds = time.perf_counter() - started
    print(json.dumps(figures, indent=1))  # noqa: T201
    print(  # noqa: T201
        f"{figures['prompts']} prompts, {figures['fvd_videos']} FVD videos (fit in {real.dims} "
        f"dims), {seconds:.0f} s for {2 * len(args.steps)} points"
    )
    print("| steps | guidance | FVD | colour | direction |\n| --- | --- | --- | --- | --- |")  # noqa: T201
    for steps in args.steps:
        for strength in (0, 1):
            r = figures[f"steps{steps}_s{strength}"]
            print(f"| {steps} | {strength} | {r['fvd']} | {r['colour']} | {r['direction']} |")  # noqa: T201


if __name__ == "__main__":
    main()
