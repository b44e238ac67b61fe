"""The REST API (FastAPI): jobs, their events and videos, uploads, health.

Routes are thin: parse and check the request, call `queue` in one transaction, shape the
answer. Every refused request is refused before anything is written.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from aiprod.config.serve import ServeConfig
from aiprod.serve import queue
from aiprod.serve.auth import require, too_many
from aiprod.serve.db import reachable, sessions
from aiprod.serve.keys import Caller
from aiprod.serve.media import TooLarge, store_upload
from aiprod.serve.models import ModelCatalog
from aiprod.serve.schemas import (
    ErrorOut,
    Health,
    JobLinks,
    JobOut,
    JobPage,
    Progress,
    UploadOut,
    job_request_model,
)
from aiprod.serve.tables import TERMINAL, Job, Upload
from aiprod.video.decode import VideoError

ERRORS = {
    code: {"model": ErrorOut, "description": text}
    for code, text in {
        400: "a required header is missing",
        401: "no API key, or an invalid or revoked one",
        403: "the key lacks the scope",
        404: "no such job for this key",
        409: "the job is not in a state that allows this",
        413: "the upload is too large",
        422: "a field is invalid; `detail` names it",
        429: "rate limit or queue cap; see Retry-After",
    }.items()
}
EVENT_POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


@dataclass
class Service:
    """What the routes share: settings, the database, the model catalogue."""

    serve: ServeConfig
    engine: Engine
    sessions: sessionmaker[Session]
    catalog: ModelCatalog

    @property
    def media_dir(self) -> Path:
        return Path(self.serve.media_dir)


def field_error(field: str, message: str, where: str = "body") -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors: `detail[0].loc` names the field."""
    return HTTPException(422, [{"loc": [where, field], "msg": message, "type": "value_error"}])


def job_out(job: Job) -> JobOut:
    base = f"/v1/jobs/{job.id}"
    return JobOut(
        id=job.id,
        state=job.state,
        progress=Progress(step=job.step, total=max(1, job.total)),
        error=job.error,
        model=job.model,
        request=job.request,
        attempts=job.attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        links=JobLinks(
            self=base, events=f"{base}/events", video=f"{base}/video", cancel=f"{base}/cancel"
        ),
    )


def create_app(service: Service) -> FastAPI:
    app = FastAPI(
        title="AIPROD generation API",
        version="1",
        description="Text-to-video jobs on a PostgreSQL queue. Keys: `aiprod keys create`.",
    )
    app.state.service = service
    JobRequest = job_request_model(service.serve)  # noqa: N806 (a class built from the config)
    reader, writer = require("jobs:read"), require("jobs:write")
    limits = service.serve.limits

    def session() -> Session:
        return service.sessions()

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        """The process is up."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health}}, tags=["health"])
    def readyz(response: Response) -> Health:
        """The database answers and the default model loads."""
        checks = {"database": "ok" if reachable(service.engine) else "unreachable"}
        try:
            service.catalog.rules(None)
            checks["model"] = "ok"
        except (OSError, ValueError, KeyError) as error:
            checks["model"] = f"not loadable: {error}"
        ready = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ready else 503
        return Health(status="ready" if ready else "not ready", checks=checks)

    @app.post(
        "/v1/uploads",
        status_code=201,
        response_model=UploadOut,
        responses=ERRORS,
        tags=["uploads"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )
    async def upload(
        request: Request,
        caller: Annotated[Caller, Depends(writer)],
        filename: Annotated[str, Query(min_length=1, max_length=255)] = "reference.mp4",
    ) -> UploadOut:
        """A motion-reference video as the raw request body; refer to it by `id` in a job."""
        max_bytes = int(limits.max_upload_mb * 1024 * 1024)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise HTTPException(413, f"the upload exceeds {max_bytes} bytes")
        try:
            stored = await store_upload(request.stream(), service.media_dir, max_bytes)
        except TooLarge as error:
            raise HTTPException(413, str(error)) from None
        except VideoError as error:
            raise field_error("file", f"not a video: {error}") from None
        try:
            with service.sessions.begin() as s:
                row = queue.add_upload(
                    s,
                    caller,
                    Upload(
                        id=stored.id,
                        filename=filename,
                        path=str(stored.path),
                        bytes=stored.bytes,
                        sha256=stored.sha256,
                        frames=stored.frames,
                    ),
                )
                return UploadOut.model_validate(row, from_attributes=True)
        except BaseException:
            stored.path.unlink(missing_ok=True)  # the row was not written: keep no orphan file
            raise

    @app.post(
        "/v1/jobs",
        status_code=202,
        response_model=JobOut,
        responses=ERRORS,
        tags=["jobs"],
    )
    def submit(
        body: JobRequest,  # type: ignore[valid-type]
        response: Response,
        caller: Annotated[Caller, Depends(writer)],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                max_length=255,
                description="required: the same key and body return the same job",
            ),
        ] = None,
    ) -> JobOut:
        """Queue a generation job (202 + Location); replays of a key return the same job."""
        if not idempotency_key or not idempotency_key.strip():
            raise HTTPException(400, "the Idempotency-Key header is required")
        model = body.model or service.serve.default_model
        try:
            rules = service.catalog.rules(model)
        except (OSError, ValueError) as error:
            raise field_error("model", f"{model!r} is not available here: {error}") from None
        problems = rules.problems(body.frames, body.size)
        if problems:
            field, message = next(iter(problems.items()))
            raise field_error(field, message)
        request = body.model_dump(mode="json") | {"model": model}
        with service.sessions.begin() as s:
            if body.motion_reference is not None:
                reference = queue.get_upload(s, caller, body.motion_reference)
                if reference is None:
                    raise field_error("motion_reference", "no upload with this id for this key")
                needed = rules.reference_frames(body.frames)
                if reference.frames < needed:
                    raise field_error(
                        "motion_reference", f"{reference.frames} frames; this job needs {needed}"
                    )
            try:
                done = queue.submit(
                    s,
                    caller,
                    idempotency_key,
                    request,
                    model,
                    service.serve.max_attempts,
                    service.serve.queue_cap,
                )
            except queue.IdempotencyConflict as error:
                raise field_error("Idempotency-Key", str(error), where="header") from None
            except queue.LimitExceeded as error:
                raise too_many(error) from None
            out = job_out(done.job)
        response.headers["Location"] = out.links.self
        if done.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return out

    @app.get("/v1/jobs", response_model=JobPage, responses=ERRORS, tags=["jobs"])
    def list_jobs(
        caller: Annotated[Caller, Depends(reader)],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: uuid.UUID | None = None,
    ) -> JobPage:
        """The caller's own jobs, newest first."""
        with session() as s:
            jobs, next_cursor = queue.list_jobs(s, caller, limit, cursor)
            return JobPage(jobs=[job_out(j) for j in jobs], next_cursor=next_cursor)

    def own_job(job_id: uuid.UUID, caller: Caller) -> Job:
        with session() as s:
            job = queue.get_job(s, caller, job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id} for this key")
        return job

    @app.get("/v1/jobs/{job_id}", response_model=JobOut, responses=ERRORS, tags=["jobs"])
    def get_job(job_id: uuid.UUID, caller: Annotated[Caller, Depends(reader)]) -> JobOut:
        """State, progress (step / total) and error of one job."""
        return job_out(own_job(job_id, caller))

    @app.post("/v1/jobs/{job_id}/cancel", response_model=JobOut, responses=ERRORS, tags=["jobs"])
    def cancel(job_id: uuid.UUID, caller: Annotated[Caller, Depends(writer)]) -> JobOut:
        """Cancel: a queued job at once, a running one between two sampler steps."""
        try:
            with service.sessions.begin() as s:
                job = queue.cancel(s, caller, job_id)
        except queue.NotCancelable as error:
            raise HTTPException(409, str(error)) from None
        if job is None:
            raise HTTPException(404, f"no job {job_id} for this key")
        return job_out(job)

    @app.get(
        "/v1/jobs/{job_id}/video",
        response_class=FileResponse,
        responses={**ERRORS, 200: {"content": {"video/mp4": {}}, "description": "the mp4"}},
        tags=["jobs"],
    )
    def video(job_id: uuid.UUID, caller: Annotated[Caller, Depends(reader)]) -> FileResponse:
        """The finished job's mp4 (409 until it has succeeded)."""
        job = own_job(job_id, caller)
        if job.state != "succeeded" or not job.video_path:
            raise HTTPException(409, f"job {job_id} is {job.state}; no video")
        return FileResponse(job.video_path, media_type="video/mp4", filename=f"{job_id}.mp4")

    def event_of(job: Job) -> ServerSentEvent:
        return ServerSentEvent(
            event="job", id=f"{job.state}:{job.step}", data=job_out(job).model_dump(mode="json")
        )

    def watched_job(job_id: uuid.UUID, caller: Annotated[Caller, Depends(reader)]) -> Job:
        return own_job(job_id, caller)  # a dependency: 404 before the stream starts

    @app.get(
        "/v1/jobs/{job_id}/events",
        response_class=EventSourceResponse,
        responses=ERRORS,
        tags=["jobs"],
    )
    async def events(
        request: Request, job: Annotated[Job, Depends(watched_job)]
    ) -> AsyncIterator[ServerSentEvent]:
        """Server-sent events: one `job` event per change of state or step, until it ends."""
        last, quiet = None, 0.0
        while True:
            seen = (job.state, job.step, job.cancel_requested)
            if seen != last:
                yield event_of(job)
                last, quiet = seen, 0.0
            elif quiet >= KEEPALIVE_SECONDS:  # a comment line keeps proxies from closing it
                yield ServerSentEvent(comment="waiting")
                quiet = 0.0
            if job.state in TERMINAL or await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL_SECONDS)
            quiet += EVENT_POLL_SECONDS
            with session() as s:
                job = await asyncio.to_thread(s.get, Job, job.id) or job

    return app


def service_from(serve: ServeConfig, engine: Engine, root: str | Path = ".") -> Service:
    return Service(serve, engine, sessions(engine), ModelCatalog(serve, root))
