"""Read colour and direction back from any text-to-video checkpoints, as `evaluate` does.

Where a phase loses what an earlier one learnt shows here: one line per checkpoint, with the
range and mean over the languages. `--seed 1` draws other evaluation scenes than the stage's
seed 0, so a sampler setting can be chosen on scenes the reported figures do not use, e.g.
    python scripts/read_back.py models/phase1/model.pt models/phase5/model.pt --seed 1 --cfg 4
It needs a finished `dvc repro` (classifier, models); nothing it writes is tracked.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from aiprod.config import load_config
from aiprod.evaluate.adherence import adherence, adherence_summary
from aiprod.evaluate.classifier import MODEL_FILE, load_classifier
from aiprod.evaluate.prompts import eval_prompts
from aiprod.evaluate.sampling import generate_batched
from aiprod.generate import VideoGenerator
from aiprod.runtime import resolve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prompts", type=int, help="per language (default: evaluate's)")
    parser.add_argument("--seed", type=int, help="scenes and noise (default: evaluate's)")
    parser.add_argument("--cfg", type=float, help="text guidance scale (default: evaluate's)")
    parser.add_argument("--steps", type=int, help="sampler steps (default: evaluate's)")
    args = parser.parse_args()
    config = load_config(args.params)
    changes = {"prompts_per_language": args.prompts, "seed": args.seed, "cfg": args.cfg}
    changes["steps"] = args.steps
    ev = config.evaluate.model_copy(update={k: v for k, v in changes.items() if v is not None})
    config = config.model_copy(update={"evaluate": ev})
    runtime = resolve(config.runtime)
    classifier = runtime.to(load_classifier(Path(config.classifier.out_dir) / MODEL_FILE))
    prompts = eval_prompts(ev.languages, ev.prompts_per_language, ev.seed)
    for checkpoint in args.checkpoints:
        start = time.perf_counter()
        torch.manual_seed(ev.seed)
        videos = generate_batched(
            VideoGenerator(checkpoint, runtime=runtime), [p.text for p in prompts], config
        )
        summary = adherence_summary(adherence(videos, prompts, classifier))
        languages = [k for k in summary if k != "chance"]
        parts = []
        for key in ("direction", "colour"):
            values = [summary[lang][key] for lang in languages]
            parts.append(
                f"{key} {min(values):.2f}-{max(values):.2f} mean {sum(values) / len(values):.3f}"
            )
        each = " ".join(f"{lang}:{summary[lang]['direction']:.2f}" for lang in languages)
        seconds = time.perf_counter() - start
        print(  # noqa: T201 (the script's output)
            f"{checkpoint}: {' | '.join(parts)} | direction {each} ({seconds:.0f} s)", flush=True
        )


if __name__ == "__main__":
    main()
