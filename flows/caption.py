"""Stage `caption`: captions per language from sidecars / a mapping / a local VLM, plus tags."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from tqdm import tqdm

from aiprod.config import AiprodConfig, CaptionConfig, EngineConfig, RuntimeConfig
from aiprod.config.curation import VlmConfig
from aiprod.curation.captions import caption_record, load_mapping, uncaptioned_message
from aiprod.fsutil import fingerprint, sha256_file, write_parquet
from flows._common import StageStopped, as_completed_results, run_stage
from flows._engine import ClipWork, clip_cache, clip_reads, prune_cache, task_runner

CAPTION_CODE = ("curation", "synth", "vocabulary", "data", "video")
_LOADING = threading.Lock()  # one load of the mapping / the VLM per worker process


@cache
def _mapping(path: str) -> dict:
    return load_mapping(path)


@cache
def _captioner(vlm_json: str, runtime_json: str) -> object:
    from aiprod.curation.vlm import VlmCaptioner
    from aiprod.runtime import resolve

    v = VlmConfig.model_validate_json(vlm_json)
    runtime = resolve(RuntimeConfig.model_validate_json(runtime_json))
    return VlmCaptioner(v.model_dir, v.frames, v.max_new_tokens, v.language, v.prompt, runtime)


def _backends(cfg: CaptionConfig, runtime: RuntimeConfig) -> tuple[dict, object | None]:
    """The mapping table and the VLM (on `runtime`'s device and precision), loaded once per
    worker process and shared by its tasks."""
    with _LOADING:
        mapping = _mapping(cfg.mapping) if "mapping" in cfg.backends and cfg.mapping else {}
        vlm = None
        if "vlm" in cfg.backends:
            vlm = _captioner(cfg.vlm.model_dump_json(), runtime.model_dump_json())
    return mapping, vlm


@task(task_run_name="caption {rows[0][clip_id]}")
def caption_batch(
    rows: list[dict],
    measured: list[dict],
    cfg: CaptionConfig,
    runtime: RuntimeConfig,
    backends_digest: str,
) -> list[dict]:
    """Captions and tags of a few clips (one clip, or `caption.vlm.batch_size` with a VLM: one
    `generate` call). `backends_digest` (the mapping file and the VLM's files) is only part of
    the cache key: an edited mapping or a new model re-captions."""
    mapping, vlm = _backends(cfg, runtime)
    answers = {}
    if vlm is not None:
        answers = dict(zip([r["clip_id"] for r in rows], vlm.caption_clips(rows), strict=True))
    return [
        caption_record(row, scores, cfg, mapping, lambda r: answers.get(r["clip_id"], {}))
        for row, scores in zip(rows, measured, strict=True)
    ]


def backends_digest(cfg: CaptionConfig) -> str:
    """What the mapping file and the VLM folder hold (their files' sizes and times for the
    VLM: hashing gigabytes of weights per run would cost more than captioning)."""
    parts: dict[str, object] = {}
    if "mapping" in cfg.backends and cfg.mapping:
        parts["mapping"] = sha256_file(cfg.mapping)
    if "vlm" in cfg.backends and Path(cfg.vlm.model_dir).is_dir():
        files = sorted(p for p in Path(cfg.vlm.model_dir).rglob("*") if p.is_file())
        parts["vlm"] = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return fingerprint(parts, [])


@flow(name="caption")
def caption_flow(
    cfg: CaptionConfig,
    manifest_path: str,
    scores_path: str,
    engine: EngineConfig,
    runtime: RuntimeConfig,
) -> dict:
    """One row per clip: captions by language, where each came from, and motion tags.

    Per-clip results are cached under `engine.cache_dir`, so a killed run resumes."""
    logger = get_run_logger()
    manifest = pd.read_parquet(manifest_path)
    scores = {r["clip_id"]: r for r in pd.read_parquet(scores_path).to_dict("records")}
    digest = backends_digest(cfg)
    policy = ClipWork(
        packages=CAPTION_CODE,
        reads=lambda inputs: [path for row in inputs["rows"] for path in clip_reads(row)],
    )
    cached = caption_batch.with_options(**clip_cache(engine, "caption", policy))
    records = manifest.to_dict("records")
    size = cfg.vlm.batch_size if "vlm" in cfg.backends else 1
    futures = []
    for start in range(0, len(records), size):
        rows = records[start : start + size]
        measured = [scores[row["clip_id"]] for row in rows]
        futures.append(cached.submit(rows, measured, cfg, runtime, digest))
    done = tqdm(as_completed_results(futures), total=len(futures), desc="caption", unit="task")
    by_id = {record["clip_id"]: record for batch in done for record in batch}
    rows = [by_id[row["clip_id"]] for row in records]
    logger.info(
        "caption: %d unused cached results removed", prune_cache(engine, "caption", futures)
    )
    table = pd.DataFrame(rows)
    captioned = int((table["languages"] != "").sum()) if len(table) else 0
    message = uncaptioned_message(len(table) - captioned, len(table), cfg)
    if message and cfg.uncaptioned == "stop":
        raise StageStopped(message)  # before anything is written
    write_parquet(cfg.output, table)
    if message:
        logger.warning(message)
    logger.info("caption: %d clips, %d with captions", len(table), captioned)
    tag_counts = pd.Series(",".join(table["tags"]).split(",")).value_counts()
    create_markdown_artifact(
        key="caption-summary",
        markdown=(
            f"# Caption\n\n{len(table)} clips, {captioned} with captions.\n\n| tag | clips |\n"
            "| --- | ---: |\n" + "".join(f"| {k} | {v} |\n" for k, v in tag_counts.items())
        ),
    )
    return {"clips": len(table), "captioned": captioned}


def run(config: AiprodConfig) -> dict:
    runner = task_runner(config.engine, config.caption.workers())
    return caption_flow.with_options(task_runner=runner)(
        config.caption, config.ingest.manifest, config.score.output, config.engine, config.runtime
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("caption", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
