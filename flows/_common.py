"""What every flow module shares: reading params for a stage and collecting task results."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator

from prefect.futures import PrefectFuture, as_completed

from aiprod.config import AiprodConfig, ConfigError, load_config

# the stages that run a network: they read `runtime`, which is checked against the device
NETWORK_STAGES = {
    "train_vae", "encode", "train_phase", "mine", "classifier", "evaluate", "finetune",
    "lora_precompute",
}  # fmt: skip


def as_completed_results(futures: list[PrefectFuture]) -> Iterator[object]:
    """Task results in completion order, for a progress bar that moves as work finishes."""
    for future in as_completed(futures):
        yield future.result()


class StageStopped(RuntimeError):
    """The data cannot go on as configured; the message says why and which key decides."""


def run_stage(
    name: str,
    run: Callable[[AiprodConfig], object],
    argv: list[str] | None,
    check: Callable[[AiprodConfig], None] | None = None,
) -> int:
    """Parse `--params`, validate the whole config (and what `check` reads besides, e.g. a
    model folder), run the stage; a bad config exits 2."""
    parser = argparse.ArgumentParser(prog=f"aiprod {name}", description=f"Run the {name} stage.")
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: params.yaml)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(args.params)
        if name.split()[0] in NETWORK_STAGES:
            from aiprod.runtime import preflight

            preflight(config.runtime)  # the device can honour runtime: before any work
        if check is not None:
            check(config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    try:
        run(config)
    except StageStopped as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    finally:
        if name.split()[0] in NETWORK_STAGES:
            from aiprod.train.distributed import shutdown

            shutdown()
    return 0


def phase_stage_main(
    name: str, stage: Callable[[AiprodConfig, int], object], argv: list[str] | None, phases: range
) -> int:
    """`--phase K` plus the usual `--params`, for the per-phase stages."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--phase", type=int, choices=phases, required=True)
    known, rest = parser.parse_known_args(argv)
    return run_stage(
        f"{name} --phase {known.phase}", lambda config: stage(config, known.phase), rest
    )
