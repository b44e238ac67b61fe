"""Stages `mine_1` .. `mine_4`: phase K's hardest clips, carried into phase K + 1's shards."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.fsutil import write_json
from aiprod.runtime import resolve
from aiprod.train.mining import mine_stage
from flows._common import phase_stage_main
from flows._live import metrics_markdown


@flow(name="mine", flow_run_name="mine-phase{phase}")
def mine_flow(config: AiprodConfig, phase: int) -> dict:
    metrics = mine_stage(config, phase, resolve(config.runtime))
    write_json(Path(config.mine.out_dir) / f"phase{phase}" / "metrics.json", metrics)
    get_run_logger().info("mine_%d: %s", phase, metrics)
    create_markdown_artifact(
        key=f"mine-phase{phase}",
        markdown=metrics_markdown(f"Hard examples of phase {phase}", metrics),
    )
    return metrics


def main(argv: list[str] | None = None) -> int:
    return phase_stage_main("mine", mine_flow, argv, phases=range(1, 5))


if __name__ == "__main__":
    raise SystemExit(main())
