"""H.264 encoding of raw frames through an ffmpeg subprocess (ffmpeg-python)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import ffmpeg
import imageio_ffmpeg
import numpy as np

from aiprod.fsutil import temporary_sibling

log = logging.getLogger(__name__)


class EncodeError(RuntimeError):
    """ffmpeg refused or failed to encode; the message carries ffmpeg's own words."""


def ffmpeg_binary() -> str:
    """The system ffmpeg when one is on the PATH, else the one imageio-ffmpeg ships."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


class H264Writer:
    """Streams BGR frames into an mp4, written atomically: the file appears only when complete.

    One encoder thread per clip keeps output bytes deterministic and leaves the cores to the
    files processed in parallel.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: float,
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        self.path = Path(path)
        self.size = (height, width)
        self.frames = 0
        self._tmp = temporary_sibling(self.path)
        stream = ffmpeg.input(
            "pipe:", format="rawvideo", pix_fmt="bgr24", s=f"{width}x{height}", framerate=fps
        ).output(
            str(self._tmp),
            format="mp4",
            vcodec="libx264",
            pix_fmt="yuv420p",
            crf=crf,
            preset=preset,
            threads=1,
            movflags="+faststart",
            map_metadata=-1,
            fflags="+bitexact",
        )
        args = stream.global_args("-loglevel", "error", "-nostdin").overwrite_output()
        self._process: subprocess.Popen = args.run_async(
            cmd=ffmpeg_binary(), pipe_stdin=True, pipe_stderr=True
        )

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 BGR frame."""
        if frame.shape[:2] != self.size or frame.dtype != np.uint8:
            raise ValueError(f"frame {frame.shape} {frame.dtype} does not match {self.size} uint8")
        self._process.stdin.write(np.ascontiguousarray(frame).tobytes())
        self.frames += 1

    def write_all(self, frames: Iterable[np.ndarray]) -> None:
        """Append every frame of an iterable."""
        for frame in frames:
            self.write(frame)

    def close(self) -> Path:
        """Finish the encode and move the file into place."""
        _, stderr = self._process.communicate()
        if self._process.returncode != 0 or self.frames == 0:
            self._tmp.unlink(missing_ok=True)
            raise EncodeError(
                f"ffmpeg failed writing {self.path} ({self.frames} frames): "
                f"{stderr.decode(errors='replace').strip()}"
            )
        self._tmp.replace(self.path)
        return self.path

    def abort(self) -> None:
        """Stop the encoder and leave nothing behind."""
        self._process.kill()
        self._process.communicate()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> H264Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_h264(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    crf: int = 18,
    preset: str = "veryfast",
) -> int:
    """Encode a sequence of equal-size BGR frames to `path`; returns the frame count."""
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError(f"no frames to write to {path}")
    height, width = first.shape[:2]
    with H264Writer(path, width, height, fps, crf=crf, preset=preset) as writer:
        writer.write(first)
        writer.write_all(iterator)
        return writer.frames
