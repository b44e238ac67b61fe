"""Mirror augmentation: a training window flipped left to right, its captions' left and right
swapped, as a second training window.

The shapes world (and most footage) has no handedness, so a mirrored window is as true as
the original once the words agree with it: the demo's phase 1 had 402 training windows for
3,500 steps, and its loss on held-out clips of the same difficulty was 3.3 times the loss on
the training clips. Words are swapped only through the vocabulary's terms ("to the left" <->
"to the right", "Schwenk nach links" <-> "Schwenk nach rechts"); a caption that says left or
right in any other way, or in a language without a word list here, is not mirrored, so a
mirrored caption is never wrong, only sometimes missing. Mirrored text on screen or
handed subjects (a clock, writing) are the caveats for real footage: `encode.mirror` is off
by default.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from functools import cache

import numpy as np
import torch

from aiprod.nn.text import ByteTokenizer
from aiprod.train.data import PixelWindow
from aiprod.vocabulary import forms_by_language

# words that still say left or right after the terms are swapped: the caption is not mirrored
LATERAL = {
    "en": r"\b(?:left|right)",
    "zh": r"[左右]",
    "es": r"izquierd|derech",
    "fr": r"gauche|droit",
    "ja": r"[左右]",
    "de": r"link|recht",
    "it": r"sinistr|destr",
    "pt": r"esquerd|direit",
    "ru": r"лев|прав",
}
LATERAL_PATTERNS = {language: re.compile(p, re.IGNORECASE) for language, p in LATERAL.items()}
MIRRORED_KEY = "_mirror"  # appended to a window's key


def mirrored_key(key: str) -> str | None:
    """The term key with left and right exchanged ("pan_left" -> "pan_right"), or None when
    the key has no side."""
    parts = key.split("_")
    swapped = [{"left": "right", "right": "left"}.get(part, part) for part in parts]
    return "_".join(swapped) if swapped != parts else None


@cache
def form_swaps() -> dict[str, dict[str, str]]:
    """{language: {form: the mirrored term's form}}: the term for the term, an alias for the
    alias at the same place where the mirrored term has one."""
    terms = forms_by_language()
    swaps: dict[str, dict[str, str]] = {}
    for key, by_language in terms.items():
        other = mirrored_key(key)
        if other is None or other not in terms:
            continue
        for language, forms in by_language.items():
            targets = terms[other][language]
            for k, form in enumerate(forms):
                swaps.setdefault(language, {})[form] = targets[k if k < len(targets) else 0]
    return swaps


@cache
def _tokenizer() -> ByteTokenizer:
    return ByteTokenizer()


def mirror_text(text: str, language: str) -> str | None:
    """`text` with every side term swapped; None when it says left or right otherwise."""
    if not text:
        return text
    lateral = LATERAL_PATTERNS.get(language)
    if lateral is None:
        return None
    swaps = form_swaps().get(language, {})
    pattern = _tokenizer().pattern
    pieces, kept, position = [], [], 0
    for match in pattern.finditer(text) if pattern is not None else ():
        form = match.group(0)
        pieces.append(text[position : match.start()])
        kept.append(text[position : match.start()])
        if form in swaps:
            pieces.append(swaps[form])
        else:
            pieces.append(form)
            kept.append(form)
        position = match.end()
    pieces.append(text[position:])
    kept.append(text[position:])
    if lateral.search(" ".join(kept)):
        return None
    return "".join(pieces)


def mirror_meta(meta: dict) -> dict | None:
    """A window's sidecar with captions, tags and camera label mirrored; None when a caption
    cannot be."""
    out = copy.deepcopy(meta)
    captions = {}
    for language, text in meta.get("captions", {}).items():
        if (mirrored := mirror_text(text, language)) is None:
            return None
        captions[language] = mirrored
    out["captions"] = captions
    tags = out.get("tags", {})
    if "keys" in tags:
        tags["keys"] = [mirrored_key(k) or k for k in tags["keys"]]
    for language, found in tags.get("terms", {}).items():
        swaps = form_swaps().get(language, {})
        tags["terms"][language] = [swaps.get(term, term) for term in found]
    scores = out.get("scores", {})
    if isinstance(scores.get("camera"), str):
        scores["camera"] = mirrored_key(scores["camera"]) or scores["camera"]
    out["mirrored"] = True
    return out


def mirror_flow(flow: np.ndarray) -> np.ndarray:
    """(P, 2, h, w) flow of the flipped frames: columns reversed, horizontal component negated."""
    out = flow[..., ::-1].copy()
    out[:, 0] *= -1
    return out


def mirror_window(window: PixelWindow) -> PixelWindow | None:
    """The window flipped left to right, or None when its captions cannot follow."""
    meta = mirror_meta(window.meta)
    if meta is None:
        return None
    return replace(
        window,
        key=window.key + MIRRORED_KEY,
        video=torch.flip(window.video, dims=[3]).contiguous(),
        flow=mirror_flow(window.flow),
        meta=meta,
    )


def with_mirrors(windows: Iterable[PixelWindow]) -> Iterator[PixelWindow]:
    """Each window, then its mirror where its captions allow one."""
    for window in windows:
        yield window
        if (mirrored := mirror_window(window)) is not None:
            yield mirrored
