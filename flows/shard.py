"""Stages `shard_phase1` .. `shard_phase5`: one phase's clips into WebDataset tars."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.shards.samples import build_samples, phase_members
from aiprod.shards.writer import write_shards
from flows._common import phase_stage_main


@flow(name="shard", flow_run_name="shard-phase{phase}")
def shard_flow(config: AiprodConfig, phase: int) -> dict:
    """Write `<shards.dir>/phase<phase>/shard-*.tar` and its index."""
    logger = get_run_logger()
    curriculum = pd.read_parquet(config.curriculum.output)
    members = phase_members(curriculum, phase, config.shards.seed)
    samples = build_samples(
        members,
        pd.read_parquet(config.ingest.manifest),
        pd.read_parquet(config.score.output),
        pd.read_parquet(config.caption.output),
    )
    out_dir = Path(config.shards.dir) / f"phase{phase}"
    index = write_shards(samples, out_dir, config.shards.max_count, config.shards.max_bytes)
    shards = index["shard"].nunique()
    logger.info("phase %d: %d samples in %d shards under %s", phase, len(index), shards, out_dir)
    create_markdown_artifact(
        key=f"shards-phase{phase}",
        markdown=(
            f"# Shards, phase {phase}\n\n{len(index)} samples in {shards} shards, `{out_dir}`.\n"
        ),
    )
    return {"samples": len(index), "shards": shards}


def main(argv: list[str] | None = None) -> int:
    return phase_stage_main("shard", shard_flow, argv, phases=range(1, 6))


if __name__ == "__main__":
    raise SystemExit(main())
