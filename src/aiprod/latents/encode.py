"""Pixel windows through the frozen VAE (and the frozen text encoder) into latent windows.

The `encode` stage runs this over a phase's windows, and mining over the clips it carries;
batches are fixed in size and order, so a re-run writes the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import cv2
import numpy as np
import torch

from aiprod.latents.format import LatentWindow, caption_variants
from aiprod.runtime import Runtime
from aiprod.train.data import PixelWindow, first_fields

TextFeatures = Callable[[list[str]], object]  # texts -> (B, D) | ((B, L, D), (B, L))


def latent_grid_flow(fields: np.ndarray, height: int, width: int) -> np.ndarray:
    """(P, 2, h, w) flow area-averaged onto the latent grid: (2, P, height, width).

    The vectors keep their units (px/frame at the stored flow's size): the mean motion of
    the pixels each latent cell covers, which is what flow guidance conditions on.
    """
    small = [
        cv2.resize(field.transpose(1, 2, 0), (width, height), interpolation=cv2.INTER_AREA)
        for field in fields.astype(np.float32)
    ]
    return np.stack(small).transpose(3, 0, 1, 2)


MEMO_TEXTS = 100_000  # captions remembered by a stage (a clip's windows, repeated phrasings)


class TextMemo:
    """A frozen encoder's outputs for texts seen before in this stage, so each distinct
    caption is encoded once (bounded; in a fixed order, so a re-run writes the same bytes)."""

    def __init__(self, text: TextFeatures) -> None:
        self.text, self.vectors = text, {}
        self.sequences = False  # token sequences are padded per call: not remembered

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
        fresh = texts if self.sequences else [t for t in texts if t not in self.vectors]
        if not self.sequences and len(self.vectors) + len(fresh) > MEMO_TEXTS:
            self.vectors.clear()  # full: start again with this call's texts
            fresh = texts
        if fresh:
            out = self.text(fresh)
            if isinstance(out, tuple):  # (hidden states, mask)
                self.sequences = True
                if fresh is not texts:
                    out = self.text(texts)
                hidden, mask = out
                return hidden.float().cpu().numpy(), mask.cpu().numpy()
            self.vectors.update(zip(fresh, out.float().cpu().numpy(), strict=True))
        return np.stack([self.vectors[t] for t in texts]), None


def _meta(window: PixelWindow, phase: int, tagged: bool) -> dict:
    meta = dict(window.meta)
    tags = meta.get("tags", {})
    meta.update(
        phase=phase,
        window=window.window,
        source_sha256=meta.get("lineage", {}).get("source_sha256", ""),
        texts=caption_variants(meta.get("captions", {}), tags.get("terms", {}), tagged),
    )
    return meta


def encode_batch(
    windows: list[PixelWindow],
    codec: object,
    runtime: Runtime,
    text: TextMemo | None,
    phase: int,
    fields: int,
    tagged: bool = True,
) -> list[LatentWindow]:
    """One batch: latents on the runtime device, flow onto the latent grid, text features
    (of the tagged captions too with `tagged`)."""
    videos = torch.stack([w.as_float() for w in windows])
    with torch.no_grad(), runtime.autocast():
        latents = codec.encode(runtime.to(videos)).float().cpu().numpy()
    metas = [_meta(w, phase, tagged) for w in windows]
    texts = list(dict.fromkeys(v["text"] for m in metas for v in m["texts"]))
    rows = {t: k for k, t in enumerate(texts)}
    features, masks = text(texts) if text is not None else (None, None)
    out = []
    for window, meta, latent in zip(windows, metas, latents, strict=True):
        picked = [rows[v["text"]] for v in meta["texts"]]
        flow = latent_grid_flow(first_fields(window.flow, fields), *latent.shape[2:])
        out.append(
            LatentWindow(
                key=window.key,
                latent=latent.astype(np.float16),
                flow=flow.astype(np.float16),
                meta=meta,
                text=features[picked] if features is not None else None,
                text_mask=masks[picked] if masks is not None else None,
            )
        )
    return out


def encode_windows(
    windows: Iterable[PixelWindow],
    codec: object,
    runtime: Runtime,
    text: TextFeatures | TextMemo | None,
    phase: int,
    batch_size: int,
    tagged: bool = True,
) -> Iterator[LatentWindow]:
    """Every window encoded, in order, `batch_size` at a time (bounded memory); each keeps
    one flow field per latent step after the first. A `TextMemo` passed in is shared (a
    caption embedded for one phase is not embedded again for the next)."""
    iterator = iter(windows)
    memo = text if text is None or isinstance(text, TextMemo) else TextMemo(text)
    while batch := list(islice(iterator, batch_size)):
        fields = max(1, (batch[0].video.shape[1] - 1) // codec.temporal_factor)
        yield from encode_batch(batch, codec, runtime, memo, phase, fields, tagged)
