"""Find source videos in folders, globs and fsspec URLs, and open them for reading."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import fsspec
from fsspec.implementations.local import LocalFileSystem

GLOB_CHARS = set("*?[")
SIDECAR_EXTENSIONS = ("json", "txt")


@dataclass(frozen=True)
class Source:
    """One source file: `url` as lineage records it (a relative path for local files)."""

    url: str
    fs: fsspec.AbstractFileSystem
    path: str  # the filesystem's own path

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def open(self) -> IO[bytes]:
        return self.fs.open(self.path, "rb")

    def sidecars(self) -> dict[str, str]:
        """Sidecar files next to the source with the same stem: {extension: path}."""
        stem = self.path.rsplit(".", 1)[0]
        found = {}
        for ext in SIDECAR_EXTENSIONS:
            candidate = f"{stem}.{ext}"
            if self.fs.exists(candidate):
                found[ext] = candidate
        return found


def _display_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    if isinstance(fs, LocalFileSystem):
        relative = os.path.relpath(path)
        return path if relative.startswith("..") else Path(relative).as_posix()
    return fs.unstrip_protocol(path)


def discover(patterns: list[str], extensions: list[str]) -> list[Source]:
    """Every video file named by the patterns, sorted and without repeats.

    A folder is searched recursively for the extensions; a glob or a single file is taken as
    given (so a `.tar` or odd extension can be named explicitly). A pattern that matches
    nothing raises FileNotFoundError naming it.
    """
    wanted = {f".{ext}" for ext in extensions}
    found: dict[str, Source] = {}
    for pattern in patterns:
        fs, root = fsspec.core.url_to_fs(pattern)
        if fs.isdir(root):
            paths = [p for p in fs.find(root) if Path(p).suffix.lower() in wanted]
        elif GLOB_CHARS & set(pattern):
            paths = [p for p in fs.glob(root) if not fs.isdir(p)]
        elif fs.exists(root):
            paths = [root]
        else:
            raise FileNotFoundError(f"ingest.sources: {pattern!r} matches no file or folder")
        for path in paths:
            source = Source(_display_url(fs, path), fs, path)
            found.setdefault(source.url, source)
    return [found[url] for url in sorted(found)]
