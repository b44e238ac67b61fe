"""Where the data stages run their per-item tasks, and how per-clip results are kept.

`task_runner` picks Prefect's thread pool or prefect-dask's `DaskTaskRunner` from
`engine.runner`. `ClipWork` is the cache policy of the per-clip tasks of score and caption:
a killed stage resumes from the results already persisted under `engine.cache_dir`, and
`prune_cache` drops the results a finished run did not use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from prefect.cache_policies import INPUTS, TASK_SOURCE, CachePolicy
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.hashing import hash_objects

from aiprod.config import EngineConfig
from aiprod.fsutil import sha256_file

SRC = Path(__file__).resolve().parents[1] / "src" / "aiprod"


def task_runner(engine: EngineConfig, local_workers: int) -> TaskRunner:
    """Threads in this process (`local`), or Dask workers: a LocalCluster or `dask.address`."""
    if engine.runner == "local":
        return ThreadPoolTaskRunner(max_workers=local_workers)
    from prefect_dask import DaskTaskRunner

    if engine.dask.address:
        return DaskTaskRunner(address=engine.dask.address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": engine.dask.workers,
            "threads_per_worker": engine.dask.threads_per_worker,
            "processes": True,
            "host": "127.0.0.1",  # scheduler, workers and dashboard on loopback only
            "dashboard_address": "127.0.0.1:0",  # a free port: stages may run side by side
        }
    )


@cache
def library_digest(packages: tuple[str, ...]) -> str:
    """sha256 of the library packages (or modules) a task runs: a code change is a cache miss."""
    digest = hashlib.sha256()
    for name in packages:
        target = SRC / name
        if target.is_dir():
            files = sorted(p for p in target.iterdir() if p.suffix in {".py", ".json"})
        else:
            files = [target.with_suffix(".py")]
        for path in files:
            digest.update(path.relative_to(SRC).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


@dataclass
class ClipWork(CachePolicy):
    """Cache key of a per-clip task: its source, its inputs, the library code it runs and the
    bytes of the files it reads (the clip and its sidecars), so an edited clip is redone."""

    packages: tuple[str, ...] = ()
    reads: Callable[[dict[str, Any]], list[str]] = field(default=lambda inputs: [])

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        files = [p for p in self.reads(inputs) if Path(p).is_file()]
        return hash_objects(
            TASK_SOURCE.compute_key(task_ctx, inputs, flow_parameters, **kwargs),
            INPUTS.compute_key(task_ctx, inputs, flow_parameters, **kwargs),
            library_digest(self.packages),
            {path: sha256_file(path) for path in files},
            raise_on_failure=True,
        )


def clip_cache(engine: EngineConfig, stage: str, policy: ClipWork) -> dict[str, Any]:
    """`Task.with_options` keywords: the policy, results persisted under the stage's folder."""
    storage = Path(engine.cache_dir, stage).resolve()  # a local folder, no server-side block
    return {"cache_policy": policy, "persist_result": True, "result_storage": storage}


def prune_cache(engine: EngineConfig, stage: str, futures: list[PrefectFuture]) -> int:
    """Delete the stage's persisted results that none of this run's tasks used (results of
    earlier settings, code or clips), so the cache holds about one result per clip instead
    of growing with every change. Call it once every future has finished; a future whose
    result file is unknown keeps everything."""
    keys = {_result_file(future) for future in futures}
    folder = Path(engine.cache_dir, stage)
    if None in keys or not folder.is_dir():
        return 0
    stale = [path for path in folder.iterdir() if path.is_file() and path.name not in keys]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def _result_file(future: PrefectFuture) -> str | None:
    """The name of the file a finished task's result was persisted in (or read from)."""
    record = future.state.data  # a ResultRecord, or its metadata alone
    key = getattr(getattr(record, "metadata", record), "storage_key", None)
    return Path(key).name if key else None


def clip_reads(row: dict) -> list[str]:
    """The files a clip's task reads: the mp4 and the sidecars that travelled with it."""
    path = Path(row["path"])
    return [str(path), str(path.with_suffix(".json")), str(path.with_suffix(".txt"))]
