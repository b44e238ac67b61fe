"""Ingest throughput against a bare PyAV decode of the same files, in the same run.

Prints source frames/s of both, their ratio (target >= 0.5), and the peak memory of an
ingest of a corpus and of one twice its size (each in a fresh process), which should be flat.

    python benchmarks/ingest_throughput.py [--files PATH ...]

Default corpus: the repository's Sintel footage (480p) plus 720p and 1080p footage, taken
from ../shared/acceptance when present, otherwise made here by scaling Sintel up with ffmpeg.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from aiprod.config import load_config
from aiprod.ingest.pipeline import ingest_source
from aiprod.ingest.sources import discover
from aiprod.video.ffmpeg import ffmpeg_binary

ROOT = Path(__file__).resolve().parents[1]
FOOTAGE = sorted((ROOT / "datasets/raw/footage").glob("*.mp4"))
ACCEPTANCE = ROOT.parent / "shared" / "acceptance"


def default_corpus(work: Path) -> list[Path]:
    files = list(FOOTAGE)
    big = [ACCEPTANCE / "cuts_201_382.mp4", ACCEPTANCE / "long_1080p_122s.mp4"]
    if all(path.exists() for path in big):
        return files + big
    for height in (720, 1080):
        out = work / f"sintel_{height}p.mp4"
        subprocess.run(
            [
                ffmpeg_binary(),
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(FOOTAGE[-1]),
                "-vf",
                f"scale=-2:{height}",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                str(out),
            ],
            check=True,
        )
        files.append(out)
    return files


def bare_decode(files: list[Path]) -> tuple[int, float]:
    """Frames and seconds of a threaded decode that keeps nothing: the floor of any ingest."""
    frames, start = 0, time.perf_counter()
    for path in files:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for _ in container.decode(stream):
                frames += 1
    return frames, time.perf_counter() - start


def ingest(files: list[Path], clips_dir: Path) -> tuple[int, float]:
    cfg = load_config(ROOT / "params.yaml").ingest
    shutil.rmtree(clips_dir, ignore_errors=True)
    frames, start = 0, time.perf_counter()
    for source in discover([str(f) for f in files], cfg.extensions):
        result = ingest_source(source, cfg, clips_dir)
        if result.reason:
            raise RuntimeError(f"{source.url}: {result.reason}")
        frames += result.source_frames
    return frames, time.perf_counter() - start


def peak_memory_mib(files: list[Path], clips_dir: Path) -> float:
    """Peak resident memory of an ingest of `files` in a fresh process."""
    here = str(Path(__file__).parent)
    code = (
        f"import json,sys,resource; from pathlib import Path; sys.path.insert(0, {here!r});"
        "from ingest_throughput import ingest; ingest([Path(p) for p in json.loads(sys.argv[1])],"
        " Path(sys.argv[2])); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps([str(f) for f in files]), str(clips_dir)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="*", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = args.files or default_corpus(work)
        for path in files:
            with av.open(str(path)) as c:
                s = c.streams.video[0]
                print(f"  {path.name}: {s.width}x{s.height}, {s.frames} frames")
        bare_decode(files[:1])  # warm the page cache for both runs alike
        decoded, decode_s = bare_decode(files)
        ingested, ingest_s = ingest(files, work / "clips")
        decode_fps, ingest_fps = decoded / decode_s, ingested / ingest_s
        print(f"bare decode: {decoded} frames in {decode_s:.2f} s = {decode_fps:.0f} frames/s")
        print(f"ingest:      {ingested} frames in {ingest_s:.2f} s = {ingest_fps:.0f} frames/s")
        print(f"ratio ingest/decode: {ingest_fps / decode_fps:.2f}x (target >= 0.5x)")
        half = files[: max(1, len(files) // 2)]
        small = peak_memory_mib(half, work / "m1")
        large = peak_memory_mib(files, work / "m2")
        half_frames, _ = bare_decode(half)
        print(
            f"peak memory: {small:.0f} MiB ingesting {half_frames} frames, "
            f"{large:.0f} MiB ingesting {decoded} frames (flat = about equal)"
        )


if __name__ == "__main__":
    main()
