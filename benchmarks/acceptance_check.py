"""Ingest the shared acceptance footage (odd real files) and print what happened to each.

    python benchmarks/acceptance_check.py [--folder ../shared/acceptance]

Checks, not tests: the files may not be copied into the project. Prints, per file, the clips
made or the quarantine reason, VFR and rotation, and for the labelled cut file the cuts found
next to the largest frame-to-frame differences of the decoded video.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from aiprod.config import load_config
from aiprod.ingest.pipeline import ingest_source
from aiprod.ingest.scenes import CutDetector
from aiprod.ingest.sources import discover
from aiprod.video.decode import DecodeStats, decode_frames, open_container, probe, thumbnail

ROOT = Path(__file__).resolve().parents[1]


def cut_evidence(path: Path, cfg: object) -> tuple[list[int], list[tuple[int, float]]]:
    """Cuts PySceneDetect finds, and the 4 largest mean absolute grey-level frame differences."""
    container = open_container(str(path))
    detector = CutDetector(cfg.scenes, probe(container).fps)
    cuts, jumps, previous = [], [], None
    for index, _, frame in decode_frames(container, DecodeStats()):
        view = thumbnail(frame, cfg.scenes.analysis_width)
        cuts += detector.feed(index, view)
        grey = view.mean(axis=2)
        if previous is not None:
            jumps.append((index, float(np.abs(grey - previous).mean())))
        previous = grey
    cuts += detector.finish()
    container.close()
    return cuts, sorted(jumps, key=lambda j: -j[1])[:4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "acceptance")
    args = parser.parse_args()
    cfg = load_config(ROOT / "params.yaml").ingest
    with tempfile.TemporaryDirectory() as tmp:
        for source in discover([str(args.folder)], cfg.extensions):
            result = ingest_source(source, cfg, Path(tmp))
            name = source.url.split("/")[-1]
            if result.reason:
                print(f"{name}: quarantined: {result.reason}")
                continue
            row = result.rows[0]
            spans = [(r["start_frame"], r["end_frame"]) for r in result.rows]
            print(
                f"{name}: {len(result.rows)} clips, vfr={row['source_vfr']}, "
                f"rotation={row['source_rotation']}, source frames {spans}"
            )
    labelled = args.folder / "cuts_201_382.mp4"
    if labelled.exists():
        cuts, jumps = cut_evidence(labelled, cfg)
        print(
            f"cuts_201_382.mp4: cuts found {cuts}; largest frame differences "
            f"{[(i, round(d, 1)) for i, d in jumps]} (labelled: 201, 382)"
        )


if __name__ == "__main__":
    main()
