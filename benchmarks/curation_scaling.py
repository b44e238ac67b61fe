"""Curation's bookkeeping is linear in the corpus: time per clip at 1k, 10k and 100k clips.

The work of score-to-shards that decodes nothing, on synthetic score tables: keep/reject
with the near-duplicate search (`judge`), the five curriculum phases with carried hard
examples (`assign_phases`), and each phase's shard plan (`phase_members`, every sample's
JSON metadata, `plan_shards` by count and bytes). It prints the time per clip of each part
at each size and the ratio of the largest size's per-clip time to the smallest's (goal: at
most 2, i.e. linear).

    python benchmarks/curation_scaling.py [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aiprod.config import load_config
from aiprod.curation.curriculum import assign_phases
from aiprod.curation.score import judge
from aiprod.shards.samples import CLIP, LINEAGE, phase_members, sample_meta
from aiprod.shards.writer import json_bytes, plan_shards

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Planned:
    """A sample as the shard planner sees it: its size (the bytes stay on disk)."""

    size: int


def synthetic_scores(n: int, seed: int = 0) -> pd.DataFrame:
    """Score-table rows with realistic spreads, 5% near-copies of earlier clips."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, size=(n, 3), dtype=np.int64).astype(np.uint64)
    copies = rng.random(n) < 0.05
    copies[0] = False
    sources = (rng.random(n) * np.arange(n)).astype(int)
    hashes[copies] = hashes[sources[copies]] ^ np.uint64(0b101)  # 2 bits off
    return pd.DataFrame(
        {
            "clip_id": [f"clip_{k:07d}" for k in range(n)],
            "duration": rng.uniform(2, 6, n),
            "phash": [",".join(f"{int(h):016x}" for h in row) for row in hashes],
            "sharpness": rng.gamma(4, 60, n),
            "luma_mean": rng.normal(120, 30, n).clip(0, 255),
            "clipped_dark": rng.beta(1, 30, n),
            "clipped_bright": rng.beta(1, 30, n),
            "motion_p95": rng.gamma(2, 2, n),
            "motion_mean": rng.gamma(2, 1, n),
            "motion_variation": rng.gamma(2, 0.3, n),
            "object_motion": rng.gamma(2, 1, n),
            "camera": rng.choice(["static", "pan_left", "tilt_up", "zoom_in", "complex"], n),
            "lighting_change": rng.gamma(1, 2, n),
            "flicker": rng.gamma(1, 0.5, n),
            "edge_density": rng.beta(2, 8, n),
            "colour_clusters": rng.integers(2, 12, n).astype(float),
            "true_level": rng.integers(1, 5, n).astype(float),
            "flow_path": "",
        }
    )


def shard_plans(table: pd.DataFrame, scores: pd.DataFrame, config: object) -> int:
    """Every phase's members, their sample metadata and shard plan; returns shard count."""
    measured = scores.set_index("clip_id", drop=False).to_dict("index")
    clip = dict.fromkeys(LINEAGE + CLIP, 1)
    caption = {"captions": json.dumps({"en": "a clip"}), "tags": "pan", "tags_i18n": "{}"}
    shards = 0
    for phase in range(1, 6):
        planned = []
        for member in phase_members(table, phase, config.shards.seed).itertuples(index=False):
            meta = sample_meta(member, clip, measured[member.clip_id], caption)
            planned.append(Planned(size=200_000 + len(json_bytes(meta))))
        shards += len(plan_shards(planned, config.shards.max_count, config.shards.max_bytes))
    return shards


def run(n: int, config: object) -> dict[str, float]:
    scores = synthetic_scores(n)
    timings = {}
    started = time.perf_counter()
    judged = judge(scores, config.score)
    timings["judge"] = time.perf_counter() - started
    kept = judged.loc[judged["keep"], "clip_id"].tolist()
    hard = {2: kept[::-37][: n // 50], 3: kept[::-41][: n // 50]}
    started = time.perf_counter()
    table = assign_phases(judged, config.curriculum, hard)
    timings["curriculum"] = time.perf_counter() - started
    started = time.perf_counter()
    shard_plans(table, judged, config)
    timings["shard plan"] = time.perf_counter() - started
    duplicates = int((judged["duplicate_of"] != "").sum())
    print(f"{n:>7} clips: {duplicates} near-duplicates, {len(table)} phase rows")
    return {part: seconds / n * 1e6 for part, seconds in timings.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = parser.parse_args()
    config = load_config(ROOT / "params.yaml")
    rows = {n: run(n, config) for n in args.sizes}
    parts = list(next(iter(rows.values())))
    print(f"\n{'clips':>7} " + " ".join(f"{p:>12}" for p in [*parts, "total"]) + "  (us per clip)")
    for n, per_clip in rows.items():
        values = [*per_clip.values(), sum(per_clip.values())]
        print(f"{n:>7} " + " ".join(f"{v:>12.1f}" for v in values))
    small, large = rows[args.sizes[0]], rows[args.sizes[-1]]
    ratio = sum(large.values()) / sum(small.values())
    print(f"\nper-clip time, {args.sizes[-1]} vs {args.sizes[0]} clips: {ratio:.2f}x (goal <= 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
