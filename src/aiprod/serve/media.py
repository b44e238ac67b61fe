"""Files the service keeps: uploaded motion references and finished videos.

An upload is streamed to a temporary file with a byte cap, decoded to prove it is a video,
and only then renamed into place; a refused upload leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiprod.fsutil import temporary_sibling
from aiprod.video.decode import DecodeStats, VideoError, decode_frames, open_container, probe

CHUNK = 1 << 20
MAX_PROBED_FRAMES = 10_000  # enough to prove a reference decodes; guidance needs far fewer


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload exceeds {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StoredUpload:
    id: uuid.UUID
    path: Path
    bytes: int
    sha256: str
    frames: int


def uploads_dir(media_dir: str | Path) -> Path:
    return Path(media_dir) / "uploads"


def videos_dir(media_dir: str | Path) -> Path:
    return Path(media_dir) / "videos"


def count_frames(path: Path) -> int:
    """Frames that decode (up to MAX_PROBED_FRAMES); VideoError when it is not a video."""
    with open_container(str(path)) as container:
        probe(container)
        stats = DecodeStats()
        for index, _, _ in decode_frames(container, stats, threaded=False):
            if index + 1 >= MAX_PROBED_FRAMES:
                break
    if stats.frames < 2:
        raise VideoError(f"{stats.frames} decodable frames; a motion reference needs 2 or more")
    return stats.frames


async def store_upload(
    chunks: AsyncIterator[bytes], media_dir: str | Path, max_bytes: int
) -> StoredUpload:
    """Stream, cap, hash and check an upload; rename it into place only if it is a video.

    TooLarge past `max_bytes`, VideoError when it does not decode; either way nothing stays.
    """
    upload_id = uuid.uuid4()
    final = uploads_dir(media_dir) / f"{upload_id}.video"
    tmp = temporary_sibling(final)
    digest, size = hashlib.sha256(), 0
    try:
        with tmp.open("wb") as handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(max_bytes)
                digest.update(chunk)
                handle.write(chunk)
        frames = await asyncio.to_thread(count_frames, tmp)  # decoding: off the event loop
        tmp.replace(final)
    finally:
        tmp.unlink(missing_ok=True)
    return StoredUpload(upload_id, final, size, digest.hexdigest(), frames)
