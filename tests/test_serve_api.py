"""The REST API on a real PostgreSQL: auth, idempotency, validation, jobs end to end, cancel,
uploads, limits. Jobs run on a tiny random model through an in-process worker."""

from __future__ import annotations

import json
import threading
import time
import uuid

import av
import pytest
from conftest import make_video
from fastapi.testclient import TestClient
from serve_support import aiprod, new_key, serve_config
from sqlalchemy import func, select

from aiprod.generate import cpu_runtime
from aiprod.serve.app import create_app, service_from
from aiprod.serve.db import make_engine, sessions
from aiprod.serve.tables import Job, Upload
from aiprod.serve.worker import Worker

BODY = {"prompt": "A red circle moves left.", "steps": 2, "seed": 3}


@pytest.fixture(scope="module")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def stack(engine, tiny_model, tmp_path, **overrides):
    """A client of an app on the test database, and a worker of the same queue."""
    serve = serve_config(tiny_model, tmp_path / "media", **overrides)
    client = TestClient(create_app(service_from(serve, engine)))
    return client, Worker(serve, sessions(engine), cpu_runtime(), name="w-test")


@pytest.fixture
def api(engine, tiny_model, tmp_path):
    return stack(engine, tiny_model, tmp_path)


def auth(token, idem=None):
    headers = {"Authorization": f"Bearer {token}"}
    if idem:
        headers["Idempotency-Key"] = idem
    return headers


def drain(worker):
    """Run what earlier tests left queued, so the next claim is this test's job."""
    while worker.run_once():
        pass


def jobs_of(engine) -> int:
    with sessions(engine)() as s:
        return s.scalar(select(func.count()).select_from(Job))


def test_auth_matrix(api, database_url):
    client, _ = api
    writer, reader = new_key(database_url), new_key(database_url, ("jobs:read",))
    write_only = new_key(database_url, ("jobs:write",))
    r = client.post("/v1/jobs", json=BODY, headers={"Idempotency-Key": "a"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    bad = writer[:-4] + "xxxx"
    assert client.get("/v1/jobs", headers=auth(bad)).status_code == 401
    assert client.get("/v1/jobs", headers=auth("not-a-key")).status_code == 401
    assert client.post("/v1/jobs", json=BODY, headers=auth(reader, "a")).status_code == 403
    assert client.get("/v1/jobs", headers=auth(write_only)).status_code == 403
    job = client.post("/v1/jobs", json=BODY, headers=auth(writer, "a")).json()
    other = new_key(database_url)
    for method, path in [
        ("get", f"/v1/jobs/{job['id']}"),
        ("post", f"/v1/jobs/{job['id']}/cancel"),
        ("get", f"/v1/jobs/{job['id']}/video"),
        ("get", f"/v1/jobs/{job['id']}/events"),
    ]:
        assert getattr(client, method)(path, headers=auth(other)).status_code == 404, path
    assert client.get("/v1/jobs", headers=auth(other)).json()["jobs"] == []
    # revoked keys stop working at once
    prefix = writer.split("_")[1]
    revoke = aiprod("keys", "revoke", prefix, url=database_url)
    assert revoke.wait(60) == 0
    assert client.get("/v1/jobs", headers=auth(writer)).status_code == 401


def test_keys_command_creates_a_key_shown_once_and_lists_it(database_url):
    import subprocess

    out = aiprod(
        "keys",
        "create",
        "--name",
        "ci",
        "--scopes",
        "jobs:read",
        url=database_url,
        stdout=subprocess.PIPE,
        text=True,
    ).communicate(timeout=60)[0]
    token = out.split()[0]
    assert token.startswith("aiprod_")
    listing = aiprod("keys", "list", url=database_url, stdout=subprocess.PIPE, text=True)
    text = listing.communicate(timeout=60)[0]
    assert token.split("_")[1] in text and token not in text  # the secret is never shown again
    bad = aiprod("keys", "create", "--name", "x", "--scopes", "root", url=database_url)
    assert bad.wait(60) == 2


def test_idempotency_key_is_required_and_replays_the_same_job(api, database_url, engine):
    client, _ = api
    key = new_key(database_url)
    before = jobs_of(engine)
    assert client.post("/v1/jobs", json=BODY, headers=auth(key)).status_code == 400
    first = client.post("/v1/jobs", json=BODY, headers=auth(key, "k1"))
    assert first.status_code == 202
    assert first.headers["Location"] == f"/v1/jobs/{first.json()['id']}"
    again = client.post("/v1/jobs", json=BODY, headers=auth(key, "k1"))
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other_body = client.post("/v1/jobs", json={**BODY, "seed": 4}, headers=auth(key, "k1"))
    assert other_body.status_code == 422
    assert other_body.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert jobs_of(engine) == before + 1
    # the same idempotency key of another API key is another job
    mine = client.post("/v1/jobs", json=BODY, headers=auth(new_key(database_url), "k1"))
    assert mine.json()["id"] != first.json()["id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"frames": 8}, "frames"),  # the tiny model takes 1 + 4k frames
        ({"size": 30}, "size"),
        ({"size": 100000}, "size"),
        ({"steps": 0}, "steps"),
        ({"cfg": -1}, "cfg"),
        ({"guidance_strength": 1.5}, "guidance_strength"),
        ({"guidance_strength": 0.5}, "motion_reference"),
        ({"motion_reference": str(uuid.uuid4()), "guidance_strength": 0.5}, "motion_reference"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 501}, "prompt"),
        ({"model": "nope"}, "model"),
        ({"seed": -1}, "seed"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_fields_are_422_naming_the_field_and_write_nothing(
    api, database_url, engine, change, field
):
    client, _ = api
    key = new_key(database_url)
    before = jobs_of(engine)
    r = client.post("/v1/jobs", json={**BODY, **change}, headers=auth(key, "bad"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][-1] == field
    assert jobs_of(engine) == before


def test_a_job_runs_to_a_video_with_progress_events_and_paged_listing(api, database_url, tmp_path):
    client, worker = api
    key = new_key(database_url)
    ids = [
        client.post("/v1/jobs", json={**BODY, "seed": s}, headers=auth(key, f"j{s}")).json()["id"]
        for s in range(3)
    ]
    first = client.get(f"/v1/jobs/{ids[0]}", headers=auth(key)).json()
    assert first["state"] == "queued" and first["progress"] == {"step": 0, "total": 2}
    assert client.get(f"/v1/jobs/{ids[0]}/video", headers=auth(key)).status_code == 409
    drain(worker)
    done = client.get(f"/v1/jobs/{ids[0]}", headers=auth(key)).json()
    assert done["state"] == "succeeded" and done["progress"] == {"step": 2, "total": 2}
    assert done["attempts"] == 1 and done["error"] is None
    video = client.get(f"/v1/jobs/{ids[0]}/video", headers=auth(key))
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    path = tmp_path / "check.mp4"
    path.write_bytes(video.content)
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 9 and frames[0].shape == (32, 32, 3)
    with client.stream("GET", f"/v1/jobs/{ids[0]}/events", headers=auth(key)) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        data = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:")]
    assert data[-1]["state"] == "succeeded"
    page = client.get("/v1/jobs?limit=2", headers=auth(key)).json()
    assert [j["id"] for j in page["jobs"]] == ids[::-1][:2]
    rest = client.get(f"/v1/jobs?limit=2&cursor={page['next_cursor']}", headers=auth(key)).json()
    assert [j["id"] for j in rest["jobs"]] == [ids[0]] and rest["next_cursor"] is None


@pytest.fixture
def slow_steps(monkeypatch):
    """0.1 s a sampler step: the test sees a job between its ends on any machine."""
    from aiprod.serve import queue

    report = queue.report_step

    def slow_report(*args):
        time.sleep(0.1)
        return report(*args)

    monkeypatch.setattr(queue, "report_step", slow_report)


def test_events_follow_a_running_job_step_by_step(api, database_url, slow_steps):
    client, worker = api
    key = new_key(database_url)
    drain(worker)
    job = client.post("/v1/jobs", json={**BODY, "steps": 6}, headers=auth(key, "ev")).json()
    runner = threading.Thread(target=lambda: (time.sleep(0.5), worker.run_once()))
    runner.start()
    with client.stream("GET", f"/v1/jobs/{job['id']}/events", headers=auth(key)) as stream:
        data = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:")]
    runner.join()
    states = [(d["state"], d["progress"]["step"]) for d in data]
    assert states[0] == ("queued", 0) and states[-1] == ("succeeded", 6)
    steps = [s for state, s in states if state == "running"]
    assert steps == sorted(steps) and len(set(steps)) >= 2  # progress seen between the ends


def test_cancel_a_queued_job_at_once_and_a_running_one_between_steps(api, database_url, slow_steps):
    client, worker = api
    key = new_key(database_url)
    drain(worker)
    queued = client.post("/v1/jobs", json=BODY, headers=auth(key, "c1")).json()
    r = client.post(f"/v1/jobs/{queued['id']}/cancel", headers=auth(key))
    assert r.status_code == 200 and r.json()["state"] == "canceled"
    assert client.post(f"/v1/jobs/{queued['id']}/cancel", headers=auth(key)).status_code == 200
    long = client.post("/v1/jobs", json={**BODY, "steps": 50}, headers=auth(key, "c2")).json()
    runner = threading.Thread(target=worker.run_once)
    runner.start()
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{long['id']}", headers=auth(key)).json()["progress"]["step"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert client.post(f"/v1/jobs/{long['id']}/cancel", headers=auth(key)).status_code == 200
    runner.join(60)
    final = client.get(f"/v1/jobs/{long['id']}", headers=auth(key)).json()
    assert final["state"] == "canceled" and final["progress"]["step"] < 50
    assert client.get(f"/v1/jobs/{long['id']}/video", headers=auth(key)).status_code == 409
    done = client.post("/v1/jobs", json={**BODY, "seed": 9}, headers=auth(key, "c3")).json()
    drain(worker)
    assert client.post(f"/v1/jobs/{done['id']}/cancel", headers=auth(key)).status_code == 409


def test_uploads_motion_reference_guides_a_job_and_bad_uploads_leave_nothing(
    engine, tiny_model, tmp_path, database_url
):
    client, worker = stack(engine, tiny_model, tmp_path, limits={"max_upload_mb": 0.05})
    key = new_key(database_url)
    uploads = tmp_path / "media" / "uploads"

    def leftovers():
        return sorted(p.name for p in uploads.glob("*")) if uploads.exists() else []

    with sessions(engine)() as s:
        rows = s.scalar(select(func.count()).select_from(Upload))
    r = client.post("/v1/uploads", content=b"not a video at all", headers=auth(key))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file"]
    assert client.post("/v1/uploads", content=b"x" * 60_000, headers=auth(key)).status_code == 413
    assert leftovers() == []
    reference = make_video(tmp_path / "ref.mp4", frames=24, size=(64, 64))
    r = client.post(
        "/v1/uploads?filename=ref.mp4", content=reference.read_bytes(), headers=auth(key)
    )
    assert r.status_code == 201, r.text
    upload = r.json()
    assert upload["frames"] == 24 and len(leftovers()) == 1
    with sessions(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Upload)) == rows + 1
    body = {**BODY, "motion_reference": upload["id"], "guidance_strength": 0.5}
    stranger = client.post("/v1/jobs", json=body, headers=auth(new_key(database_url), "u"))
    assert stranger.status_code == 422  # another key's upload is not visible
    job = client.post("/v1/jobs", json=body, headers=auth(key, "u")).json()
    drain(worker)
    assert client.get(f"/v1/jobs/{job['id']}", headers=auth(key)).json()["state"] == "succeeded"


def test_rate_limit_and_queue_cap_answer_429_with_retry_after(
    engine, tiny_model, tmp_path, database_url
):
    client, _ = stack(engine, tiny_model, tmp_path, queue_cap=2)
    key = new_key(database_url)
    for n in range(2):
        assert client.post("/v1/jobs", json=BODY, headers=auth(key, f"q{n}")).status_code == 202
    capped = client.post("/v1/jobs", json=BODY, headers=auth(key, "q2"))
    assert capped.status_code == 429 and int(capped.headers["Retry-After"]) >= 1
    client, _ = stack(engine, tiny_model, tmp_path, rate_per_minute=3)
    key = new_key(database_url)
    codes = [client.get("/v1/jobs", headers=auth(key)).status_code for _ in range(4)]
    assert codes[:3] == [200] * 3 and codes[3] == 429


def test_health_and_readiness(api, engine, tiny_model, tmp_path):
    client, _ = api
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "model": "ok"}
    broken, _ = stack(engine, tiny_model.parent / "missing.pt", tmp_path)
    assert broken.get("/readyz").status_code == 503
