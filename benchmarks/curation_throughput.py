"""Curation throughput (score + captions and tags + shard) against a bare decode of the same clips.

Both run in the same process over the same clips with the same number of worker threads;
prints frames/s of each and their ratio (the issue's target is >= 0.5x).

    make run   # the demo DAG writes the clips and manifest this reads
    python benchmarks/curation_throughput.py [--workers N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pandas as pd

from aiprod.config import load_config
from aiprod.curation.captions import caption_record
from aiprod.curation.score import judge, score_clip
from aiprod.shards.samples import build_samples
from aiprod.shards.writer import write_shards

ROOT = Path(__file__).resolve().parents[1]


def bare_decode(path: str) -> int:
    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    config = load_config(ROOT / "params.yaml")
    manifest_path = ROOT / config.ingest.manifest
    if not manifest_path.exists():
        raise SystemExit(f"{manifest_path} missing: run `make run` (dvc repro) first")
    manifest = pd.read_parquet(manifest_path)
    rows = manifest.to_dict("records")
    with ThreadPoolExecutor(args.workers) as pool, tempfile.TemporaryDirectory() as tmp:
        list(pool.map(bare_decode, [r["path"] for r in rows[:8]]))  # warm the page cache
        start = time.perf_counter()
        frames = sum(pool.map(bare_decode, [r["path"] for r in rows]))
        decode_s = time.perf_counter() - start

        cfg = config.score.model_copy(update={"flow_dir": str(Path(tmp) / "flow")})
        start = time.perf_counter()
        scores = judge(pd.DataFrame(pool.map(lambda r: score_clip(r, cfg), rows)), cfg)
        score_s = time.perf_counter() - start
        start = time.perf_counter()
        captions = pd.DataFrame(
            [
                caption_record(row, measured, config.caption, {}, None)
                for row, measured in zip(rows, scores.to_dict("records"), strict=True)
            ]
        )
        tag_s = time.perf_counter() - start
        members = scores[["clip_id"]].assign(
            phase=1, role="difficulty", difficulty=0.0, quality=0.0
        )
        start = time.perf_counter()
        samples = build_samples(members, manifest, scores, captions)
        write_shards(
            samples, Path(tmp) / "shards", config.shards.max_count, config.shards.max_bytes
        )
        shard_s = time.perf_counter() - start

    total = score_s + tag_s + shard_s
    print(f"clips: {len(rows)}, frames: {frames}, workers: {args.workers}")
    print(f"bare decode: {decode_s:.2f} s = {frames / decode_s:.0f} frames/s")
    print(
        f"score {score_s:.2f} s + captions+tags {tag_s:.2f} s + shard {shard_s:.2f} s "
        f"= {total:.2f} s = {frames / total:.0f} frames/s"
    )
    print(f"ratio curation/decode: {decode_s / total:.2f}x (target >= 0.5x)")


if __name__ == "__main__":
    main()
