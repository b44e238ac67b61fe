"""Crash drill: `dvc repro` of the curation half killed with SIGKILL, then re-run, N times.

A copy of the project (a smaller demo corpus: `--videos`) runs the curation half once
uninterrupted (synth, ingest, score, caption, curriculum, the five shard stages) as the
reference. Then, N times: clean outputs, start the same `dvc repro`, SIGKILL its whole
process group at a random moment within the reference's duration, run `dvc repro` again to
the end, and compare every file of the manifests, flow and shards with the reference's,
byte for byte. It prints each kill's moment, the stage it hit, and the outcome.

    python benchmarks/crash_drill.py [--kills 10] [--videos 40] [--seed 0]

Needs a Prefect server (`make prefect-up`; PREFECT_API_URL, default its loopback address).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGETS = [f"shard@{k}" for k in range(1, 6)]
COMPARED = ["datasets/manifest", "datasets/shards", "datasets/flow", "datasets/clips"]


def make_project(folder: Path, videos: int) -> Path:
    """The project's code and params (a smaller corpus) in a git + DVC repository."""
    for name in ("dvc.yaml", "flows", "src", "datasets/raw/footage"):
        source = ROOT / name
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synth"]["videos"] = videos
    params["synth"]["multi_scene_videos"] = max(1, videos // 20)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for args in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["dvc", "config", "core.analytics", "false"],
    ):
        subprocess.run(args, cwd=folder, check=True, env=environment(folder))
    return folder


def environment(project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["PYTHONPATH"] = str(project)
    return env


def clean(project: Path) -> None:
    """Every output, the lock and DVC's cache (and its run cache) gone: a first run again."""
    for name in (
        "datasets/raw/synthetic",
        "datasets/clips",
        "datasets/manifest",
        "datasets/flow",
        "datasets/shards",
        "reports",
        "dvc.lock",
        ".dvc/cache",
        ".dvc/tmp",
        ".aiprod",  # the per-clip task results
    ):
        path = project / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def repro(project: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ["dvc", "repro", *TARGETS],
        cwd=project,
        env=environment(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill takes the stage with it
    )


def digests(project: Path) -> dict[str, str]:
    found = {}
    for folder in COMPARED:
        for path in sorted((project / folder).rglob("*")):
            # DVC's own .gitignore lists outputs in the order stages first wrote them: git's
            # housekeeping, not data (the first drill's only difference)
            if path.is_file() and path.name != ".gitignore":
                found[str(path.relative_to(project))] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
    return found


def running_stage(log: Path) -> str:
    stages = [
        line.split("'")[1]
        for line in log.read_text().splitlines()
        if line.startswith("Running stage")
    ]
    return stages[-1] if stages else "(before the first stage)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    draw = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="aiprod-crash-drill-"))
    project = make_project(work / "project", args.videos)
    started = time.monotonic()
    reference_run = repro(project)
    out, _ = reference_run.communicate()
    if reference_run.returncode:
        print(out[-3000:])
        return 1
    duration = time.monotonic() - started
    reference = digests(project)
    print(f"reference: {len(reference)} files, {duration:.0f} s uninterrupted")
    outcomes = []
    for trial in range(1, args.kills + 1):
        clean(project)
        moment = draw.uniform(0.05, 0.95) * duration
        log = work / f"kill{trial}.log"
        with log.open("w") as handle:
            process = repro(project)
            pump = threading.Thread(target=handle.writelines, args=(process.stdout,))
            pump.start()
            try:
                process.wait(timeout=moment)
                stage = "(finished before the kill)"
            except subprocess.TimeoutExpired:
                handle.flush()
                stage = running_stage(log)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            pump.join()
        again = repro(project)
        rerun_out, _ = again.communicate()
        if again.returncode:
            outcomes.append(
                f"kill {trial}: at {moment:.0f} s in {stage}: RE-RUN FAILED\n{rerun_out[-1500:]}"
            )
            continue
        now = digests(project)
        differing = sorted(
            k for k in reference.keys() | now.keys() if reference.get(k) != now.get(k)
        )
        verdict = (
            "identical" if not differing else f"{len(differing)} files differ: {differing[:5]}"
        )
        outcomes.append(f"kill {trial}: at {moment:.0f} s in {stage}: {verdict}")
        print(outcomes[-1], flush=True)
    identical = sum("identical" in o for o in outcomes)
    print(f"\n{identical} of {args.kills} killed runs re-ran to outputs identical to the reference")
    return 0 if identical == args.kills else 1


if __name__ == "__main__":
    raise SystemExit(main())
