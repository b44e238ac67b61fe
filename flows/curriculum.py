"""Stage `curriculum`: difficulty and quality, five phases by hour budgets, the curator report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig, CurriculumConfig
from aiprod.curation.curriculum import assign_phases, curriculum_metrics
from aiprod.curation.report import report_markdown, write_report
from aiprod.fsutil import write_json, write_parquet
from flows._common import run_stage


def read_hard_examples(cfg: CurriculumConfig) -> dict[int, list[str]]:
    """Clip ids per phase from the mining stage's tables (hardest first)."""
    return {
        phase: pd.read_parquet(path)["clip_id"].tolist()
        for phase, path in cfg.hard_examples.items()
    }


@flow(name="curriculum")
def curriculum_flow(cfg: CurriculumConfig, manifest_path: str, scores_path: str) -> dict:
    """Assign phases, write the table, the metrics (DVC) and the curator report."""
    logger = get_run_logger()
    manifest = pd.read_parquet(manifest_path)
    scores = pd.read_parquet(scores_path)
    table = assign_phases(scores, cfg, read_hard_examples(cfg))
    write_parquet(cfg.output, table)
    metrics = curriculum_metrics(scores, table, cfg)
    write_json(cfg.metrics, metrics)
    write_report(Path(cfg.report), scores, table, manifest, metrics)
    create_markdown_artifact(key="curation-report", markdown=report_markdown(metrics, scores))
    logger.info("curriculum: %s", metrics)
    return metrics


def run(config: AiprodConfig) -> dict:
    return curriculum_flow(config.curriculum, config.ingest.manifest, config.score.output)


def main(argv: list[str] | None = None) -> int:
    return run_stage("curriculum", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
