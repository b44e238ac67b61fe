"""A real PostgreSQL for the service's tests, a tiny model, keys, and processes to serve it.

`AIPROD_TEST_DATABASE_URL` (an admin URL) points the tests at a running server; without it
a throwaway cluster is started by `scripts/postgres.sh` for the session. Either way the
suite makes its own database and drops it at the end, so no earlier run's state is seen.
"""

from __future__ import annotations

import copy
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import yaml
from sqlalchemy import create_engine, text

from aiprod.config import ServeConfig
from aiprod.serve.db import make_engine, sessions, upgrade
from aiprod.serve.keys import create_key

ROOT = Path(__file__).resolve().parents[1]
PG_SCRIPT = ROOT / "scripts" / "postgres.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """An admin URL, and the cluster behind it when this process started one."""

    def __init__(self) -> None:
        self.dir: str | None = None
        self.databases: list[str] = []
        self.admin_url = os.environ.get("AIPROD_TEST_DATABASE_URL", "")
        if not self.admin_url:
            self.dir = tempfile.mkdtemp(prefix="aiprod-pg-")
            self.admin_url = subprocess.run(
                [str(PG_SCRIPT), "start", self.dir, str(free_port())],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()

    def create_database(self) -> str:
        """A new empty database migrated to head; its URL."""
        name = f"aiprod_test_{uuid.uuid4().hex[:10]}"
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.databases.append(name)
        url = self.admin_url.rsplit("/", 1)[0] + f"/{name}"
        upgrade(url)
        return url

    def stop(self) -> None:
        """Drop the databases this process made; stop the cluster if it started one."""
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in self.databases:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if self.dir:
            subprocess.run([str(PG_SCRIPT), "stop", self.dir], check=False)
            shutil.rmtree(self.dir, ignore_errors=True)


def serve_config(model: Path, media: Path, **overrides: object) -> ServeConfig:
    data = {
        "models": {"tiny": str(model)},
        "default_model": "tiny",
        "media_dir": str(media),
        "lease_seconds": 30.0,
        "heartbeat_seconds": 1.0,
        "poll_seconds": 0.05,
        "rate_per_minute": 100_000,
        "queue_cap": 1_000,
    }
    return ServeConfig.model_validate(data | overrides)


def new_key(url: str, scopes: tuple[str, ...] = ("jobs:read", "jobs:write")) -> str:
    engine = make_engine(url, pool_size=1)
    with sessions(engine).begin() as session:
        _, token = create_key(session, f"test-{uuid.uuid4().hex[:6]}", list(scopes))
    engine.dispose()
    return token


def params_file(folder: Path, serve: ServeConfig) -> Path:
    """The project's params with this `serve` section and a CPU fp32 runtime."""
    data = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))
    data["serve"] = serve.model_dump()
    data["runtime"] = {**data["runtime"], "device": "cpu", "precision": "fp32"}
    path = folder / f"params-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def aiprod(*args: str, url: str, **kwargs: object) -> subprocess.Popen:
    """`aiprod ARGS` in a child process on the test database."""
    env = {**os.environ, "AIPROD_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "aiprod.cli", *args], env=env, **kwargs)


def start_api(params: Path, url: str, log: Path) -> tuple[subprocess.Popen, str]:
    """`aiprod serve` on a free loopback port, once it answers /healthz."""
    port = free_port()
    with log.open("wb") as out:
        process = aiprod(
            "serve", "--params", str(params), "--port", str(port), url=url, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"aiprod serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"aiprod serve did not start: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
