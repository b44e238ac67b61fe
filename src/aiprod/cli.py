"""The `aiprod` command: one subcommand per DAG stage, each running that stage's Prefect flow."""

from __future__ import annotations

import argparse
import importlib
import sys

# stage name -> flow module; `python -m flows.<stage>` runs the same thing.
STAGES = {
    "synth": "render the shapes-world demo corpus",
    "ingest": "probe, check, cut and normalise sources into clips",
    "score": "motion, camera, quality and duplicate scores; keep or reject clips",
    "caption": "captions per language (sidecar, mapping, local VLM) and motion tags",
    "curriculum": "difficulty, quality, five phases by hour budgets, curator report",
    "shard": "one phase's clips into WebDataset tars (--phase 1..5)",
    "train_vae": "pre-train the video VAE on the shards",
    "train_phase": "rectified-flow training of one curriculum phase (--phase 1..5)",
    "mine": "hard examples of a phase, carried into the next one's shards (--phase 1..4)",
    "classifier": "train the shapes-world video classifier (FVD features, read-back)",
    "evaluate": "FVD, flow agreement, prompt adherence, VAE metrics, gallery",
    "lora_precompute": "the short path's latents: phases through the base's VAE and text encoder",
    "finetune": "the short path: LoRA (and flow guidance) on a pretrained base, by phases",
    "generate": "a prompt in any of 9 languages to an mp4 (see `aiprod generate --help`)",
    "db": "the generation service's schema: `aiprod db upgrade` (AIPROD_DATABASE_URL)",
    "keys": "API keys of the service: create (shown once), list, revoke",
    "serve": "the REST API for generation jobs (FastAPI on uvicorn)",
    "worker": "a worker that runs the service's queued jobs",
}
# commands that are not DAG stages: module, or module:function taking argv
MODULES = {
    "generate": "aiprod.generate_cli",
    "db": "aiprod.serve.commands:db_main",
    "keys": "aiprod.serve.commands:keys_main",
    "serve": "aiprod.serve.commands:serve_main",
    "worker": "aiprod.serve.commands:worker_main",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch `aiprod <stage> [--params FILE]` to `flows.<stage>.main`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="aiprod", description="AIPROD: raw footage to a text-to-video model, one DVC DAG."
    )
    sub = parser.add_subparsers(dest="stage", metavar="STAGE")
    for name, help_text in STAGES.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    if argv[0] not in STAGES:
        parser.error(f"unknown stage {argv[0]!r}; choose from {', '.join(STAGES)}")
    module, _, function = MODULES.get(argv[0], f"flows.{argv[0]}").partition(":")
    return getattr(importlib.import_module(module), function or "main")(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
