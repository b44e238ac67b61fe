"""Stage `encode`: every phase's training windows and every held-out window, once, through
the trained VAE and the frozen text encoder, into latent shards that the later stages stream.

`<encode.dir>/phaseK/train/` holds phase K's training windows (`train.windows` per clip) at
phase K's frames, size and frame step; `heldout/` one window of every held-out clip of every
phase at the same settings (phase K's validation, and the evaluation's for K = 5);
`meta.json` records the shapes, the flow's stride and size and the VAE's sha256. One process
for the five phases: the VAE and the text encoder load once, and a caption shared by several
phases is embedded once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from aiprod.config import AiprodConfig
from aiprod.fsutil import sha256_file, write_json
from aiprod.latents.encode import TextFeatures, TextMemo, encode_windows
from aiprod.latents.format import LatentWindow
from aiprod.latents.mirror import with_mirrors
from aiprod.runtime import Runtime
from aiprod.shards.stream import ShardSpec, sequential
from aiprod.shards.writer import ShardSink
from aiprod.train.codec import MODEL_FILE, LatentCodec, load_codec
from aiprod.train.data import WindowSpec, phase_dirs, pixel_shards, pixel_windows
from aiprod.train.phase_stage import META_FILE, PHASES, latent_dir, model_spec
from aiprod.train.t2v import build_model


def phase_windows(config: AiprodConfig, phase: int, windows: int) -> WindowSpec:
    cfg = config.train.phase(phase)
    return WindowSpec(cfg.frames, cfg.size, windows, cfg.frame_step, config.score.flow.stride)


def frozen_text(config: AiprodConfig, runtime: Runtime) -> TextFeatures | None:
    """The frozen part of the configured text encoder (None when all of it trains)."""
    text = build_model(model_spec(config)).text
    if not hasattr(text, "frozen_features"):
        return None
    text.to(runtime.device)
    return text.frozen_features


def write_latents(windows: Iterable[LatentWindow], out_dir: Path, max_count: int) -> pd.DataFrame:
    """Stream latent windows into shards (one shard in memory at a time) and their index."""
    sink = ShardSink(out_dir, max_count, max_bytes=1 << 40)
    for window in windows:
        sink.add(window.fields(), window.index_row())
    return sink.close()


def encode_shards(
    shards: list[ShardSpec],
    spec: WindowSpec,
    out_dir: Path,
    codec: LatentCodec,
    text: TextFeatures | None,
    runtime: Runtime,
    config: AiprodConfig,
    phase: int,
    mirror: bool = False,
) -> pd.DataFrame:
    """Every window of some pixel shards (those their counts keep) into latent shards; with
    `mirror`, each followed by its mirror image (training windows only)."""
    pixels = sequential(shards, lambda raw: pixel_windows(raw, spec))
    if mirror:
        pixels = with_mirrors(pixels)
    latents = encode_windows(
        pixels, codec, runtime, text, phase, config.encode.batch_size, config.encode.tagged_captions
    )
    return write_latents(latents, out_dir, config.encode.max_count)


def encode_phase(
    config: AiprodConfig,
    phase: int,
    codec: LatentCodec,
    text: TextFeatures | None,
    runtime: Runtime,
    vae_sha256: str,
) -> dict:
    """Write `<encode.dir>/phaseK/{train,heldout}` and its `meta.json`."""
    share = config.shards.holdout_share
    train_spec = phase_windows(config, phase, config.train.windows)
    held_spec = phase_windows(config, phase, 1)
    own = pixel_shards(phase_dirs(config.shards.dir, [phase]), train_spec, share, holdout=False)
    held = pixel_shards(phase_dirs(config.shards.dir, list(PHASES)), held_spec, share, True)
    counts = {}
    for split, shards, spec in (("train", own, train_spec), ("heldout", held, held_spec)):
        out = latent_dir(config, phase, split)
        mirror = config.encode.mirror and split == "train"
        index = encode_shards(shards, spec, out, codec, text, runtime, config, phase, mirror)
        counts[split] = len(index)
    cfg = config.train.phase(phase)
    sf, tf = codec.spatial_factor, codec.temporal_factor
    grid = cfg.size // sf
    meta = {
        "phase": phase,
        "frames": cfg.frames,
        "size": cfg.size,
        "frame_step": cfg.frame_step,
        "windows": config.train.windows,
        "mirror": config.encode.mirror,
        "tagged_captions": config.encode.tagged_captions,
        "latent_shape": [codec.vae.cfg.latent_channels, 1 + (cfg.frames - 1) // tf, grid, grid],
        "flow_shape": [2, max(1, (cfg.frames - 1) // tf), grid, grid],
        "flow_stride": config.score.flow.stride,
        "flow_save_size": config.score.flow.save_size,
        "text_encoder": config.model.text_encoder,
        "vae_sha256": vae_sha256,
        "train_windows": counts["train"],
        "heldout_windows": counts["heldout"],
    }
    write_json(Path(config.encode.dir) / f"phase{phase}" / META_FILE, meta)
    return meta


@dataclass(frozen=True)
class Encoder:
    """What encoding needs, loaded once per process: the VAE and the frozen text encoder."""

    codec: LatentCodec
    text: TextFeatures | None
    vae_sha256: str
    runtime: Runtime


def load_encoder(config: AiprodConfig, runtime: Runtime) -> Encoder:
    torch.backends.cudnn.deterministic = True  # the same bytes on a re-run, GPUs included
    torch.backends.cudnn.benchmark = False
    vae_file = Path(config.train_vae.out_dir) / MODEL_FILE
    codec = load_codec(vae_file).to(runtime.device)
    memo = TextMemo(frozen) if (frozen := frozen_text(config, runtime)) is not None else None
    return Encoder(codec, memo, sha256_file(vae_file), runtime)


def encode_one(config: AiprodConfig, phase: int, encoder: Encoder) -> dict:
    return encode_phase(
        config, phase, encoder.codec, encoder.text, encoder.runtime, encoder.vae_sha256
    )


def encode_stage(config: AiprodConfig, runtime: Runtime) -> dict[int, dict]:
    """Every phase's latents, one phase after the other, with one VAE and text encoder."""
    encoder = load_encoder(config, runtime)
    return {k: encode_one(config, k, encoder) for k in PHASES}
