"""Stage `ingest`: sources -> normalised fixed-length clips, manifest and quarantine."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from tqdm import tqdm

from aiprod.config import EngineConfig, IngestConfig
from aiprod.ingest.manifest import mark_duplicates, prune_clips, summary_markdown, write_tables
from aiprod.ingest.pipeline import SourceResult, ingest_source
from aiprod.ingest.sources import Source, discover, largest_first
from flows._common import as_completed_results, run_stage
from flows._engine import task_runner


@task(cache_policy=NO_CACHE, task_run_name="ingest {source.url}")
def ingest_file(source: Source, cfg: IngestConfig) -> SourceResult:
    """One source file; resumes from its marker when it was already done."""
    return ingest_source(source, cfg, Path(cfg.clips_dir))


@flow(name="ingest")
def ingest_flow(cfg: IngestConfig) -> dict:
    """Fan sources out over a thread pool, then write the tables and drop stale clips."""
    logger = get_run_logger()
    sources = discover(cfg.sources, cfg.extensions)
    logger.info("ingest: %d source files, %d at a time", len(sources), cfg.workers())
    clips_dir = Path(cfg.clips_dir)
    clips_dir.mkdir(parents=True, exist_ok=True)
    futures = [ingest_file.submit(source, cfg) for source in largest_first(sources)]
    progress = tqdm(as_completed_results(futures), total=len(futures), desc="ingest", unit="file")
    results = list(progress)
    results = mark_duplicates(sorted(results, key=lambda r: r.url))
    clips, bad = write_tables(results, Path(cfg.manifest), Path(cfg.quarantine))
    removed = prune_clips(clips_dir, clips, results)
    resumed = sum(r.resumed for r in results)
    for row in bad.itertuples():
        logger.warning("quarantined %s: %s", row.source, row.reason)
    logger.info(
        "ingest: %d clips, %d quarantined, %d resumed, %d stale removed",
        len(clips),
        len(bad),
        resumed,
        removed,
    )
    create_markdown_artifact(
        key="ingest-summary", markdown=summary_markdown(clips, bad, len(sources), resumed)
    )
    return {"clips": len(clips), "quarantined": len(bad), "resumed": resumed}


def run(cfg: IngestConfig, engine: EngineConfig | None = None) -> dict:
    """Run the flow on `engine`'s runner (locally: `cfg.concurrency` files at once)."""
    runner = task_runner(engine or EngineConfig(), cfg.workers())
    return ingest_flow.with_options(task_runner=runner)(cfg)


def main(argv: list[str] | None = None) -> int:
    return run_stage("ingest", lambda config: run(config.ingest, config.engine), argv)


if __name__ == "__main__":
    raise SystemExit(main())
