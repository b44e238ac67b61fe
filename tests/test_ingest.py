"""Ingest on small videos made here: cuts, quarantine, rotation, VFR, fsspec, resume."""

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import fsspec
import numpy as np
import pytest
from conftest import make_video, small_params

from aiprod.config import parse_config
from aiprod.fsutil import sha256_file
from aiprod.ingest.pipeline import ingest_source, marker_path
from aiprod.ingest.sources import discover
from aiprod.synth.corpus import plan_corpus, render_video, write_broken_files
from aiprod.video.decode import DecodeStats, decode_frames, open_container, thumbnail
from aiprod.video.ffmpeg import ffmpeg_binary


def ingest_all(config, patterns=None):
    cfg = config.ingest
    sources = discover(patterns or cfg.sources, cfg.extensions)
    return {s.url: ingest_source(s, cfg, Path(cfg.clips_dir)) for s in sources}


def first_frame(path):
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


@pytest.fixture
def corpus(small_config):
    out = Path(small_config.synth.out_dir)
    for plan in plan_corpus(small_config.synth):
        render_video(small_config.synth, plan, out)
    write_broken_files(small_config.synth, out)
    return small_config


def test_cuts_found_within_two_frames_and_bad_files_quarantined(corpus):
    results = ingest_all(corpus)
    multi = [url for url in results if "multi" in url]
    assert len(multi) == 2
    for url in multi:
        truth = json.loads(Path(url).with_suffix(".json").read_text())["cuts"]
        rows = results[url].rows
        assert len(rows) >= 2
        # every true cut falls between two consecutive clips, never inside one
        for cut in truth:
            assert not any(r["start_frame"] + 2 < cut < r["end_frame"] - 2 for r in rows), (
                cut,
                rows,
            )
    reasons = {Path(url).name: r.reason for url, r in results.items() if r.reason}
    assert set(reasons) == {
        "broken_truncated.mp4",
        "broken_empty.mp4",
        "broken_not_video.mp4",
        "broken_audio_only.mp4",
    }
    assert "no video stream" in reasons["broken_audio_only.mp4"]
    assert "not a readable media file" in reasons["broken_empty.mp4"]
    truncated = reasons["broken_truncated.mp4"]
    assert "truncated" in truncated or "decode failed" in truncated
    for url, result in results.items():
        if "single" in url:
            rows = result.rows
            assert result.reason is None and rows
            # no false cut: a single scene's clips follow each other without a gap
            assert all(
                a["end_time"] == b["start_time"] for a, b in zip(rows, rows[1:], strict=False)
            )
            clip = Path(rows[0]["path"])
            assert clip.exists() and clip.with_suffix(".json").exists()  # sidecar travels


def test_cut_detector_frames_match_truth(corpus):
    from aiprod.ingest.scenes import CutDetector

    for url in sorted(Path(corpus.synth.out_dir).glob("shapes_multi_*.mp4")):
        truth = json.loads(url.with_suffix(".json").read_text())["cuts"]
        container = open_container(str(url))
        detector = CutDetector(corpus.ingest.scenes, fps=corpus.synth.fps)
        found = []
        for index, _, frame in decode_frames(container, DecodeStats()):
            found += detector.feed(index, thumbnail(frame, corpus.ingest.scenes.analysis_width))
        found += detector.finish()
        assert len(found) == len(truth)
        assert all(abs(a - b) <= 2 for a, b in zip(sorted(found), truth, strict=True))


def test_rotation_is_applied(tmp_path, params):
    plain = make_video(tmp_path / "plain.mp4", frames=30, size=(64, 48))
    rotated = tmp_path / "src" / "rotated.mp4"
    rotated.parent.mkdir()
    subprocess.run(
        [
            ffmpeg_binary(),
            "-loglevel",
            "error",
            "-display_rotation",
            "90",
            "-i",
            str(plain),
            "-c",
            "copy",
            str(rotated),
        ],
        check=True,
    )
    data = small_params(params, tmp_path)
    data["ingest"]["sources"] = [str(rotated.parent)]
    data["ingest"]["target"].update(width=48, height=64)
    (result,) = ingest_all(parse_config(data)).values()
    assert result.reason is None and result.rows[0]["source_rotation"] == 90
    frame = first_frame(result.rows[0]["path"])
    assert frame.shape[:2] == (64, 48)
    # the bright top-left corner turns counter-clockwise to the bottom-left
    assert frame[-10:, :8].mean() > 200 and frame[:10, :8].mean() < 200


def write_vfr(path, seconds=3.0):
    """A 24 fps video that drops a stretch of frames: variable frame rate."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 24)
        kept = [k for k in range(int(seconds * 24)) if not 20 <= k < 32]
        for k in kept:
            frame = av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), k * 3, np.uint8), format="rgb24"
            )
            frame.pts = k
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_variable_frame_rate_detected_and_durations_right(tmp_path, params):
    source = tmp_path / "src" / "vfr.mp4"
    source.parent.mkdir()
    write_vfr(source)
    data = small_params(params, tmp_path)
    data["ingest"]["sources"] = [str(source.parent)]
    data["ingest"]["clip_seconds"] = {"min": 1.0, "max": 5.0}
    (result,) = ingest_all(parse_config(data)).values()
    (row,) = result.rows
    assert row["source_vfr"] is True
    assert row["duration"] == pytest.approx(3.0, abs=1 / 12 + 1e-6)
    assert row["frames"] == round(row["duration"] * 12)


def test_fsspec_memory_source(tmp_path, params):
    local = make_video(tmp_path / "a.mp4", frames=30)
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/videos/a.mp4", local.read_bytes())
    fs.pipe("/bucket/videos/a.txt", b"a gradient with a white square")
    data = small_params(params, tmp_path)
    data["ingest"]["sources"] = ["memory://bucket/videos"]
    ((url, result),) = ingest_all(parse_config(data)).items()
    assert url == "memory:///bucket/videos/a.mp4"
    assert result.reason is None and len(result.rows) == 1
    assert result.rows[0]["sidecars"] == "txt"
    clip = Path(result.rows[0]["path"])
    assert clip.with_suffix(".txt").read_text() == "a gradient with a white square"


def test_missing_source_names_the_pattern(small_config):
    with pytest.raises(FileNotFoundError, match="ingest.sources: '/nowhere/x' matches no file"):
        discover(["/nowhere/x"], ["mp4"])


def test_second_run_resumes_from_markers(corpus):
    first = ingest_all(corpus)
    second = ingest_all(corpus)
    assert all(r.resumed for r in second.values() if r.sha256)
    assert {u: r.rows for u, r in first.items()} == {u: r.rows for u, r in second.items()}
    # a changed setting invalidates the markers
    data = corpus.model_dump()
    data["ingest"]["encode"]["crf"] = 30
    third = ingest_all(parse_config(data))
    assert not any(r.resumed for r in third.values())
    some = next(r for r in third.values() if r.rows)
    assert marker_path(Path(corpus.ingest.clips_dir), some.sha256).exists()


def test_a_resumed_run_writes_the_same_manifest_bytes(corpus, tmp_path):
    from aiprod.ingest.manifest import write_tables

    first = list(ingest_all(corpus).values())
    write_tables(first, tmp_path / "a.parquet", tmp_path / "qa.parquet")
    second = list(ingest_all(corpus).values())  # every source from its marker (keys sorted)
    assert all(r.resumed for r in second if r.sha256)
    write_tables(second, tmp_path / "b.parquet", tmp_path / "qb.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert (tmp_path / "qa.parquet").read_bytes() == (tmp_path / "qb.parquet").read_bytes()


def test_a_code_change_invalidates_the_markers(corpus, monkeypatch):
    from aiprod.ingest import pipeline

    first = ingest_all(corpus)
    monkeypatch.setattr(pipeline, "code_digest", lambda: "another version of the code")
    again = ingest_all(corpus)
    assert first and not any(r.resumed for r in again.values())


def test_webdataset_tar_source_with_sidecars(tmp_path, params):
    import tarfile

    video = make_video(tmp_path / "000001.mp4", frames=30)
    (tmp_path / "000001.txt").write_text("a white square on a gradient")
    (tmp_path / "000001.json").write_text('{"caption": "a white square"}')
    shard = tmp_path / "src" / "shard-000000.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w") as tar:
        for name in ("000001.mp4", "000001.txt", "000001.json"):
            tar.add(tmp_path / name, arcname=name)
    data = small_params(params, tmp_path)
    data["ingest"]["sources"] = [str(shard.parent)]
    ((url, result),) = ingest_all(parse_config(data)).items()
    assert url.endswith("shard-000000.tar#000001.mp4")
    assert result.reason is None and result.rows[0]["sidecars"] == "json,txt"
    assert result.rows[0]["source_sha256"] == sha256_file(video)
    clip = Path(result.rows[0]["path"])
    assert clip.with_suffix(".txt").read_text() == "a white square on a gradient"


def test_an_unexpected_failure_quarantines_the_file_not_the_run(tmp_path, params, monkeypatch):
    from aiprod.ingest import pipeline

    make_video(tmp_path / "src" / "a.mp4", frames=30) if (
        tmp_path / "src"
    ).mkdir() is None else None
    data = small_params(params, tmp_path)
    data["ingest"]["sources"] = [str(tmp_path / "src")]

    def boom(*args, **kwargs):
        raise RuntimeError("odd pixel format")

    monkeypatch.setattr(pipeline, "_decode_into_clips", boom)
    ((_, result),) = ingest_all(parse_config(data)).items()
    assert result.reason == "failed: RuntimeError: odd pixel format" and result.rows == []
