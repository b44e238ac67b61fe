"""The curator report: filter yields, score histograms, phase sizes, thumbnails, rejections."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import cv2
import pandas as pd
from matplotlib.figure import Figure  # the object API: no pyplot state, no display backend

from aiprod.fsutil import atomic_write
from aiprod.video.decode import read_clip

HISTOGRAMS = [
    "motion_p95",
    "object_motion",
    "sharpness",
    "luma_mean",
    "lighting_change",
    "flicker",
    "edge_density",
    "difficulty",
    "quality",
]
THUMBS_PER_PHASE = 8


def filter_yield(scores: pd.DataFrame) -> pd.DataFrame:
    """How many clips each rule rejected (a clip may fail several), and the overall yield."""
    kinds = scores["reasons"].str.split("; ").explode().str.split(":").str[0]
    kinds = kinds[kinds.str.len() > 0].str.replace(
        r"near-duplicate of .*", "near-duplicate", regex=True
    )
    table = kinds.value_counts().rename_axis("rule").reset_index(name="rejected")
    total = pd.DataFrame(
        [{"rule": "kept (all rules passed)", "rejected": int(scores["keep"].sum())}]
    )
    return pd.concat([table, total], ignore_index=True)


def _data_uri(data: bytes, kind: str) -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def _histograms(scores: pd.DataFrame) -> list[tuple[str, str]]:
    """(title, PNG data URI) per score."""
    images = []
    for column in HISTOGRAMS:
        if column not in scores or scores[column].dropna().empty:
            continue
        figure = Figure(figsize=(4, 2.6), dpi=80)
        axis = figure.subplots()
        axis.hist(scores[column].dropna(), bins=20, color="#4472c4")
        axis.set_title(column)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        images.append((column, _data_uri(buffer.getvalue(), "png")))
    return images


def _thumbnails(members: pd.DataFrame, manifest: pd.DataFrame) -> dict[int, list[tuple[str, str]]]:
    """(clip id, JPEG data URI of the middle frame) for the first clips of each phase."""
    paths = manifest.set_index("clip_id")["path"]
    thumbs: dict[int, list[tuple[str, str]]] = {}
    for phase, group in members.groupby("phase"):
        for clip_id in group["clip_id"].head(THUMBS_PER_PHASE):
            frames = read_clip(paths[clip_id])
            ok, jpeg = cv2.imencode(".jpg", frames[len(frames) // 2])
            thumbs.setdefault(int(phase), []).append((clip_id, _data_uri(jpeg.tobytes(), "jpeg")))
    return thumbs


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, float_format=lambda v: f"{v:.4g}")


def write_report(
    path: Path,
    scores: pd.DataFrame,
    curriculum: pd.DataFrame,
    manifest: pd.DataFrame,
    metrics: dict,
) -> Path:
    """Write `path`: one self-contained HTML page (images inlined), so DVC tracks one file."""
    merged = scores.merge(
        curriculum.drop_duplicates("clip_id")[["clip_id", "difficulty", "quality"]],
        on="clip_id",
        how="left",
    )
    histograms = _histograms(merged)
    thumbs = _thumbnails(curriculum, manifest)
    phases = (
        curriculum.groupby(["phase", "role"])
        .agg(clips=("clip_id", "count"), hours=("duration", lambda d: d.sum() / 3600))
        .reset_index()
    )
    rejected = scores.loc[~scores["keep"], ["clip_id", "reasons"]]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>AIPROD curation</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px}img{margin:3px}</style></head><body>",
        "<h1>AIPROD curation report</h1>",
        "<h2>Metrics</h2>",
        _table(pd.DataFrame([metrics])),
        "<h2>Filter yield</h2>",
        _table(filter_yield(scores)),
        "<h2>Phases</h2>",
        _table(phases),
        "<h2>Score histograms</h2>",
        "".join(f"<img src='{uri}' alt='{title}' title='{title}'>" for title, uri in histograms),
        "<h2>Thumbnails by phase</h2>",
    ]
    for phase, names in sorted(thumbs.items()):
        label = "unused (over budget)" if phase == 0 else f"phase {phase}"
        parts.append(
            f"<h3>{label}</h3>"
            + "".join(
                f"<img src='{uri}' width='128' alt='{clip}' title='{clip}'>" for clip, uri in names
            )
        )
    parts += ["<h2>Rejected clips</h2>", _table(rejected), "</body></html>"]
    text = "\n".join(parts)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def report_markdown(metrics: dict, scores: pd.DataFrame) -> str:
    """The Prefect artifact version of the report."""
    lines = ["# Curation", "", "| metric | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in metrics.items()]
    lines += ["", "## Filter yield", "", "| rule | clips |", "| --- | ---: |"]
    lines += [
        f"| {html.escape(str(r.rule))} | {r.rejected} |" for r in filter_yield(scores).itertuples()
    ]
    return "\n".join(lines) + "\n"
