"""The video-domain vocabulary (camera, lens, lighting, motion terms) in nine languages."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def video_terms() -> dict[str, dict[str, str]]:
    """{term key: {language: term}} from the packaged data file."""
    data = json.loads(
        resources.files("aiprod.data").joinpath("video_terms.json").read_text("utf-8")
    )
    languages = data["languages"]
    return {key: dict(zip(languages, forms, strict=True)) for key, forms in data["terms"].items()}


def term(key: str, language: str) -> str:
    """One term in one language; KeyError names what is missing."""
    return video_terms()[key][language]
