"""The video-domain vocabulary (camera, lens, lighting, motion terms) in nine languages."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def _data() -> dict:
    return json.loads(
        resources.files("aiprod.data").joinpath("video_terms.json").read_text("utf-8")
    )


@cache
def video_terms() -> dict[str, dict[str, str]]:
    """{term key: {language: term}} from the packaged data file: the form tags are written in."""
    languages = _data()["languages"]
    return {
        key: dict(zip(languages, forms, strict=True)) for key, forms in _data()["terms"].items()
    }


@cache
def term_forms() -> dict[str, list[str]]:
    """{term key: every form in every language}: the term itself and the other surface forms
    captions write it in ("pans left", "schwenkt nach links"), each a token of that term."""
    aliases = _data().get("aliases", {})
    return {
        key: [*forms.values(), *(a for by_lang in aliases.get(key, {}).values() for a in by_lang)]
        for key, forms in video_terms().items()
    }


@cache
def forms_by_language() -> dict[str, dict[str, list[str]]]:
    """{term key: {language: [the term, then its other surface forms]}}."""
    aliases = _data().get("aliases", {})
    return {
        key: {lang: [form, *aliases.get(key, {}).get(lang, [])] for lang, form in forms.items()}
        for key, forms in video_terms().items()
    }


def term(key: str, language: str) -> str:
    """One term in one language; KeyError names what is missing."""
    return video_terms()[key][language]
