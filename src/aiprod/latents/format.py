"""The latent-shard sample: what `encode` writes per training window and the stages read.

Fields of one window (a WebDataset sample, key `<clip_id>_w<n>`):
- `latent.npy`: (C, T, h, w) float16, the VAE's posterior mean in unit scale (latent stats).
- `flow.npy`: (2, P, h, w) float16, the stored optical flow area-averaged onto the latent grid,
  px/frame at `score.flow.save_size` (scaled by the frame step): what flow guidance reads.
- `text.npy` (frozen text encoders only): the encoder's output for every caption variant, in
  the order of `json["texts"]`; `text_mask.npy` for token sequences.
- `json`: captions per language, tags, the variants, clip id, source hash, phase, window.

A caption variant is the caption in one language, alone or with the clip's motion/camera tags
in that language appended, so footage with a single caption still teaches the motion words.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from aiprod.shards.writer import json_bytes, npy_bytes

LATENT, FLOW, TEXT, TEXT_MASK = "latent.npy", "flow.npy", "text.npy", "text_mask.npy"
CJK_LANGUAGES = ("zh", "ja", "ko")


def with_tags(caption: str, terms: list[str], language: str) -> str:
    """The caption with its tags appended, punctuated as the language writes a list."""
    if not terms:
        return caption
    if language in CJK_LANGUAGES:
        return f"{caption}{'、'.join(terms)}。"
    joined = ", ".join(terms)  # as written: the vocabulary matches terms case-sensitively
    return f"{caption.rstrip()} {joined}." if caption else f"{joined}."


def caption_variants(
    captions: dict[str, str], terms: dict[str, list[str]], tagged: bool = True
) -> list[dict]:
    """Every text a window may be trained on: per language, plain and (with `tagged`) with
    tags, once when there are no tags. A clip without captions is described by its tags
    alone."""
    languages = sorted(captions) or sorted(lang for lang, found in terms.items() if found)
    variants = []
    for language in languages:
        plain = captions.get(language, "")
        variants.append({"language": language, "tags": False, "text": plain})
        with_terms = with_tags(plain, terms.get(language, []), language) if tagged else plain
        if with_terms != plain:
            variants.append({"language": language, "tags": True, "text": with_terms})
    return variants or [{"language": "", "tags": False, "text": ""}]


@dataclass
class LatentWindow:
    """One encoded window, as arrays."""

    key: str
    latent: np.ndarray  # (C, T, h, w) float16
    flow: np.ndarray  # (2, P, h, w) float16
    meta: dict  # captions, tags, texts (variants), clip_id, source_sha256, phase, window
    text: np.ndarray | None = None  # (variants, D) or (variants, L, D)
    text_mask: np.ndarray | None = None  # (variants, L) for token sequences

    @property
    def texts(self) -> list[dict]:
        return self.meta["texts"]

    def fields(self) -> dict[str, bytes]:
        out = {
            "__key__": self.key,
            LATENT: npy_bytes(self.latent.astype(np.float16)),
            FLOW: npy_bytes(self.flow.astype(np.float16)),
            "json": json_bytes(self.meta),
        }
        if self.text is not None:
            out[TEXT] = npy_bytes(self.text.astype(np.float16))
        if self.text_mask is not None:
            out[TEXT_MASK] = npy_bytes(self.text_mask.astype(bool))
        return out

    def index_row(self) -> dict:
        return {"clip_id": self.meta["clip_id"], "source_sha256": self.meta["source_sha256"]}


def _array(sample: dict, name: str) -> np.ndarray | None:
    data = sample.get(name)
    return None if data is None else np.load(io.BytesIO(data))


def read_window(sample: dict) -> LatentWindow:
    """A raw latent-shard sample (bytes fields) as arrays."""
    return LatentWindow(
        key=sample["__key__"],
        latent=_array(sample, LATENT),
        flow=_array(sample, FLOW),
        meta=json.loads(sample["json"]),
        text=_array(sample, TEXT),
        text_mask=_array(sample, TEXT_MASK),
    )
