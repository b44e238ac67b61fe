"""Training memory: flat in the corpus size, and what the 8 GB preset needs on a GPU.

1. A phase stage (`train_phase_stage`, phase 1, the demo's model) runs on the demo's latent
   shards and on a corpus 8x larger (the same shards repeated), each in a fresh process; it
   prints each run's peak RSS, samples/s and share of step time spent waiting for data, and
   the ratios of the large run to the demo run (goals: RSS within 10%, data wait < 5%).
2. The peak memory of one fp16 training step of `consumer8g` (and of the other presets),
   counted with fake tensors under torch's MemTracker (`aiprod.train.memory`): the 8 GB
   preset must fit in 7 GB.

    python benchmarks/train_memory.py            # after `make run` (needs datasets/latents)
    python benchmarks/train_memory.py --steps 300 --buffer 256 --skip-presets
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]


def repeated(source: Path, target: Path, times: int) -> Path:
    """`source` (encode's phase folder) with its training shards repeated `times` times."""
    shutil.copytree(source / "heldout", target / "heldout")
    shutil.copy(source / "meta.json", target / "meta.json")
    train = target / "train"
    train.mkdir(parents=True)
    index = pd.read_parquet(source / "train" / "index.parquet")
    shards = sorted(index["shard"].unique())
    rows = []
    for copy in range(times):
        for k, name in enumerate(shards):
            new = f"shard-{copy * len(shards) + k:06d}.tar"
            (train / new).symlink_to((source / "train" / name).resolve())
            rows.append(index[index["shard"] == name].assign(shard=new))
    pd.concat(rows).to_parquet(train / "index.parquet", index=False)
    return target


def child(encode_dir: str, out_dir: str, steps: int, buffer: int) -> None:
    """In a fresh process: phase 1's stage on `encode_dir`'s latents; JSON on stdout."""
    from aiprod.config import parse_config
    from aiprod.runtime import resolve
    from aiprod.train.phase_stage import train_phase_stage

    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["encode"]["dir"] = encode_dir
    data["train"].update(out_dir=out_dir, metrics=out_dir, shuffle_buffer=buffer)
    data["train"]["checkpoint_every"] = steps
    data["train"]["phase1"] = {**data["train"]["phase1"], "steps": steps}
    config = parse_config(data)
    metrics = train_phase_stage(config, 1, resolve(config.runtime))
    metrics["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(metrics))


def run(encode_dir: Path, out_dir: Path, steps: int, buffer: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(encode_dir), str(out_dir), str(steps),
         str(buffer)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def flat_rss(steps: int, buffer: int, times: int) -> None:
    source = ROOT / "datasets" / "latents" / "phase1"
    if not (source / "meta.json").is_file():
        raise SystemExit(f"{source}: no latents (run `make run` first)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in ("demo", f"{times}x"):
            (tmp / name / "latents").mkdir(parents=True)
        shutil.copytree(source, tmp / "demo" / "latents" / "phase1")
        repeated(source, tmp / f"{times}x" / "latents" / "phase1", times)
        results = {
            name: run(tmp / name / "latents", tmp / name / "models", steps, buffer)
            for name in ("demo", f"{times}x")
        }
    print(f"phase 1 stage, {steps} steps, shuffle buffer {buffer} windows")
    print(f"{'corpus':>8} {'windows':>8} {'peak RSS MB':>12} {'samples/s':>10} {'data wait':>10}")
    for name, m in results.items():
        print(
            f"{name:>8} {m['train_windows_per_epoch']:>8} {m['peak_rss_mb']:>12.0f} "
            f"{m['samples_per_s']:>10.1f} {m['data_wait_share']:>10.2%}"
        )
    demo, large = results["demo"], results[f"{times}x"]
    rss = large["peak_rss_mb"] / demo["peak_rss_mb"]
    print(f"RSS ratio {times}x / demo: {rss:.3f} (goal <= 1.10)")
    speed = large["samples_per_s"] / demo["samples_per_s"]
    print(f"samples/s ratio {times}x / demo: {speed:.3f}")


def presets_memory() -> None:
    from aiprod.train.memory import estimate_step_memory

    cases = [
        ("consumer8g", 4, 17, 256, "fp16", True),
        ("consumer8g", 4, 17, 256, "fp16", False),
        ("consumer8g", 1, 17, 256, "fp16", True),
        ("small", 8, 17, 256, "bf16", False),
        ("tiny", 16, 9, 32, "fp32", False),
    ]
    print("\none training step (backbone + EMA + AdamW; latents come from disk), peak memory")
    print(f"{'preset':>11} {'batch':>5} {'frames':>6} {'size':>5} {'prec':>5} {'ckpt':>5} "
          f"{'params':>9} {'tracked GB':>10} {'GPU est. GB':>11}")  # fmt: skip
    for name, batch, frames, size, precision, ckpt in cases:
        m = estimate_step_memory(name, batch, frames, size, precision, ckpt)
        print(
            f"{name:>11} {batch:>5} {frames:>6} {size:>5} {precision:>5} {ckpt!s:>5} "
            f"{m.parameters / 1e6:>8.0f}M {m.tracked_gb:>10.2f} {m.gpu_estimate_gb:>11.2f}"
        )
        if name == "consumer8g" and ckpt and batch == 4:
            verdict = "fits" if m.gpu_estimate_gb <= 7.0 else "does NOT fit"
            print(f"{'':>11} consumer8g {verdict} in 7 GB (by kind: {m.by_kind})")
    print("GPU estimate = tracked x 1.10 (allocator slack) + 0.45 GB (CUDA context)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--buffer", type=int, default=256, help="train.shuffle_buffer")
    parser.add_argument("--times", type=int, default=8)
    parser.add_argument("--skip-presets", action="store_true")
    parser.add_argument("--child", nargs=4, metavar=("ENCODE_DIR", "OUT", "STEPS", "BUFFER"))
    args = parser.parse_args()
    if args.child:
        encode_dir, out_dir, steps, buffer = args.child
        child(encode_dir, out_dir, int(steps), int(buffer))
        return
    flat_rss(args.steps, args.buffer, args.times)
    if not args.skip_presets:
        presets_memory()


if __name__ == "__main__":
    main()
