"""The service as it runs: `aiprod serve` and `aiprod worker` processes on a real PostgreSQL.

50 concurrent submissions with repeated idempotency keys make no duplicate job; a worker
killed with SIGKILL mid-job loses its lease and the job finishes exactly once on another;
a job whose workers keep dying fails with the reason after its attempts.
"""

from __future__ import annotations

import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from serve_support import aiprod, new_key, params_file, serve_config, start_api, stop
from sqlalchemy import func, select, update

from aiprod.serve import queue
from aiprod.serve.app import create_app, service_from
from aiprod.serve.db import make_engine, sessions
from aiprod.serve.keys import authenticate
from aiprod.serve.tables import Job

BODY = {"prompt": "A blue square moves right.", "steps": 2}


@pytest.fixture(scope="module")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def api(database_url, tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    params = params_file(folder, serve_config(tiny_model, folder / "media"))
    process, base = start_api(params, database_url, folder / "api.log")
    yield base
    stop(process)


def test_concurrent_submissions_with_repeated_keys_make_no_duplicate_job(api, database_url, engine):
    token = new_key(database_url)
    headers = {"Authorization": f"Bearer {token}"}
    keys = [f"idem-{n % 10}" for n in range(50)]  # 10 keys, each sent 5 times at once

    def submit(idem: str) -> tuple[str, int, str]:
        r = httpx.post(
            f"{api}/v1/jobs",
            json={**BODY, "seed": int(idem.split("-")[1])},
            headers={**headers, "Idempotency-Key": idem},
            timeout=60,
        )
        return idem, r.status_code, r.json()["id"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(submit, keys))
    assert {code for _, code, _ in answers} == {202}
    ids = {}
    for idem, _, job_id in answers:
        assert ids.setdefault(idem, job_id) == job_id  # every replay got the first job
    assert len(set(ids.values())) == 10
    with sessions(engine)() as s:
        rows = s.scalars(select(Job.idempotency_key).where(Job.id.in_(ids.values()))).all()
        per_key = s.scalar(
            select(func.count()).select_from(Job).where(Job.idempotency_key.like("idem-%"))
        )
    assert sorted(rows) == sorted(ids) and per_key == 10


def only_runnable(engine, job_id):
    """Cancel the queued jobs of earlier tests (all but `job_id`)."""
    with sessions(engine).begin() as s:
        s.execute(
            update(Job).where(Job.state == "queued", Job.id != job_id).values(state="canceled")
        )


def wait_for(check, timeout=90.0, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def test_a_worker_killed_mid_job_loses_it_to_another_that_finishes_it_once(
    database_url, engine, tiny_model, tmp_path
):
    media = tmp_path / "media"
    serve = serve_config(
        tiny_model,
        media,
        lease_seconds=3.0,
        heartbeat_seconds=0.5,
        limits={"max_steps": 1000},
    )
    params = params_file(tmp_path, serve)
    only_runnable(engine, None)  # these workers must take this test's job
    token = new_key(database_url)

    def worker(name):
        log = (tmp_path / f"{name}.log").open("wb")
        process = aiprod(
            "worker",
            "--params",
            str(params),
            "--name",
            name,
            url=database_url,
            stdout=log,
            stderr=log,
        )
        log.close()
        return process

    victim = worker("victim")
    api = TestClient(create_app(service_from(serve, engine)))
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    job = api.post("/v1/jobs", json={**BODY, "steps": 300}, headers=headers).json()

    def progress():
        with sessions(engine)() as s:
            return s.get(Job, uuid.UUID(job["id"]))

    running = wait_for(lambda: (j := progress()).step >= 5 and j)
    assert running.lease_owner == "victim" and running.attempts == 1
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    rescuer = worker("rescuer")
    try:
        final = wait_for(lambda: (j := progress()).state in ("succeeded", "failed") and j, 180)
    finally:
        stop(rescuer)
    assert final.state == "succeeded", final.error
    assert final.attempts == 2 and final.step == 300 and final.lease_owner is None
    videos = sorted(p.name for p in (media / "videos").iterdir())
    assert videos == [f"{job['id']}.2.mp4"]  # one video, the lease holder's
    assert final.video_path.endswith(videos[0])
    r = api.get(f"/v1/jobs/{job['id']}/video", headers=headers)
    assert r.status_code == 200 and len(r.content) > 0


def test_a_job_whose_workers_keep_dying_fails_with_the_reason(database_url, engine):
    token = new_key(database_url)
    with sessions(engine).begin() as s:
        caller = authenticate(s, token)
        job = queue.submit(s, caller, "dying", {**BODY, "steps": 2}, "tiny", 2, 10).job
    only_runnable(engine, job.id)
    for attempt in (1, 2):
        with sessions(engine).begin() as s:
            claimed = queue.claim(s, f"ghost{attempt}", 30)
            assert claimed.id == job.id and claimed.attempts == attempt
            # the worker dies: its lease runs out
            s.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(lease_expires_at=func.now() - timedelta(seconds=1))
            )
        with sessions(engine).begin() as s:
            assert not queue.heartbeat(s, job.id, "someone-else", 30)
    with sessions(engine).begin() as s:
        assert queue.claim(s, "ghost3", 30) is None  # no third lease
    with sessions(engine)() as s:
        final = s.get(Job, job.id)
    assert final.state == "failed" and "each of 2 attempts" in final.error
    with sessions(engine).begin() as s:  # the dead worker's late writes change nothing
        assert not queue.succeed(s, job.id, "ghost2", "/tmp/x.mp4")
        assert queue.report_step(s, job.id, "ghost2", 1, 2) is None


def test_db_upgrade_from_several_processes_at_once_applies_each_migration_once(postgres):
    import subprocess

    from sqlalchemy import create_engine, text

    admin = create_engine(postgres.admin_url, isolation_level="AUTOCOMMIT")
    name = f"aiprod_upgrade_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    postgres.databases.append(name)  # dropped at the end of the session
    url = postgres.admin_url.rsplit("/", 1)[0] + f"/{name}"
    runs = [aiprod("db", "upgrade", url=url, stdout=subprocess.PIPE) for _ in range(3)]
    assert [run.wait(120) for run in runs] == [0, 0, 0]
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "0001"
        tables = connection.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).all()
    assert tables == ["alembic_version", "api_keys", "jobs", "rate_windows", "uploads"]
    engine.dispose()
    missing = aiprod("db", "upgrade", url="", stderr=subprocess.PIPE, text=True)
    assert missing.wait(60) == 2 and "AIPROD_DATABASE_URL is not set" in missing.stderr.read()


def test_the_orm_tables_match_what_the_migrations_build(engine):
    """tables.py (what the code reads and writes) and the Alembic revisions (what the database
    has) describe one schema: autogenerate finds nothing to change."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from aiprod.serve.tables import Base

    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
