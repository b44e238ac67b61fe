"""Stage `classifier`: the shapes-world video classifier (FVD features, prompt read-back)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.curation.truth import SHAPES_WORLD_ONLY, has_ground_truth
from aiprod.evaluate.classifier import classifier_stage
from aiprod.fsutil import write_json
from aiprod.runtime import resolve
from flows._common import run_stage
from flows._live import metrics_markdown


@flow(name="classifier")
def classifier_flow(config: AiprodConfig) -> dict:
    if not has_ground_truth(pd.read_parquet(config.ingest.manifest)):
        metrics = {"skipped": SHAPES_WORLD_ONLY}
        write_json(Path(config.classifier.out_dir) / "skipped.json", metrics)  # the stage's out
        write_json(config.classifier.metrics, metrics)
        get_run_logger().warning("classifier skipped: %s", SHAPES_WORLD_ONLY)
        return metrics
    runtime = resolve(config.runtime)
    metrics = classifier_stage(config.classifier, config.shards, config.ingest.manifest, runtime)
    write_json(config.classifier.metrics, metrics)
    get_run_logger().info("classifier: %s", metrics)
    create_markdown_artifact(
        key="shapes-classifier", markdown=metrics_markdown("Shapes classifier", metrics["held_out"])
    )
    return metrics


def main(argv: list[str] | None = None) -> int:
    return run_stage("classifier", classifier_flow, argv)


if __name__ == "__main__":
    raise SystemExit(main())
