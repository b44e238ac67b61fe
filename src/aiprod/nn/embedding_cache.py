"""Sentence embeddings kept on disk, so each caption is embedded once per machine.

Every training, mining and evaluation stage is its own process and embeds the same captions
(about 1.2 ms each on an idle 2-core CPU, slower inside a busy training loop). A frozen
encoder makes the embedding a pure function of (model, text), so a cache cannot change a
result; it lives outside the DVC-tracked tree, like a model hub's cache. SQLite gives
atomic, concurrent writes (two DDP ranks may fill it at once).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

CHUNK = 500  # keys per SELECT (SQLite's bound-parameter limit is 999 on old builds)


def cache_dir() -> Path:
    """`$AIPROD_CACHE`, else ~/.cache/aiprod."""
    return Path(os.environ.get("AIPROD_CACHE") or Path.home() / ".cache" / "aiprod")


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """float32 vectors of one model by text, in `<dir>/embeddings.sqlite`."""

    def __init__(self, model: str, directory: Path | None = None) -> None:
        directory = directory or cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        self.model = model
        self.db = sqlite3.connect(directory / "embeddings.sqlite", timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS vectors "
            "(model TEXT, key TEXT, vector BLOB, PRIMARY KEY (model, key))"
        )

    def get(self, texts: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors of those texts that have one."""
        texts = list(dict.fromkeys(texts))
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(texts), CHUNK):
            by_key = {_key(t): t for t in texts[start : start + CHUNK]}
            marks = ",".join("?" * len(by_key))
            rows = self.db.execute(
                f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})",  # noqa: S608 (only '?' marks are formatted in)
                [self.model, *by_key],
            )
            for key, blob in rows:
                found[by_key[key]] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        rows = [
            (self.model, _key(t), np.asarray(v, dtype=np.float32).tobytes())
            for t, v in vectors.items()
        ]
        with self.db:  # one transaction: all or nothing
            self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
