"""Stages `shard_phase1` .. `shard_phase5`: one phase's clips into WebDataset tars."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from aiprod.config import AiprodConfig
from aiprod.shards.samples import SampleRef, phase_members, sample_refs
from aiprod.shards.writer import finish_shards, plan_shards, write_shard
from flows._common import as_completed_results, phase_stage_main
from flows._engine import task_runner


@task(cache_policy=NO_CACHE, task_run_name="shard {number}")
def write_one(out_dir: str, number: int, refs: list[SampleRef]) -> list[dict]:
    """One tar: the worker reads the clips and flows it packs (only paths travel)."""
    return write_shard(out_dir, number, [ref.load() for ref in refs])


@flow(name="shard", flow_run_name="shard-phase{phase}")
def shard_flow(config: AiprodConfig, phase: int) -> dict:
    """Write `<shards.dir>/phase<phase>/shard-*.tar` and its index.

    Shards are planned here from file sizes (the same cut by count and bytes as writing them
    in order), then written in parallel; the bytes do not depend on the runner."""
    logger = get_run_logger()
    curriculum = pd.read_parquet(config.curriculum.output)
    members = phase_members(curriculum, phase, config.shards.seed)
    refs = sample_refs(
        members,
        pd.read_parquet(config.ingest.manifest),
        pd.read_parquet(config.score.output),
        pd.read_parquet(config.caption.output),
    )
    plan = plan_shards(refs, config.shards.max_count, config.shards.max_bytes)
    out_dir = Path(config.shards.dir) / f"phase{phase}"
    out_dir.mkdir(parents=True, exist_ok=True)
    futures = [write_one.submit(str(out_dir), n, shard) for n, shard in enumerate(plan)]
    rows = sorted(
        (row for rows in as_completed_results(futures) for row in rows),
        key=lambda row: (row["shard"], row["position"]),
    )
    names = sorted({row["shard"] for row in rows})
    index = finish_shards(out_dir, names, rows)
    shards = len(names)
    logger.info("phase %d: %d samples in %d shards under %s", phase, len(index), shards, out_dir)
    create_markdown_artifact(
        key=f"shards-phase{phase}",
        markdown=(
            f"# Shards, phase {phase}\n\n{len(index)} samples in {shards} shards, `{out_dir}`.\n"
        ),
    )
    return {"samples": len(index), "shards": shards}


def run(config: AiprodConfig, phase: int) -> dict:
    runner = task_runner(config.engine, config.ingest.workers())
    return shard_flow.with_options(task_runner=runner)(config, phase)


def main(argv: list[str] | None = None) -> int:
    return phase_stage_main("shard", run, argv, phases=range(1, 6))


if __name__ == "__main__":
    raise SystemExit(main())
