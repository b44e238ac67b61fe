"""Params section `serve`: the generation service (`aiprod serve`, `aiprod worker`).

The database URL is not here: it comes from the environment (`AIPROD_DATABASE_URL`), so no
committed file holds a password. Everything else a deployment tunes is a validated key.
"""

from __future__ import annotations

import os
import re

from pydantic import Field, field_validator, model_validator

from aiprod.config.base import ConfigError, _Section

DATABASE_URL_ENV = "AIPROD_DATABASE_URL"
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class ServeLimits(_Section):
    """Bounds on one request: what a key may ask of a worker."""

    max_prompt_chars: int = Field(default=500, ge=1, le=10_000)
    max_frames: int = Field(default=121, ge=1, le=1_000)
    max_size: int = Field(default=512, ge=8, le=4_096)
    max_steps: int = Field(default=100, ge=1, le=1_000)
    max_cfg: float = Field(default=20.0, gt=0, le=100)
    max_upload_mb: float = Field(default=64.0, gt=0, le=4_096)


class ServeConfig(_Section):
    """API, queue and worker settings."""

    host: str = Field(default="127.0.0.1", description="where `aiprod serve` listens")
    port: int = Field(default=8000, ge=1, le=65_535)
    media_dir: str = Field(default="serve/media", description="uploads and finished videos")
    models: dict[str, str] = Field(
        default={"phase5": "models/phase5/model.pt", "lora": "models/lora/merged.pt"},
        description="model name a job may ask for -> text-to-video checkpoint",
    )
    default_model: str = "phase5"
    lease_seconds: float = Field(default=30.0, gt=0, le=3_600)
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=100)
    poll_seconds: float = Field(default=0.5, gt=0, le=60, description="an idle worker's wait")
    worker_threads: int = Field(
        default=0,
        ge=0,
        le=1024,
        description="CPU threads of each worker's torch ops; 0 = torch's default (all cores): "
        "with several CPU workers on one machine, cores / workers avoids oversubscription",
    )
    rate_per_minute: int = Field(default=600, ge=1, description="requests per key per minute")
    queue_cap: int = Field(default=50, ge=1, description="queued + running jobs per key")
    limits: ServeLimits = ServeLimits()

    @field_validator("models")
    @classmethod
    def _model_names(cls, models: dict[str, str]) -> dict[str, str]:
        if not models:
            raise ValueError("must name at least one model")
        bad = [name for name in models if not MODEL_NAME.match(name)]
        if bad:
            raise ValueError(f"model names must match {MODEL_NAME.pattern}: {bad}")
        return models

    @model_validator(mode="after")
    def _cross_checks(self) -> ServeConfig:
        if self.default_model not in self.models:
            raise ValueError(
                f"default_model: {self.default_model!r} is not one of models ({list(self.models)})"
            )
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds: {self.heartbeat_seconds} must be at most half of "
                f"lease_seconds ({self.lease_seconds}), or a live worker loses its lease"
            )
        return self


def database_url(environ: dict[str, str] | None = None) -> str:
    """The PostgreSQL URL from the environment; a clear error when it is missing or not one."""
    url = (os.environ if environ is None else environ).get(DATABASE_URL_ENV, "").strip()
    if not url:
        raise ConfigError(
            f"{DATABASE_URL_ENV} is not set (e.g. postgresql+psycopg://aiprod@127.0.0.1/aiprod)"
        )
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        raise ConfigError(f"{DATABASE_URL_ENV}: must be a postgresql:// URL")
    return url.replace("postgresql://", "postgresql+psycopg://", 1)
