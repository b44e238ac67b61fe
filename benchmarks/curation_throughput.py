"""The whole curation of real footage (ingest + score + caption tags + shards) against a bare
decode of the same sources, in the same run.

Sources: the Sintel excerpts in datasets/raw/footage (480p) and the real 720p/1080p files of
../shared/acceptance (read in place, never copied). Clips are cut at 256 px. Both sides use
the same cores: the bare decode is PyAV with its own frame threads, one file at a time; the
curation runs each step's items on `--workers` threads, as the stages' local runner does.
Prints source frames/s of both and their ratio (the target is >= 0.5x).

    python benchmarks/curation_throughput.py [--workers 2] [--size 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from ingest_throughput import ACCEPTANCE, FOOTAGE, bare_decode

from aiprod.config import load_config
from aiprod.curation.captions import caption_record
from aiprod.curation.score import judge, score_clip
from aiprod.ingest.pipeline import ingest_source
from aiprod.ingest.sources import discover, largest_first
from aiprod.shards.samples import phase_members, sample_refs
from aiprod.shards.writer import finish_shards, plan_shards, write_shard

ROOT = Path(__file__).resolve().parents[1]


def corpus() -> list[Path]:
    """Sintel plus every real acceptance file (odd ones too: they cost what they cost)."""
    files = list(FOOTAGE)
    if ACCEPTANCE.is_dir():
        files += sorted(ACCEPTANCE.glob("*.mp4"))
    return files


def curate(files: list[Path], work: Path, size: int, workers: int) -> tuple[dict, int]:
    """Seconds per step of the curation of `files` into `work`, and the clips it made."""
    config = load_config(ROOT / "params.yaml")
    target = config.ingest.target.model_copy(update={"width": size, "height": size})
    ingest_cfg = config.ingest.model_copy(update={"target": target})
    score_cfg = config.score.model_copy(update={"flow_dir": str(work / "flow")})
    seconds = {}
    with ThreadPoolExecutor(workers) as pool:
        start = time.perf_counter()
        sources = largest_first(discover([str(f) for f in files], ingest_cfg.extensions))
        results = list(pool.map(lambda s: ingest_source(s, ingest_cfg, work / "clips"), sources))
        manifest = pd.DataFrame([row for r in results for row in r.rows])
        seconds["ingest"] = time.perf_counter() - start

        start = time.perf_counter()
        rows = manifest.to_dict("records")
        scores = judge(pd.DataFrame(pool.map(lambda r: score_clip(r, score_cfg), rows)), score_cfg)
        seconds["score"] = time.perf_counter() - start

        start = time.perf_counter()
        measured = scores.to_dict("records")
        pairs = zip(rows, measured, strict=True)
        captions = pd.DataFrame(
            pool.map(lambda p: caption_record(*p, config.caption, {}, None), pairs)
        )
        seconds["caption tags"] = time.perf_counter() - start

        start = time.perf_counter()
        curriculum = scores[["clip_id"]].assign(
            phase=1, role="difficulty", difficulty=0.0, quality=0.0
        )
        members = phase_members(curriculum, 1, config.shards.seed)
        refs = sample_refs(members, manifest, scores, captions)
        plan = plan_shards(refs, config.shards.max_count, config.shards.max_bytes)
        out = work / "shards"
        out.mkdir()
        written = pool.map(lambda job: write_shard(out, job[0], [r.load() for r in job[1]]),
                           enumerate(plan))  # fmt: skip
        rows_out = [row for shard in written for row in shard]
        finish_shards(out, sorted({r["shard"] for r in rows_out}), rows_out)
        seconds["shards"] = time.perf_counter() - start
    return seconds, len(manifest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=256, help="clip side, pixels")
    args = parser.parse_args()
    files = corpus()
    bare_decode(files[:1])  # warm the page cache and PyAV
    frames, decode_s = bare_decode(files)
    with tempfile.TemporaryDirectory() as tmp:
        steps, clips = curate(files, Path(tmp), args.size, args.workers)
    total = sum(steps.values())
    print(f"sources: {len(files)} files, {frames} frames; {clips} clips at {args.size} px")  # noqa: T201
    print(f"bare decode: {decode_s:.1f} s = {frames / decode_s:.0f} frames/s")  # noqa: T201
    parts = " + ".join(f"{name} {s:.1f} s" for name, s in steps.items())
    print(f"curation: {parts} = {total:.1f} s = {frames / total:.0f} frames/s")  # noqa: T201
    print(f"ratio curation/decode: {decode_s / total:.2f}x (target >= 0.5x)")  # noqa: T201


if __name__ == "__main__":
    main()
