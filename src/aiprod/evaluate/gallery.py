"""`reports/gallery.html`: generated videos with their prompts, readable in any browser."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from aiprod.fsutil import atomic_write


@dataclass(frozen=True)
class GalleryItem:
    video: str  # path relative to the page
    caption: str
    language: str
    note: str = ""


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; background: #fafafa; color: #222; }
section { margin-bottom: 2em; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 1em; }
figure { margin: 0; background: #fff; padding: .6em; border: 1px solid #ddd; border-radius: 6px; }
video { width: 100%; image-rendering: pixelated; background: #000; }
figcaption { font-size: .85em; margin-top: .4em; }
.lang { font-weight: 600; color: #555; text-transform: uppercase; margin-right: .4em; }
.note { color: #777; display: block; margin-top: .3em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .25em .6em; }
"""


def _figure(item: GalleryItem) -> str:
    note = f'<span class="note">{html.escape(item.note)}</span>' if item.note else ""
    return (
        f'<figure><video src="{html.escape(item.video)}" autoplay loop muted playsinline></video>'
        f'<figcaption><span class="lang">{html.escape(item.language)}</span>'
        f"{html.escape(item.caption)}{note}</figcaption></figure>"
    )


def _table(rows: list[dict]) -> str:
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for row in rows for k in row))  # a short row leaves blanks
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row.get(k, '')))}</td>" for k in columns) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_gallery(
    path: str | Path, sections: dict[str, list[GalleryItem]], tables: dict[str, list[dict]]
) -> Path:
    parts = [
        f"<section><h2>{html.escape(t)}</h2>{_table(rows)}</section>" for t, rows in tables.items()
    ]
    parts += [
        f'<section><h2>{html.escape(title)}</h2><div class="grid">'
        + "".join(_figure(item) for item in items)
        + "</div></section>"
        for title, items in sections.items()
    ]
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>AIPROD gallery</title><style>{STYLE}</style></head><body>"
        "<h1>AIPROD: generated samples</h1>" + "".join(parts) + "</body></html>"
    )
    return atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
