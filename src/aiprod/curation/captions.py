"""Caption backends (sidecar files, a mapping table, a local VLM), merged per language."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from aiprod.config import CaptionConfig
from aiprod.curation.tags import localise, tag_keys
from aiprod.curation.truth import segment_of

Captions = dict[str, str]  # language -> text


def sidecar_captions(row: dict, default_language: str) -> Captions:
    """Captions from the sidecars that travelled with the clip.

    `<clip>.json`: the shapes world's segments (the clip's own segment), or a plain
    {"captions": {lang: text}} / {"caption": text}; `<clip>.txt`: text in `default_language`.
    """
    path = Path(row["path"])
    found: Captions = {}
    text_file = path.with_suffix(".txt")
    if text_file.exists() and (text := text_file.read_text(encoding="utf-8").strip()):
        found[default_language] = text
    json_file = path.with_suffix(".json")
    if json_file.exists():
        data = json.loads(json_file.read_text(encoding="utf-8"))
        segment = segment_of(data, row["start_frame"], row["end_frame"])
        if segment is not None:
            found.update(segment["captions"])
        elif isinstance(data.get("captions"), dict):
            found.update({k: str(v) for k, v in data["captions"].items() if v})
        elif data.get("caption"):
            found[default_language] = str(data["caption"])
    return found


def load_mapping(path: str) -> dict[str, Captions]:
    """A CSV/parquet of (clip_id or source, language, caption) rows -> {key: {lang: text}}."""
    table = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    key = "clip_id" if "clip_id" in table.columns else "source"
    missing = {key, "language", "caption"} - set(table.columns)
    if missing:
        raise ValueError(f"caption.mapping {path}: missing columns {sorted(missing)}")
    mapping: dict[str, Captions] = {}
    for item in table.itertuples(index=False):
        mapping.setdefault(str(getattr(item, key)), {})[item.language] = str(item.caption)
    return mapping


def merge_captions(
    row: dict,
    cfg: CaptionConfig,
    mapping: dict[str, Captions],
    vlm: Callable[[dict], Captions] | None,
) -> tuple[Captions, dict[str, str]]:
    """Per language, the first backend in `cfg.backends` order that has a caption wins."""
    captions: Captions = {}
    origin: dict[str, str] = {}
    for backend in cfg.backends:
        if backend == "sidecar":
            found = sidecar_captions(row, cfg.default_language)
        elif backend == "mapping":
            found = mapping.get(row["clip_id"]) or mapping.get(row["source"], {})
        else:
            found = vlm(row) if vlm is not None else {}
        for language, text in found.items():
            if language not in captions:
                captions[language], origin[language] = text, backend
    return captions, origin


def caption_record(
    row: dict,
    scores: dict,
    cfg: CaptionConfig,
    mapping: dict[str, Captions],
    vlm: Callable[[dict], Captions] | None,
) -> dict:
    """The captions table's row for one clip: captions by language, their origin, and tags."""
    captions, origin = merge_captions(row, cfg, mapping, vlm)
    keys = tag_keys(scores, cfg.tags)
    return {
        "clip_id": row["clip_id"],
        "languages": ",".join(sorted(captions)),
        "captions": json.dumps(captions, ensure_ascii=False, sort_keys=True),
        "caption_backends": json.dumps(origin, sort_keys=True),
        "caption_en": captions.get("en", ""),
        "tags": ",".join(keys),
        "tags_i18n": json.dumps(localise(keys), ensure_ascii=False, sort_keys=True),
    }


def uncaptioned_message(missing: int, clips: int, cfg: CaptionConfig) -> str:
    """What to say of clips no backend captioned ('' when there are none)."""
    if not missing:
        return ""
    what = f"{missing} of {clips} clips have no caption in any language (caption.backends: "
    what += f"{', '.join(cfg.backends)})"
    if cfg.uncaptioned == "stop":
        return (
            f"{what}; add a backend (a mapping file, a local VLM) or set "
            "caption.uncaptioned: unconditional"
        )
    return f"{what}: they train with the null text (caption.uncaptioned: unconditional)"
