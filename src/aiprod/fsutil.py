"""Atomic file writes and content hashes: a killed stage never leaves half a file behind."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pandas as pd

HASH_CHUNK = 1 << 20


def temporary_sibling(path: Path) -> Path:
    """A unique temporary name next to `path` (same filesystem, so a rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` then rename tmp over `path`; on failure nothing is left."""
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_torch(path: str | Path, payload: Any) -> Path:
    """Atomically `torch.save` `payload`: the same payload writes the same bytes, so DVC sees
    an unchanged output as unchanged. Saved to a path, torch names the zip's folder after
    the file, and the temporary name's random part made every save differ."""
    import torch

    def write(tmp: Path) -> None:
        with tmp.open("wb") as file:
            torch.save(payload, file)

    return atomic_write(path, write)


def write_json(path: str | Path, data: Any) -> Path:
    """Atomically write `data` as pretty, key-sorted, UTF-8 JSON (stable bytes for DVC)."""
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_parquet(path: str | Path, frame: pd.DataFrame) -> Path:
    """Atomically write a DataFrame as parquet."""
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def sha256_stream(handle: IO[bytes]) -> str:
    """sha256 hex digest of a binary stream, read in chunks (flat memory)."""
    digest = hashlib.sha256()
    while chunk := handle.read(HASH_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | Path) -> str:
    """sha256 hex digest of a local file."""
    with Path(path).open("rb") as handle:
        return sha256_stream(handle)


def fingerprint(settings: object, files: list[str | Path]) -> str:
    """sha256 of settings (as sorted JSON) and the contents of some files: what a run used."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in sorted(str(f) for f in files):
        digest.update(path.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()
