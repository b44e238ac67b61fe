"""What the sources hold, as one small file: DVC cannot take `ingest.sources` (a list of
folders, globs or URLs) as deps, so the `sources` stage lists every file they match with its
size and content hash, and `ingest` depends on that listing. Adding, editing or removing a
source file changes the listing and re-runs ingest; an unchanged corpus leaves it identical.

Local hashes are remembered by (path, size, mtime), as DVC's own state does, so a re-listing
of an unchanged corpus only stats the files. Remote files use the store's checksum (ETag).
"""

from __future__ import annotations

import json
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from aiprod.fsutil import sha256_file, write_json
from aiprod.ingest.sources import SIDECAR_EXTENSIONS, display_url, pattern_files


class HashState:
    """sha256 of local files keyed by (path, size, mtime_ns), kept in a JSON file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.known: dict[str, list] = (
            json.loads(self.path.read_text()) if self.path.is_file() else {}
        )
        self.seen: dict[str, list] = {}

    def sha256(self, path: str) -> str:
        stat = Path(path).stat()
        entry = self.known.get(path)
        if entry is None or entry[:2] != [stat.st_size, stat.st_mtime_ns]:
            entry = [stat.st_size, stat.st_mtime_ns, sha256_file(path)]
        self.seen[path] = entry
        return entry[2]

    def save(self) -> None:
        write_json(self.path, self.seen)  # only the files listed this time: no growth


def list_sources(patterns: list[str], extensions: list[str], state: HashState) -> list[dict]:
    """One row per matched file (videos, tars and their sidecars), sorted by URL: url, bytes
    and a content fingerprint."""
    suffixes = {f".{ext}" for ext in [*extensions, *SIDECAR_EXTENSIONS]}
    rows: dict[str, dict] = {}
    for pattern in patterns:
        fs, paths = pattern_files(pattern, suffixes)
        for path in paths:
            row = {"url": display_url(fs, path), "bytes": fs.size(path)}
            if isinstance(fs, LocalFileSystem):
                row["sha256"] = state.sha256(path)
            else:
                row["checksum"] = str(fs.checksum(path))
            rows.setdefault(row["url"], row)
    return [rows[url] for url in sorted(rows)]
