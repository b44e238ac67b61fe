"""Stage `lora_precompute`: the chosen phases' curated clips through the base model's own VAE
and text encoder into latent shards, one folder per bucket.

`<finetune.latents_dir>/phaseK/<W>x<H>x<F>/` holds phase K's training windows of that bucket
(plus, for K > 1, the clips mining carried out of phase K - 1; with `encode.mirror`, each
followed by its mirror image), in the latent-shard format
the `encode` stage writes (`aiprod.latents.format`), by the same code
(`aiprod.latents.encode.encode_batch`). `heldout/<W>x<H>x<F>/` holds the held-out clips'
windows, the adapters' before-and-after loss. `meta.json` records the base, the buckets, the window
counts, and, for a frozen text encoder, the empty prompt's features (text dropout and CFG's
unconditional branch). A re-run writes the same bytes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aiprod.config import AiprodConfig
from aiprod.finetune.buckets import Bucket, BucketSpec, bucket_windows
from aiprod.fsutil import sha256_file, write_json
from aiprod.latents.encode import TextMemo, encode_batch
from aiprod.latents.mirror import mirror_window
from aiprod.runtime import Runtime
from aiprod.shards.stream import sequential
from aiprod.shards.writer import ShardSink
from aiprod.train.data import PixelWindow, phase_dirs, pixel_shards

META_FILE = "meta.json"
NULL_TEXT = "null_text.npz"
VALIDATION_PROMPTS = "validation_prompts.npz"
HELD_OUT_DIR = "heldout"


@dataclass(frozen=True)
class BaseEncoder:
    """What precomputing needs of a base: its VAE as a codec, its frozen text encoder (None
    when the base trains its own), and what identifies the weights."""

    codec: object  # .encode(videos) -> latents, .temporal_factor, .spatial_factor
    text: Callable[[list[str]], object] | None
    identity: dict
    runtime: Runtime


def bucket_spec(config: AiprodConfig) -> BucketSpec:
    f = config.finetune
    buckets = tuple(Bucket(b.width, b.height, b.frames) for b in f.buckets)
    return BucketSpec(buckets, f.frame_step, f.windows, config.score.flow.stride)


def phase_clips(config: AiprodConfig, phase: int, spec: BucketSpec) -> list:
    """Phase K's training clips (the held-out ones never), and the clips mining carried out
    of phase K - 1 when `finetune.hard_examples` holds its table."""
    share = config.shards.holdout_share
    window = _any_window(spec)
    shards = pixel_shards(phase_dirs(config.shards.dir, [phase]), window, share, holdout=False)
    hard = Path(config.finetune.hard_examples) / f"phase{phase - 1}" / "hard.parquet"
    if phase > 1 and hard.is_file():
        table = pd.read_parquet(hard)
        carried = set(table.loc[table["carried"], "clip_id"])
        shards += pixel_shards(
            phase_dirs(config.shards.dir, [phase - 1]), window, share, holdout=False,
            keep=lambda key: key in carried,
        )  # fmt: skip
    return shards


def _any_window(spec: BucketSpec) -> object:
    """A window cut that counts a clip as soon as the shortest bucket fits it (the bucket is
    chosen from the decoded frames)."""
    from aiprod.train.data import WindowSpec

    shortest = min(b.frames for b in spec.buckets)
    return WindowSpec(shortest, 0, 1, spec.frame_step, spec.flow_stride)


def with_bucket_mirrors(
    pairs: Iterable[tuple[Bucket, PixelWindow]],
) -> Iterator[tuple[Bucket, PixelWindow]]:
    """Each window, then its mirror image in the same bucket where its captions allow one
    (`encode.mirror`, as the `encode` stage does for AIPROD's phases)."""
    for bucket, window in pairs:
        yield bucket, window
        if (mirrored := mirror_window(window)) is not None:
            yield bucket, mirrored


def bucketed_latents(
    pairs: Iterable[tuple[Bucket, PixelWindow]], encoder: BaseEncoder, phase: int, batch: int
) -> Iterator[tuple[Bucket, object]]:
    """Windows encoded a bucket-batch at a time (every batch one shape), in a fixed order."""
    pending: dict[Bucket, list[PixelWindow]] = defaultdict(list)
    text = encoder.text if encoder.text is None or isinstance(encoder.text, TextMemo) else None
    codec, runtime = encoder.codec, encoder.runtime

    def flush(bucket: Bucket) -> Iterator[tuple[Bucket, object]]:
        windows, pending[bucket] = pending[bucket], []
        fields = max(1, (bucket.frames - 1) // codec.temporal_factor)
        for latent in encode_batch(windows, codec, runtime, text, phase, fields):
            yield bucket, latent

    for bucket, window in pairs:
        pending[bucket].append(window)
        if len(pending[bucket]) == batch:
            yield from flush(bucket)
    for bucket in sorted(pending, key=lambda b: b.name):
        if pending[bucket]:
            yield from flush(bucket)


def write_buckets(
    pairs: Iterable[tuple[Bucket, PixelWindow]], out: Path, encoder: BaseEncoder,
    config: AiprodConfig, phase: int,
) -> dict[str, int]:  # fmt: skip
    """Encode bucketed windows into one latent-shard folder per bucket; windows per bucket."""
    sinks: dict[Bucket, ShardSink] = {}
    for bucket, latent in bucketed_latents(pairs, encoder, phase, config.encode.batch_size):
        if bucket not in sinks:
            sinks[bucket] = ShardSink(out / bucket.name, config.encode.max_count, 1 << 40)
        sinks[bucket].add(latent.fields(), latent.index_row())
    return {bucket.name: len(sink.close()) for bucket, sink in sorted(
        sinks.items(), key=lambda item: item[0].name
    )}  # fmt: skip


def precompute_phase(config: AiprodConfig, phase: int, encoder: BaseEncoder) -> dict[str, int]:
    """Write phase K's bucket folders; windows per bucket."""
    spec = bucket_spec(config)
    out = Path(config.finetune.latents_dir) / f"phase{phase}"
    pairs = sequential(phase_clips(config, phase, spec), lambda raw: bucket_windows(raw, spec))
    if config.encode.mirror:
        pairs = with_bucket_mirrors(pairs)
    return write_buckets(pairs, out, encoder, config, phase)


def precompute_held_out(config: AiprodConfig, encoder: BaseEncoder) -> dict[str, int]:
    """The held-out clips of `finetune.phases` (each once, no mirror, nothing carried; their
    windows' phase tag is the last phase's) into `<latents_dir>/heldout/<bucket>/`: what the
    adapters are judged on before and after."""
    spec = bucket_spec(config)
    phases = list(config.finetune.phases)
    shards = pixel_shards(
        phase_dirs(config.shards.dir, phases), _any_window(spec), config.shards.holdout_share,
        holdout=True,
    )  # fmt: skip
    pairs = sequential(shards, lambda raw: bucket_windows(raw, spec))
    out = Path(config.finetune.latents_dir) / HELD_OUT_DIR
    return write_buckets(pairs, out, encoder, config, phases[-1])


def null_text(encoder: BaseEncoder, out_dir: Path) -> None:
    """The empty prompt's token features, what a dropped caption trains with (a sentence
    embedding, AIPROD's own, is dropped inside its model)."""
    if encoder.text is None:
        return
    hidden, mask = encoder.text([""])
    if mask is None:
        return
    np.savez(out_dir / NULL_TEXT, hidden=np.asarray(hidden)[0], mask=np.asarray(mask)[0])


def precompute(config: AiprodConfig, encoder: BaseEncoder) -> dict:
    """Every phase of `finetune.phases`, their held-out clips, then `meta.json`."""
    out_dir = Path(config.finetune.latents_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {f"phase{k}": precompute_phase(config, k, encoder) for k in config.finetune.phases}
    held_out = precompute_held_out(config, encoder)
    null_text(encoder, out_dir)
    meta = {
        "base": config.finetune.base,
        **encoder.identity,
        "buckets": [b.name for b in bucket_spec(config).buckets],
        "frame_step": config.finetune.frame_step,
        "temporal_factor": encoder.codec.temporal_factor,
        "spatial_factor": encoder.codec.spatial_factor,
        "flow_stride": config.score.flow.stride,
        "mirror": config.encode.mirror,
        "windows": counts,
        "held_out_windows": held_out,
    }
    write_json(out_dir / META_FILE, meta)
    return meta


def read_meta(latents_dir: str | Path) -> dict:
    path = Path(latents_dir) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no precomputed latents (run the lora_precompute stage)")
    import json

    return json.loads(path.read_text())


def aiprod_encoder(config: AiprodConfig, runtime: Runtime) -> BaseEncoder:
    """AIPROD's own model as the base: its VAE (named by the checkpoint) and frozen text
    features, as the `encode` stage loads them."""
    from aiprod.latents.stage import frozen_text
    from aiprod.train.checkpoint import load_payload
    from aiprod.train.codec import load_codec, resolve_vae

    path = config.finetune.base_path
    payload = load_payload(path, "finetune.base_path: the model to adapt")
    vae_file = resolve_vae(path, payload)
    codec = load_codec(vae_file).to(runtime.device)
    frozen = frozen_text(config, runtime)
    identity = {"vae_sha256": sha256_file(vae_file), "base_path": path}
    return BaseEncoder(codec, TextMemo(frozen) if frozen else None, identity, runtime)


def diffusers_encoder(config: AiprodConfig, runtime: Runtime) -> BaseEncoder:
    """A diffusers base: its VAE and its pipeline's prompt encoding (the transformer is not
    loaded), on the runtime's device and precision."""
    from aiprod.finetune.bases import check_base_path
    from aiprod.finetune.diffusers_model import (
        DiffusersCodec,
        PipelineText,
        load_pipeline,
        load_vae,
    )

    f = config.finetune
    spec = check_base_path(f.base, f.base_path)
    dtype = runtime.dtype
    codec = DiffusersCodec(load_vae(f.base_path, spec, dtype)).to(runtime.device)
    skipped = {"transformer": None, "vae": None}
    if spec.name == "ltx-2":  # the connectors stay: they are LTX-2's text path
        skipped.update(audio_vae=None, vocoder=None)
    pipe = load_pipeline(f.base_path, spec, **skipped, dtype=dtype)
    pipe.text_encoder.to(runtime.device)
    if spec.name == "ltx-2":
        pipe.connectors.to(runtime.device)
    text = TextMemo(PipelineText(pipe, spec, f.max_sequence_length))
    identity = {"base_path": f.base_path, "pipeline": spec.pipeline}
    return BaseEncoder(codec, text, identity, runtime)


def load_base_encoder(config: AiprodConfig, runtime: Runtime) -> BaseEncoder:
    if config.finetune.base == "aiprod":
        return aiprod_encoder(config, runtime)
    return diffusers_encoder(config, runtime)


def precompute_stage(config: AiprodConfig, runtime: Runtime) -> dict:
    """The base's latents of `finetune.phases` (and the validation prompts' features)."""
    from aiprod.finetune.checks import check_finetune

    check_finetune(config)
    encoder = load_base_encoder(config, runtime)
    meta = precompute(config, encoder)
    prompts = config.finetune.validation.prompts
    if prompts and encoder.text is not None:
        hidden, mask = encoder.text(list(prompts))
        out = Path(config.finetune.latents_dir) / VALIDATION_PROMPTS
        np.savez(out, hidden=np.asarray(hidden), mask=np.asarray(mask))
    return meta
