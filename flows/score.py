"""Stage `score`: motion, camera, picture quality and duplicates for every clip; keep/reject."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from tqdm import tqdm

from aiprod.config import AiprodConfig, EngineConfig, ScoreConfig
from aiprod.curation.clip_scores import add_clip_scores
from aiprod.curation.score import camera_accuracy, judge, prune_flows, score_clip
from aiprod.fsutil import sha256_file, write_json, write_parquet
from flows._common import as_completed_results, run_stage
from flows._engine import ClipWork, clip_cache, clip_reads, prune_cache, task_runner

FLOW_SHA = "_flow_sha256"  # what the task wrote, so a cached result is checked against the disk
SCORE_CODE = ("curation", "synth", "video")


@task(task_run_name="score {row[clip_id]}")
def score_one(row: dict, cfg: ScoreConfig) -> dict:
    """One clip's scores and its stored flow (the flow's hash rides along in the result)."""
    scores = score_clip(row, cfg)
    return {**scores, FLOW_SHA: sha256_file(scores["flow_path"])}


def _flow_intact(result: dict) -> bool:
    path = Path(result["flow_path"])
    return path.is_file() and sha256_file(path) == result[FLOW_SHA]


@flow(name="score")
def score_flow(cfg: ScoreConfig, manifest_path: str, engine: EngineConfig) -> dict:
    """Score every clip in the ingest manifest, judge the table, write scores and metrics.

    Per-clip results are cached under `engine.cache_dir`: a re-run (or a run resumed after a
    kill) scores only the clips not done yet; a cached clip whose flow file is gone or was
    overwritten since is scored again."""
    logger = get_run_logger()
    manifest = pd.read_parquet(manifest_path)
    Path(cfg.flow_dir).mkdir(parents=True, exist_ok=True)
    policy = ClipWork(packages=SCORE_CODE, reads=lambda inputs: clip_reads(inputs["row"]))
    cached = score_one.with_options(**clip_cache(engine, "score", policy))
    records = manifest.to_dict("records")
    futures = [cached.submit(row, cfg) for row in records]
    rows = list(tqdm(as_completed_results(futures), total=len(futures), desc="score", unit="clip"))
    stale = {r["clip_id"] for r in rows if not _flow_intact(r)}
    if stale:
        logger.info("score: %d cached clips lost their flow file; scoring them again", len(stale))
        again = cached.with_options(refresh_cache=True)
        redo = [again.submit(row, cfg) for row in records if row["clip_id"] in stale]
        rows = [r for r in rows if r["clip_id"] not in stale] + [f.result() for f in redo]
    removed = prune_flows(Path(cfg.flow_dir), set(manifest["clip_id"]))
    dropped = prune_cache(engine, "score", futures)
    logger.info("score: %d stale flow files, %d unused cached results removed", removed, dropped)
    scores = pd.DataFrame(rows).drop(columns=FLOW_SHA)
    scores = scores.set_index("clip_id").loc[manifest["clip_id"]].reset_index()
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
    runner = task_runner(config.engine, config.score.workers())
    return score_flow.with_options(task_runner=runner)(
        config.score, config.ingest.manifest, config.engine
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("score", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
