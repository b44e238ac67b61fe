"""Stage `caption`: captions per language from sidecars / a mapping / a local VLM, plus tags."""

from __future__ import annotations

import json

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from tqdm import tqdm

from aiprod.config import AiprodConfig, CaptionConfig
from aiprod.curation.captions import load_mapping, merge_captions
from aiprod.curation.tags import localise, tag_keys
from aiprod.fsutil import write_parquet
from flows._common import run_stage


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

        vlm = VlmCaptioner(cfg.vlm.model_dir, cfg.vlm.frames, cfg.vlm.max_new_tokens,
                           cfg.vlm.language)
    rows = []
    for row in tqdm(manifest.to_dict("records"), desc="caption", unit="clip"):
        captions, origin = merge_captions(row, cfg, mapping, vlm)
        keys = tag_keys(scores.loc[row["clip_id"]].to_dict(), cfg.tags)
        rows.append({
            "clip_id": row["clip_id"],
            "languages": ",".join(sorted(captions)),
            "captions": json.dumps(captions, ensure_ascii=False, sort_keys=True),
            "caption_backends": json.dumps(origin, sort_keys=True),
            "caption_en": captions.get("en", ""),
            "tags": ",".join(keys),
            "tags_i18n": json.dumps(localise(keys), ensure_ascii=False, sort_keys=True),
        })
    table = pd.DataFrame(rows)
    write_parquet(cfg.output, table)
    captioned = int((table["languages"] != "").sum())
    logger.info("caption: %d clips, %d with captions", len(table), captioned)
    tag_counts = pd.Series(",".join(table["tags"]).split(",")).value_counts()
    create_markdown_artifact(key="caption-summary", markdown=(
        f"# Caption\n\n{len(table)} clips, {captioned} with captions.\n\n| tag | clips |\n"
        "| --- | ---: |\n" + "".join(f"| {k} | {v} |\n" for k, v in tag_counts.items())))
    return {"clips": len(table), "captioned": captioned}


def run(config: AiprodConfig) -> dict:
    return caption_flow(config.caption, config.ingest.manifest, config.score.output)


def main(argv: list[str] | None = None) -> int:
    return run_stage("caption", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
