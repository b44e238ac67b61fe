"""`aiprod worker`: claim jobs, hold their lease, generate, write the mp4, settle the job.

A heartbeat thread extends the lease while the sampler runs; each sampler step reports its
progress, and learns there whether the job was cancelled or the lease lost (then it stops
between steps). The video is written under a name of its own attempt and renamed into
place; the job points at it only if this worker still held the lease when it finished.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from aiprod.config.serve import ServeConfig
from aiprod.generate import VideoGenerator, write_video
from aiprod.runtime import Runtime
from aiprod.serve import queue
from aiprod.serve.media import videos_dir
from aiprod.serve.models import ModelCatalog
from aiprod.serve.tables import Job, Upload

log = logging.getLogger("aiprod.worker")


class Cancelled(Exception):
    """The job's owner cancelled it; stop between sampler steps."""


class LeaseLost(Exception):
    """Another worker holds the job now; stop and write nothing."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        serve: ServeConfig,
        sessions: sessionmaker[Session],
        runtime: Runtime,
        root: str | Path = ".",
        name: str | None = None,
    ) -> None:
        self.serve, self.sessions, self.runtime = serve, sessions, runtime
        self.catalog = ModelCatalog(serve, root)
        self.name = name or worker_name()
        self._loaded: tuple[tuple[str, float], VideoGenerator] | None = None

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set (SIGTERM): the job in hand is finished first."""
        log.info("worker %s: waiting for jobs", self.name)
        while not stop.is_set():
            try:
                busy = self.run_once()
            except SQLAlchemyError:  # the database restarted or is unreachable: wait, go on
                log.exception("worker %s: database error; trying again", self.name)
                busy = False
            if not busy:
                stop.wait(self.serve.poll_seconds)

    def run_once(self) -> bool:
        """Claim and run one job; False when the queue had none."""
        with self.sessions.begin() as session:
            job = queue.claim(session, self.name, self.serve.lease_seconds)
            if job is None:
                queue.forget_old_rate_windows(session)
        if job is None:
            return False
        self.process(job)
        return True

    def generator(self, model: str) -> VideoGenerator:
        """The job's model, kept loaded while jobs keep asking for it."""
        path = self.catalog.path(model)
        key = (str(path), path.stat().st_mtime)
        if self._loaded is None or self._loaded[0] != key:
            self._loaded = None  # free the previous model before loading the next
            self._loaded = (key, VideoGenerator(path, runtime=self.runtime))
        return self._loaded[1]

    def process(self, job: Job) -> None:
        log.info("job %s: attempt %d on %s", job.id, job.attempts, self.name)
        lost, finished = threading.Event(), threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job.id, lost, finished), daemon=True)
        beat.start()
        try:
            video = self.generate(job, lost)
        except Cancelled:
            self._settle(queue.mark_canceled, job.id)
        except LeaseLost:
            log.warning("job %s: lease lost; another worker has it", job.id)
        except (ValueError, FileNotFoundError) as error:  # the request cannot work: no retry
            self._settle(queue.fail, job.id, str(error), False)
        except Exception as error:  # noqa: BLE001 (a worker survives any one job)
            log.exception("job %s: attempt %d failed", job.id, job.attempts)
            self._settle(queue.fail, job.id, f"{type(error).__name__}: {error}", True)
        else:
            if not self._settle(queue.succeed, job.id, str(video)):
                video.unlink(missing_ok=True)  # the lease was lost: the job is not ours to finish
        finally:
            finished.set()
            beat.join()

    def generate(self, job: Job, lost: threading.Event) -> Path:
        request = job.request
        generator = self.generator(job.model)
        frames = request["frames"] or generator.frames
        size = request["size"] or generator.size
        flow = None
        if request["motion_reference"]:
            with self.sessions() as session:
                reference = session.get(Upload, uuid.UUID(request["motion_reference"]))
            if reference is None:
                raise FileNotFoundError(f"motion_reference {request['motion_reference']}: gone")
            flow = generator.flow_from_video(reference.path, frames, size)[None]

        def on_step(step: int, steps: int) -> None:
            if lost.is_set():
                raise LeaseLost
            with self.sessions.begin() as session:
                cancel = queue.report_step(session, job.id, self.name, step, steps)
            if cancel is None:
                raise LeaseLost
            if cancel:
                raise Cancelled

        video = generator(
            [request["prompt"]],
            frames,
            size,
            request["steps"],
            request["cfg"],
            request["seed"],
            flow,
            request["guidance_strength"],
            on_step,
        )[0]
        final = videos_dir(self.serve.media_dir) / f"{job.id}.{job.attempts}.mp4"
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.mp4")
        try:
            write_video(tmp, video, generator.fps)
            tmp.replace(final)
        finally:
            tmp.unlink(missing_ok=True)
        return final

    def _settle(self, action: object, job_id: uuid.UUID, *args: object) -> bool:
        with self.sessions.begin() as session:
            done = action(session, job_id, self.name, *args)  # type: ignore[operator]
        log.info("job %s: %s -> %s", job_id, getattr(action, "__name__", action), done)
        return done

    def _heartbeat(
        self, job_id: uuid.UUID, lost: threading.Event, finished: threading.Event
    ) -> None:
        while not finished.wait(self.serve.heartbeat_seconds):
            try:
                with self.sessions.begin() as session:
                    held = queue.heartbeat(session, job_id, self.name, self.serve.lease_seconds)
            except SQLAlchemyError:
                log.exception("job %s: heartbeat failed; retrying", job_id)
                continue
            if not held:
                lost.set()
                return
