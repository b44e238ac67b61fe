"""The API's request and response bodies (pydantic): what OpenAPI documents and clients see.

A job request's bounds come from `serve.limits` and its `model` from `serve.models`, so the
request class is built from the config: the schema states the limits a deployment enforces.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from aiprod.config.serve import ServeConfig

State = Literal["queued", "running", "succeeded", "failed", "canceled"]


def job_request_model(serve: ServeConfig) -> type[BaseModel]:
    """The request class for a deployment: its limits and model names in the schema."""
    lim = serve.limits
    model_names = Literal[tuple(serve.models)]  # type: ignore[valid-type]

    class JobRequest(BaseModel):
        """A text-to-video job. `motion_reference` is an upload id (POST /v1/uploads)."""

        model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

        prompt: str = Field(
            min_length=1,
            max_length=lim.max_prompt_chars,
            description="in any of the model's languages (en de fr es it pt ru zh ja ...)",
        )
        frames: int | None = Field(
            default=None, ge=1, le=lim.max_frames, description="default: the model's"
        )
        size: int | None = Field(
            default=None, ge=8, le=lim.max_size, description="pixels, square; default: the model's"
        )
        steps: int = Field(default=20, ge=1, le=lim.max_steps, description="Euler sampler steps")
        cfg: float = Field(default=3.0, ge=0.0, le=lim.max_cfg, description="text guidance")
        seed: int = Field(default=0, ge=0, le=2**63 - 1)
        guidance_strength: float = Field(
            default=0.0, ge=0.0, le=1.0, description="weight of the motion reference's flow"
        )
        motion_reference: uuid.UUID | None = Field(
            default=None,
            validate_default=True,
            description="id of an uploaded video whose optical flow guides the motion",
        )
        model: model_names | None = Field(  # type: ignore[valid-type]
            default=None, description=f"default: {serve.default_model}"
        )

        @field_validator("prompt")
        @classmethod
        def _not_blank(cls, prompt: str) -> str:
            if not prompt.strip():
                raise ValueError("must contain text, not only spaces")
            return prompt

        @field_validator("motion_reference")
        @classmethod
        def _needed_for_guidance(
            cls, reference: uuid.UUID | None, info: ValidationInfo
        ) -> uuid.UUID | None:
            if reference is None and (info.data.get("guidance_strength") or 0.0) > 0:
                raise ValueError("required when guidance_strength > 0")
            return reference

    return JobRequest


class Progress(BaseModel):
    step: int = Field(ge=0)
    total: int = Field(ge=1)


class JobLinks(BaseModel):
    self: str
    events: str
    video: str
    cancel: str


class JobOut(BaseModel):
    id: uuid.UUID
    state: State
    progress: Progress
    error: str | None
    model: str
    request: dict
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: JobLinks


class JobPage(BaseModel):
    jobs: list[JobOut]
    next_cursor: uuid.UUID | None = Field(description="pass as `cursor` for the next page")


class UploadOut(BaseModel):
    id: uuid.UUID
    filename: str
    bytes: int
    frames: int
    sha256: str
    created_at: datetime


class ErrorOut(BaseModel):
    detail: str | list[dict]


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}
