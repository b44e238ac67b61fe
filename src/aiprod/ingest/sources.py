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


def display_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    if isinstance(fs, LocalFileSystem):
        relative = os.path.relpath(path)
        return path if relative.startswith("..") else Path(relative).as_posix()
    return fs.unstrip_protocol(path)


def _tar_members(fs: fsspec.AbstractFileSystem, path: str, wanted: set[str]) -> list[Source]:
    """The videos inside a tar (e.g. a video2dataset / WebDataset shard), with their sidecars."""
    archive = fsspec.filesystem("tar", fo=fs.open(path, "rb"))
    members = sorted(m for m in archive.find("") if Path(m).suffix.lower() in wanted - {".tar"})
    return [Source(f"{display_url(fs, path)}#{member}", archive, member) for member in members]


def pattern_files(pattern: str, suffixes: set[str]) -> tuple[fsspec.AbstractFileSystem, list[str]]:
    """The files one `ingest.sources` pattern names, sorted: a folder's files with these
    suffixes (searched recursively), a glob's matches, or the one file named."""
    fs, root = fsspec.core.url_to_fs(pattern)
    if fs.isdir(root):
        return fs, sorted(p for p in fs.find(root) if Path(p).suffix.lower() in suffixes)
    if GLOB_CHARS & set(pattern):
        return fs, sorted(p for p in fs.glob(root) if not fs.isdir(p))
    if fs.exists(root):
        return fs, [root]
    raise FileNotFoundError(f"ingest.sources: {pattern!r} matches no file or folder")


def discover(patterns: list[str], extensions: list[str]) -> list[Source]:
    """Every video file named by the patterns, sorted and without repeats.

    A folder is searched recursively for the extensions; a glob or a single file is taken as
    given. A `.tar` (WebDataset / video2dataset shard) stands for the videos inside it, each
    with the sidecars of its key. A pattern that matches nothing raises FileNotFoundError.
    """
    wanted = {f".{ext}" for ext in extensions}
    found: dict[str, Source] = {}
    for pattern in patterns:
        fs, paths = pattern_files(pattern, wanted)
        for path in paths:
            if Path(path).suffix.lower() == ".tar":
                for source in _tar_members(fs, path, wanted | {".mp4"}):
                    found.setdefault(source.url, source)
                continue
            source = Source(display_url(fs, path), fs, path)
            found.setdefault(source.url, source)
    return [found[url] for url in sorted(found)]


def largest_first(sources: list[Source]) -> list[Source]:
    """Local sources by size, largest first (remote ones after, as listed): started first,
    the longest files do not leave one worker finishing alone at the end."""

    def size(source: Source) -> int:
        return Path(source.path).stat().st_size if source.is_local else -1

    return sorted(sources, key=size, reverse=True)
