"""Stages `train_phase1` .. `train_phase5`: rectified-flow training of one curriculum phase.

`torchrun --nproc_per_node N -m flows.train_phase --phase K` runs the same stage with DDP
(or FSDP, `runtime.strategy: fsdp`).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.fsutil import write_json
from aiprod.runtime import resolve
from aiprod.train.phase_stage import phase_dir, train_phase_stage
from flows._common import phase_stage_main
from flows._live import live_metrics, metrics_markdown


@flow(name="train_phase", flow_run_name="train-phase{phase}")
def train_phase_flow(config: AiprodConfig, phase: int) -> dict:
    runtime = resolve(config.runtime)
    metrics = train_phase_stage(config, phase, runtime, live_metrics(phase_dir(config, phase)))
    if runtime.ranks.main:
        write_json(Path(config.train.metrics) / f"phase{phase}.json", metrics)
        create_markdown_artifact(
            key=f"train-phase{phase}", markdown=metrics_markdown(f"Phase {phase}", metrics)
        )
    get_run_logger().info("train_phase%d (rank %d): %s", phase, runtime.ranks.rank, metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    return phase_stage_main("train_phase", train_phase_flow, argv, phases=range(1, 6))


if __name__ == "__main__":
    raise SystemExit(main())
