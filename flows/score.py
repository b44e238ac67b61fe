"""Stage `score`: motion, camera, picture quality and duplicates for every clip; keep/reject."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from tqdm import tqdm

from aiprod.config import AiprodConfig, ScoreConfig
from aiprod.curation.clip_scores import add_clip_scores
from aiprod.curation.score import camera_accuracy, judge, score_clip
from aiprod.fsutil import write_json, write_parquet
from flows._common import as_completed_results, run_stage


@task(cache_policy=NO_CACHE, task_run_name="score {row[clip_id]}")
def score_one(row: dict, cfg: ScoreConfig) -> dict:
    return score_clip(row, cfg)


@flow(name="score")
def score_flow(cfg: ScoreConfig, manifest_path: str) -> dict:
    """Score every clip in the ingest manifest, judge the table, write scores and metrics."""
    logger = get_run_logger()
    manifest = pd.read_parquet(manifest_path)
    Path(cfg.flow_dir).mkdir(parents=True, exist_ok=True)
    futures = [score_one.submit(row, cfg) for row in manifest.to_dict("records")]
    rows = list(tqdm(as_completed_results(futures), total=len(futures), desc="score", unit="clip"))
    scores = pd.DataFrame(rows).set_index("clip_id").loc[manifest["clip_id"]].reset_index()
    scores["duration"] = manifest["duration"].to_numpy()
    if cfg.clip.enabled:
        scores = add_clip_scores(scores, manifest, cfg.clip)
    scores = judge(scores, cfg)
    write_parquet(cfg.output, scores)
    metrics = {**camera_accuracy(scores), "clips": len(scores), "kept": int(scores["keep"].sum())}
    write_json(cfg.metrics, metrics)
    rejected = scores[~scores["keep"]]
    logger.info(
        "score: %d clips, %d kept, camera accuracy %s",
        len(scores),
        metrics["kept"],
        metrics["camera_accuracy"],
    )
    lines = [
        "# Score",
        "",
        f"{len(scores)} clips, {metrics['kept']} kept.",
        "",
        "| clip | reasons |",
        "| --- | --- |",
    ]
    lines += [f"| `{r.clip_id}` | {r.reasons} |" for r in rejected.itertuples()]
    create_markdown_artifact(key="score-summary", markdown="\n".join(lines) + "\n")
    return metrics


def run(config: AiprodConfig) -> dict:
    runner = ThreadPoolTaskRunner(max_workers=config.score.workers())
    return score_flow.with_options(task_runner=runner)(config.score, config.ingest.manifest)


def main(argv: list[str] | None = None) -> int:
    return run_stage("score", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
