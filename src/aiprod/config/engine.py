"""Params section `engine`: where the per-file and per-clip work of the data stages runs.

Read by ingest, score, caption and the shard stages. It decides where work runs, never what
it produces (manifests and shards are byte-identical under either runner), so no stage lists
it among its DVC params: switching runner re-runs nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from aiprod.config.base import _Section


class DaskConfig(_Section):
    """An existing Dask scheduler, or a LocalCluster started for the stage."""

    address: str = Field(
        default="",
        description="scheduler address (tcp://host:8786); empty: a LocalCluster of `workers`",
    )
    workers: int = Field(default=2, ge=1, le=1024, description="LocalCluster worker processes")
    threads_per_worker: int = Field(default=1, ge=1, le=256)

    @field_validator("address")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value and "://" not in value:
            raise ValueError(f"must be a scheduler URL such as tcp://host:8786, not {value!r}")
        return value


class EngineConfig(_Section):
    """The task runner of the data stages and where their per-clip results are kept."""

    runner: Literal["local", "dask"] = Field(
        default="local",
        description="local: threads in the stage's process | dask: Dask worker processes",
    )
    dask: DaskConfig = DaskConfig()
    cache_dir: str = Field(
        default=".aiprod/task-cache",
        description="per-clip results of score and caption, so a killed stage resumes; with "
        "a Dask cluster it must be on storage every worker reads at the same path",
        min_length=1,
    )
