"""Ingest one source file: hash, probe, decode once, detect cuts, write clips, or quarantine.

The result of each source is also written next to the clips (`_sources/<sha>.json`), keyed
by the source hash and the settings, so a re-run (or a run resumed after a kill) skips the
sources already done and yields the same manifest as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import av
import numpy as np

from aiprod.config import IngestConfig
from aiprod.fsutil import atomic_write, sha256_file, sha256_stream, write_json
from aiprod.ingest.clips import Clip, ClipAssembler, FrameGeometry
from aiprod.ingest.scenes import CutDetector
from aiprod.ingest.sources import Source
from aiprod.video.decode import (
    DecodeStats,
    ProbeInfo,
    VideoError,
    decode_frames,
    display_size,
    open_container,
    probe,
    thumbnail,
    to_bgr,
)
from aiprod.video.ffmpeg import write_h264
from aiprod.video.prefetch import prefetched

log = logging.getLogger(__name__)

MARKERS = "_sources"
CODE_PACKAGES = ("ingest", "video")  # the code whose change must re-make every clip


@dataclass
class SourceResult:
    """Rows for the manifest, or the reason the source went to quarantine."""

    url: str
    sha256: str | None
    rows: list[dict] = field(default_factory=list)
    reason: str | None = None
    source_frames: int = 0
    resumed: bool = False


@cache
def code_digest() -> str:
    """Hash of the ingest and video source code. DVC re-runs the stage when this code changes;
    the per-source markers must then be invalid too, or a resumed run would keep clips that
    the new code would cut differently."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((root / package).glob("*.py")):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def settings_fingerprint(cfg: IngestConfig) -> str:
    """What decides clip bytes (settings and code); a change re-makes every clip."""
    keys = cfg.model_dump(
        include={
            "clip_seconds",
            "target",
            "scenes",
            "encode",
            "min_source_fps",
            "min_decoded_share",
        }
    )
    text = json.dumps([code_digest(), keys], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source_sha256(source: Source) -> str:
    if source.is_local:
        return sha256_file(source.path)
    with source.open() as handle:
        return sha256_stream(handle)


# the manifest's columns, in order (one row per clip; see `_write_clip`)
MANIFEST_COLUMNS = [
    "clip_id",
    "path",
    "source",
    "source_sha256",
    "clip_index",
    "start_time",
    "end_time",
    "start_frame",
    "end_frame",
    "duration",
    "fps",
    "width",
    "height",
    "frames",
    "sidecars",
    "source_container",
    "source_codec",
    "source_width",
    "source_height",
    "source_rotation",
    "source_has_audio",
    "source_vfr",
    "source_fps",
]


def marker_path(clips_dir: Path, sha256: str) -> Path:
    return clips_dir / MARKERS / f"{sha256[:32]}.json"


def load_marker(clips_dir: Path, sha256: str, fingerprint: str) -> SourceResult | None:
    """A finished result for this source and settings whose clips are all still on disk."""
    path = marker_path(clips_dir, sha256)
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("settings") != fingerprint:
        return None
    rows = data["rows"]
    if not all((clips_dir / Path(row["path"]).name).exists() for row in rows):
        return None
    result = SourceResult(data["url"], sha256, rows, data["reason"], data["source_frames"])
    result.resumed = True
    return result


def ingest_source(source: Source, cfg: IngestConfig, clips_dir: Path) -> SourceResult:
    """Everything ingest does to one file; never raises for a bad file, quarantines it."""
    try:
        sha256 = source_sha256(source)
    except OSError as error:
        return SourceResult(source.url, None, reason=f"unreadable: {error}")
    fingerprint = settings_fingerprint(cfg)
    done = load_marker(clips_dir, sha256, fingerprint)
    if done is not None:  # the same bytes may have moved: lineage names the current path
        done.url = source.url
        for row in done.rows:
            row["source"] = source.url
        return done
    result = SourceResult(source.url, sha256)
    written: list[Path] = []
    try:
        _decode_into_clips(source, sha256, cfg, clips_dir, result, written)
    except VideoError as error:
        # FFmpeg's messages carry the absolute path; lineage uses the portable url instead,
        # so the quarantine table is the same in every checkout
        result.reason = str(error).replace(str(Path(source.path).resolve()), source.url)
    except Exception as error:  # noqa: BLE001 - one odd file must not stop a corpus-wide run
        log.warning("ingest of %s failed", source.url, exc_info=True)
        result.reason = f"failed: {type(error).__name__}: {error}"
    if result.reason is not None:
        for path in written:  # a quarantined file leaves no clips behind
            path.unlink(missing_ok=True)
        result.rows = []
    write_json(
        marker_path(clips_dir, sha256),
        {
            "url": source.url,
            "settings": fingerprint,
            "rows": result.rows,
            "reason": result.reason,
            "source_frames": result.source_frames,
        },
    )
    return result


def _decode_into_clips(
    source: Source,
    sha256: str,
    cfg: IngestConfig,
    clips_dir: Path,
    result: SourceResult,
    written: list[Path],
) -> None:
    handle = None if source.is_local else source.open()
    container = open_container(source.path if source.is_local else handle)
    try:
        info = probe(container)

        def write(clip: Clip) -> None:
            _write_clip(clip, source, sha256, info, stats, cfg, clips_dir, result, written)

        detector = CutDetector(cfg.scenes, info.fps)
        stats = DecodeStats()
        assembler: ClipAssembler | None = None
        with ThreadPoolExecutor(max_workers=1) as encoder:  # encoding overlaps decoding
            pending: list[Future] = []
            for index, time, frame in prefetched(decode_frames(container, stats)):
                if assembler is None:
                    assembler = _assembler(frame, stats.rotation, cfg, detector.delay)
                view = thumbnail(frame, cfg.scenes.analysis_width, stats.rotation)
                assembler.add_cuts(detector.feed(index, view))
                for clip in assembler.feed(index, time, frame):
                    pending.append(encoder.submit(write, clip))
            if assembler is not None:
                assembler.add_cuts(detector.finish())
                pending += [encoder.submit(write, clip) for clip in assembler.finish()]
            for future in pending:
                future.result()
        result.source_frames = stats.frames
        if assembler is None:
            raise VideoError("no decodable video frames")
        _check_complete(info, stats, cfg, result)
        for row in result.rows:  # known only at the end of the decode
            row["source_vfr"] = stats.variable_frame_rate
            row["source_fps"] = round(stats.fps, 4)
    finally:
        container.close()
        if handle is not None:
            handle.close()


def _assembler(first: av.VideoFrame, rotation: int, cfg: IngestConfig, delay: int) -> ClipAssembler:
    """Clip assembly for this source: its displayed size decides the scale and crop."""
    shown = display_size(first.width, first.height, rotation)
    geometry = FrameGeometry.plan(shown, (cfg.target.width, cfg.target.height))

    def convert(frame: av.VideoFrame) -> np.ndarray:
        return geometry.to_target(to_bgr(frame, geometry.cover, rotation))

    return ClipAssembler(
        cfg.target.fps,
        cfg.clip_seconds.min,
        cfg.clip_seconds.max,
        cfg.scenes.trim_frames,
        delay,
        convert,
    )


def _copy_from(source: Source, name: str, target: Path) -> None:
    with source.fs.open(name, "rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst)


def _check_complete(
    info: ProbeInfo, stats: DecodeStats, cfg: IngestConfig, result: SourceResult
) -> None:
    if stats.frames < 2:
        raise VideoError(f"a single frame ({info.codec}): a still image, not a video")
    if stats.fps < cfg.min_source_fps:
        raise VideoError(
            f"frame rate too low: {stats.fps:.2f} fps < ingest.min_source_fps "
            f"= {cfg.min_source_fps}"
        )
    declared = info.duration or 0.0
    if declared > 0 and stats.duration < cfg.min_decoded_share * declared:
        raise VideoError(
            f"truncated: decoded {stats.duration:.2f} s of the declared {declared:.2f} s "
            f"(ingest.min_decoded_share = {cfg.min_decoded_share})"
        )
    if not result.rows:
        raise VideoError(
            f"too short: {stats.duration:.2f} s decoded, no scene reaches "
            f"ingest.clip_seconds.min = {cfg.clip_seconds.min} s"
        )


def _write_clip(
    clip: Clip,
    source: Source,
    sha256: str,
    info: ProbeInfo,
    stats: DecodeStats,
    cfg: IngestConfig,
    clips_dir: Path,
    result: SourceResult,
    written: list[Path],
) -> None:
    clip_id = clip.clip_id(sha256)
    path = clips_dir / f"{clip_id}.mp4"
    write_h264(path, clip.frames, cfg.target.fps, crf=cfg.encode.crf, preset=cfg.encode.preset)
    written.append(path)
    sidecars = []
    for ext, sidecar in sorted(source.sidecars().items()):
        copy = clips_dir / f"{clip_id}.{ext}"
        atomic_write(copy, lambda tmp, name=sidecar: _copy_from(source, name, tmp))
        written.append(copy)
        sidecars.append(ext)
    result.rows.append(
        {
            "clip_id": clip_id,
            "path": path.as_posix(),
            "source": source.url,
            "source_sha256": sha256,
            "clip_index": clip.index,
            "start_time": round(clip.start_time, 4),
            "end_time": round(clip.end_time, 4),
            "start_frame": clip.start_frame,
            "end_frame": clip.end_frame,
            "duration": round(clip.end_time - clip.start_time, 4),
            "fps": cfg.target.fps,
            "width": cfg.target.width,
            "height": cfg.target.height,
            "frames": len(clip.frames),
            "sidecars": ",".join(sidecars),
            "source_container": info.container,
            "source_codec": info.codec,
            "source_width": info.width,
            "source_height": info.height,
            "source_rotation": stats.rotation,
            "source_has_audio": info.has_audio,
        }
    )
