"""Stage `caption`: captions per language from sidecars / a mapping / a local VLM, plus tags."""

from __future__ import annotations

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from tqdm import tqdm

from aiprod.config import AiprodConfig, CaptionConfig
from aiprod.curation.captions import caption_record, load_mapping, uncaptioned_message
from aiprod.fsutil import write_parquet
from flows._common import StageStopped, run_stage


@flow(name="caption")
def caption_flow(cfg: CaptionConfig, manifest_path: str, scores_path: str) -> dict:
    """One row per clip: captions by language, where each came from, and motion tags."""
    logger = get_run_logger()
    manifest = pd.read_parquet(manifest_path)
    scores = pd.read_parquet(scores_path).set_index("clip_id")
    mapping = load_mapping(cfg.mapping) if "mapping" in cfg.backends and cfg.mapping else {}
    vlm = None
    if "vlm" in cfg.backends:
        from aiprod.curation.vlm import VlmCaptioner

        vlm = VlmCaptioner(
            cfg.vlm.model_dir, cfg.vlm.frames, cfg.vlm.max_new_tokens, cfg.vlm.language
        )
    rows = [
        caption_record(row, scores.loc[row["clip_id"]].to_dict(), cfg, mapping, vlm)
        for row in tqdm(manifest.to_dict("records"), desc="caption", unit="clip")
    ]
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
    return caption_flow(config.caption, config.ingest.manifest, config.score.output)


def main(argv: list[str] | None = None) -> int:
    return run_stage("caption", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
