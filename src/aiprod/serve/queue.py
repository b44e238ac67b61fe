"""The job queue in PostgreSQL: submit, claim, lease, progress, finish, cancel.

Each function runs inside the caller's transaction. Delivery is at least once (a job whose
worker died is leased again once its lease runs out) and the effect exactly once: every
write a worker makes is conditional on still holding the lease (`lease_owner` is this
worker and the job is running), so a worker that lost its lease can no longer change it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.orm import Session

from aiprod.serve.keys import Caller
from aiprod.serve.tables import ApiKey, Job, Upload

ACTIVE = ("queued", "running")


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with another request body."""


class LimitExceeded(Exception):
    """A per-key limit; `retry_after` is the seconds after which trying again can succeed."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotCancelable(Exception):
    """The job already finished."""


@dataclass(frozen=True)
class Submitted:
    job: Job
    replayed: bool  # True: the same key and body were submitted before; this is that job


def request_digest(request: dict) -> str:
    """sha256 of the request's canonical JSON: what "the same body" means."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def count_request(session: Session, key_id: int, per_minute: int) -> None:
    """Count a request in the key's current minute; LimitExceeded beyond `per_minute`."""
    count, left = session.execute(
        text(
            "INSERT INTO rate_windows (key_id, window_start, count) "
            "VALUES (:key, date_trunc('minute', now()), 1) "
            "ON CONFLICT (key_id, window_start) DO UPDATE SET count = rate_windows.count + 1 "
            "RETURNING count, "
            "EXTRACT(EPOCH FROM date_trunc('minute', now()) + interval '1 minute' - now())"
        ),
        {"key": key_id},
    ).one()
    if count > per_minute:
        raise LimitExceeded(f"rate limit: {per_minute} requests a minute", max(1, int(left) + 1))


def submit(
    session: Session,
    caller: Caller,
    idempotency_key: str,
    request: dict,
    model: str,
    max_attempts: int,
    queue_cap: int,
) -> Submitted:
    """A new queued job, or the one this key and body made before.

    The key's row is locked first, so one key's submissions run one at a time: the replay
    check and the queue cap see every earlier submission (the unique constraint on
    (key_id, idempotency_key) backs this up).
    """
    session.execute(select(ApiKey.id).where(ApiKey.id == caller.key_id).with_for_update())
    digest = request_digest(request)
    existing = session.scalar(
        select(Job).where(Job.key_id == caller.key_id, Job.idempotency_key == idempotency_key)
    )
    if existing is not None:
        if existing.request_sha256 != digest:
            raise IdempotencyConflict(
                f"Idempotency-Key {idempotency_key!r} was used with another request body"
            )
        return Submitted(existing, replayed=True)
    active = session.scalar(
        select(func.count()).where(Job.key_id == caller.key_id, Job.state.in_(ACTIVE))
    )
    if active >= queue_cap:
        raise LimitExceeded(f"queue cap: {queue_cap} queued or running jobs per key", 5)
    job = Job(
        id=uuid.uuid4(),
        key_id=caller.key_id,
        idempotency_key=idempotency_key,
        request_sha256=digest,
        request=request,
        model=model,
        state="queued",
        step=0,
        total=int(request["steps"]),
        attempts=0,
        max_attempts=max_attempts,
        cancel_requested=False,
    )
    session.add(job)
    session.flush()
    session.refresh(job)
    return Submitted(job, replayed=False)


def get_job(session: Session, caller: Caller, job_id: uuid.UUID) -> Job | None:
    """The caller's job; None for another key's job as for a missing one."""
    return session.scalar(select(Job).where(Job.id == job_id, Job.key_id == caller.key_id))


def list_jobs(
    session: Session, caller: Caller, limit: int, cursor: uuid.UUID | None
) -> tuple[list[Job], uuid.UUID | None]:
    """The caller's jobs, newest first, a page at a time (keyset paging on (created_at, id))."""
    query = select(Job).where(Job.key_id == caller.key_id)
    if cursor is not None:
        after = select(Job.created_at, Job.id).where(Job.id == cursor, Job.key_id == caller.key_id)
        row = session.execute(after).one_or_none()
        if row is None:
            return [], None
        query = query.where(
            or_(
                Job.created_at < row.created_at,
                and_(Job.created_at == row.created_at, Job.id < row.id),
            )
        )
    jobs = list(
        session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1))
    )
    more = len(jobs) > limit
    return jobs[:limit], (jobs[limit - 1].id if more else None)


def cancel(session: Session, caller: Caller, job_id: uuid.UUID) -> Job | None:
    """Cancel: a queued job at once, a running one at its worker's next sampler step."""
    job = session.scalar(
        select(Job).where(Job.id == job_id, Job.key_id == caller.key_id).with_for_update()
    )
    if job is None:
        return None
    if job.state == "queued":
        job.state, job.finished_at = "canceled", func.now()
    elif job.state == "running":
        job.cancel_requested = True
    elif job.state != "canceled":
        raise NotCancelable(f"job {job_id} already {job.state}")
    job.updated_at = func.now()
    session.flush()
    session.refresh(job)
    return job


def add_upload(session: Session, caller: Caller, upload: Upload) -> Upload:
    upload.key_id = caller.key_id
    session.add(upload)
    session.flush()
    session.refresh(upload)
    return upload


def get_upload(session: Session, caller: Caller, upload_id: uuid.UUID) -> Upload | None:
    return session.scalar(
        select(Upload).where(Upload.id == upload_id, Upload.key_id == caller.key_id)
    )


# --- the worker's side --------------------------------------------------------------------


def _expired() -> object:
    return and_(Job.state == "running", Job.lease_expires_at < func.now())


def reap(session: Session) -> int:
    """Settle jobs whose lease ran out and that must not run again: cancelled ones, and ones
    that used all their attempts (failed, with the reason). Returns how many."""
    canceled = session.execute(
        update(Job)
        .where(_expired(), Job.cancel_requested)
        .values(state="canceled", lease_owner=None, finished_at=func.now(), updated_at=func.now())
    ).rowcount
    failed = session.execute(
        update(Job)
        .where(_expired(), Job.attempts >= Job.max_attempts)
        .values(
            state="failed",
            error=func.format(
                "the worker stopped (killed, lost or out of memory) on each of %s attempts; "
                "its lease expired every time",
                Job.attempts,
            ),
            lease_owner=None,
            finished_at=func.now(),
            updated_at=func.now(),
        )
    ).rowcount
    return canceled + failed


def claim(session: Session, worker: str, lease_seconds: float) -> Job | None:
    """Lease the oldest runnable job (queued, or running under an expired lease) to `worker`.

    FOR UPDATE SKIP LOCKED: concurrent workers never take the same row and never wait on
    each other.
    """
    reap(session)
    runnable = or_(Job.state == "queued", and_(_expired(), Job.attempts < Job.max_attempts))
    job_id = session.scalar(
        select(Job.id)
        .where(runnable)
        .order_by(Job.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if job_id is None:
        return None
    return session.scalars(
        update(Job)
        .where(Job.id == job_id)
        .values(
            state="running",
            lease_owner=worker,
            lease_expires_at=func.now() + timedelta(seconds=lease_seconds),
            attempts=Job.attempts + 1,
            step=0,
            started_at=func.coalesce(Job.started_at, func.now()),
            updated_at=func.now(),
        )
        .returning(Job),
        execution_options={"synchronize_session": False},
    ).one()


def _held(job_id: uuid.UUID, worker: str) -> object:
    return and_(Job.id == job_id, Job.lease_owner == worker, Job.state == "running")


def heartbeat(session: Session, job_id: uuid.UUID, worker: str, lease_seconds: float) -> bool:
    """Extend the lease; False when this worker no longer holds it."""
    return (
        session.execute(
            update(Job)
            .where(_held(job_id, worker))
            .values(lease_expires_at=func.now() + timedelta(seconds=lease_seconds))
        ).rowcount
        == 1
    )


def report_step(
    session: Session, job_id: uuid.UUID, worker: str, step: int, total: int
) -> bool | None:
    """Record progress; returns whether a cancel was asked for, None when the lease is lost."""
    return session.scalar(
        update(Job)
        .where(_held(job_id, worker))
        .values(step=step, total=total, updated_at=func.now())
        .returning(Job.cancel_requested)
    )


def _settle(session: Session, job_id: uuid.UUID, worker: str, **values: object) -> bool:
    values = {"lease_owner": None, "finished_at": func.now(), "updated_at": func.now(), **values}
    return session.execute(update(Job).where(_held(job_id, worker)).values(**values)).rowcount == 1


def succeed(session: Session, job_id: uuid.UUID, worker: str, video_path: str) -> bool:
    """Mark done with its video; False (nothing written) when the lease was lost."""
    return _settle(session, job_id, worker, state="succeeded", video_path=video_path, error=None)


def mark_canceled(session: Session, job_id: uuid.UUID, worker: str) -> bool:
    return _settle(session, job_id, worker, state="canceled")


def fail(session: Session, job_id: uuid.UUID, worker: str, error: str, retry: bool) -> bool:
    """A failed attempt: back to the queue when `retry` and attempts are left, else failed."""
    job = session.scalar(select(Job).where(_held(job_id, worker)).with_for_update())
    if job is None:
        return False
    if retry and job.attempts < job.max_attempts:
        job.state, job.lease_owner, job.lease_expires_at = "queued", None, None
        job.error, job.updated_at = f"attempt {job.attempts}: {error}", func.now()
        return True
    return _settle(session, job_id, worker, state="failed", error=error)


def forget_old_rate_windows(session: Session) -> int:
    return session.execute(
        text("DELETE FROM rate_windows WHERE window_start < now() - interval '10 minutes'")
    ).rowcount
