"""The ingest manifest and quarantine tables, the pruning of stale clips, and the run summary."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from aiprod.fsutil import write_parquet
from aiprod.ingest.pipeline import MANIFEST_COLUMNS, MARKERS, SourceResult

QUARANTINE_COLUMNS = ["source", "sha256", "reason"]


def mark_duplicates(results: list[SourceResult]) -> list[SourceResult]:
    """A second file with the same bytes would give the same clip ids: quarantine it."""
    first: dict[str, str] = {}
    for result in results:
        if result.sha256 is None or result.reason is not None:
            continue
        if result.sha256 in first:
            result.reason = f"duplicate of {first[result.sha256]} (same sha256)"
            result.rows = []
        else:
            first[result.sha256] = result.url
    return results


def manifest_frame(results: list[SourceResult]) -> pd.DataFrame:
    """One row per clip, ordered by source and time: identical however the run was split.

    The columns come in one fixed order: rows resumed from markers (JSON, keys sorted) and
    rows made in this run give the same bytes."""
    rows = [row for result in results for row in result.rows]
    extra = sorted({key for row in rows for key in row} - set(MANIFEST_COLUMNS))
    frame = pd.DataFrame(rows, columns=[*MANIFEST_COLUMNS, *extra])
    if frame.empty:
        return frame
    return frame.sort_values(["source", "start_time"], kind="stable").reset_index(drop=True)


def quarantine_frame(results: list[SourceResult]) -> pd.DataFrame:
    """One row per file that gave no clips, with the reason."""
    rows = [
        {"source": r.url, "sha256": r.sha256 or "", "reason": r.reason}
        for r in results
        if r.reason is not None
    ]
    return pd.DataFrame(rows, columns=QUARANTINE_COLUMNS).sort_values("source", kind="stable")


def write_tables(
    results: list[SourceResult], manifest: Path, quarantine: Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write both tables atomically; return them."""
    clips, bad = manifest_frame(results), quarantine_frame(results)
    write_parquet(manifest, clips)
    write_parquet(quarantine, bad.reset_index(drop=True))
    return clips, bad


def prune_clips(clips_dir: Path, clips: pd.DataFrame, results: list[SourceResult]) -> int:
    """Delete clips and markers this run did not produce (old settings, removed sources)."""
    keep_ids = set(clips["clip_id"]) if not clips.empty else set()
    keep_markers = {f"{r.sha256[:32]}.json" for r in results if r.sha256}
    removed = 0
    for path in clips_dir.iterdir():
        if path.is_file() and path.name.split(".")[0] not in keep_ids:
            path.unlink()
            removed += 1
    markers = clips_dir / MARKERS
    if markers.is_dir():
        for path in markers.iterdir():
            if path.name not in keep_markers:
                path.unlink()
                removed += 1
    return removed


def summary_markdown(clips: pd.DataFrame, bad: pd.DataFrame, sources: int, resumed: int) -> str:
    """The Prefect artifact: files in, clips out, hours, quarantined files with reasons."""
    hours = float(clips["duration"].sum()) / 3600 if not clips.empty else 0.0
    lines = [
        "# Ingest",
        "",
        "| files in | resumed | clips out | hours | quarantined |",
        "| ---: | ---: | ---: | ---: | ---: |",
        f"| {sources} | {resumed} | {len(clips)} | {hours:.4f} | {len(bad)} |",
    ]
    if not bad.empty:
        lines += ["", "## Quarantined", "", "| file | reason |", "| --- | --- |"]
        lines += [f"| `{row.source}` | {row.reason} |" for row in bad.itertuples()]
    return "\n".join(lines) + "\n"
