"""Stage `sources`: list what `ingest.sources` holds, so ingest re-runs when a file changes."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from aiprod.config import AiprodConfig
from aiprod.fsutil import write_json
from aiprod.ingest.listing import HashState, list_sources
from flows._common import StageStopped, run_stage


@flow(name="sources")
def sources_flow(config: AiprodConfig) -> dict:
    """Write `ingest.listing`: every matched file with its size and content hash."""
    logger = get_run_logger()
    cfg = config.ingest
    state = HashState(Path(config.engine.cache_dir) / "source-hashes.json")
    try:
        rows = list_sources(cfg.sources, cfg.extensions, state)
    except FileNotFoundError as error:
        raise StageStopped(str(error)) from None
    write_json(cfg.listing, {"sources": cfg.sources, "files": rows})
    state.save()
    total = sum(row["bytes"] for row in rows)
    logger.info("sources: %d files, %.1f MB in %s", len(rows), total / 1e6, cfg.sources)
    return {"files": len(rows), "bytes": total}


def main(argv: list[str] | None = None) -> int:
    return run_stage("sources", sources_flow, argv)


if __name__ == "__main__":
    raise SystemExit(main())
