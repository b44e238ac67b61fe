"""`aiprod db upgrade`, `aiprod keys ...`, `aiprod serve`, `aiprod worker`.

Each reads `serve` (and `runtime`, for workers) from the params file and the database URL
from AIPROD_DATABASE_URL; a bad setting fails before anything starts, naming it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from aiprod.config import AiprodConfig, ConfigError, ServeConfig, load_config
from aiprod.config.serve import database_url
from aiprod.serve.db import make_engine, sessions, upgrade


def _params(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="its `serve` section is used")


def _config(path: str) -> AiprodConfig | None:
    return load_config(path) if Path(path).is_file() else None


def _serve_config(path: str) -> ServeConfig:
    config = _config(path)
    return config.serve if config else ServeConfig()


def _fail(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)  # noqa: T201
    return 2


def db_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aiprod db", description="The service's schema.")
    parser.add_argument("action", choices=["upgrade"], help="apply the Alembic migrations")
    parser.add_argument("--revision", default="head")
    args = parser.parse_args(argv)
    try:
        upgrade(database_url(), args.revision)
    except ConfigError as error:
        return _fail(error)
    print(f"database at revision {args.revision}")  # noqa: T201
    return 0


def keys_main(argv: list[str] | None = None) -> int:
    from aiprod.serve.keys import create_key, list_keys, parse_scopes, revoke_key

    parser = argparse.ArgumentParser(prog="aiprod keys", description="API keys.")
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="a new key, printed once")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", default="jobs:write,jobs:read")
    sub.add_parser("list", help="keys by prefix, name, scopes, revoked")
    revoke = sub.add_parser("revoke", help="revoke a key by its prefix")
    revoke.add_argument("prefix")
    args = parser.parse_args(argv)
    try:
        engine = make_engine(database_url(), pool_size=1)
        lines = []
        with sessions(engine).begin() as session:
            if args.action == "create":
                key, token = create_key(session, args.name, parse_scopes(args.scopes))
                lines = [token, f"(prefix {key.prefix}; shown once: store it now)"]
            elif args.action == "list":
                for key in list_keys(session):
                    state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "live"
                    lines.append(f"{key.prefix}  {key.name}  {','.join(key.scopes)}  {state}")
            elif not revoke_key(session, args.prefix):
                raise ValueError(f"no live key with prefix {args.prefix!r}")
    except (ConfigError, ValueError) as error:
        return _fail(error)
    print("\n".join(lines))  # noqa: T201 (after the commit: a closed pipe cannot undo the key)
    return 0


def serve_main(argv: list[str] | None = None) -> int:
    import uvicorn

    from aiprod.serve.app import create_app, service_from

    parser = argparse.ArgumentParser(prog="aiprod serve", description="The REST API (uvicorn).")
    _params(parser)
    parser.add_argument("--host", default=None, help="overrides serve.host")
    parser.add_argument("--port", type=int, default=None, help="overrides serve.port")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args(argv)
    try:
        serve = _serve_config(args.params)
        engine = make_engine(database_url())
    except ConfigError as error:
        return _fail(error)
    app = create_app(service_from(serve, engine))
    uvicorn.run(app, host=args.host or serve.host, port=args.port or serve.port, log_level="info")
    return 0


def worker_main(argv: list[str] | None = None) -> int:
    from aiprod.runtime import resolve
    from aiprod.serve.worker import Worker

    parser = argparse.ArgumentParser(prog="aiprod worker", description="Run queued jobs.")
    _params(parser)
    parser.add_argument("--name", default=None, help="worker id (default: host:pid:random)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = _config(args.params)
        serve = config.serve if config else ServeConfig()
        runtime = resolve(config.runtime) if config else None
        engine = make_engine(database_url(), pool_size=2)
    except (ConfigError, ValueError) as error:
        return _fail(error)
    if runtime is None:
        from aiprod.generate import cpu_runtime

        runtime = cpu_runtime()
    if serve.worker_threads:
        import torch

        torch.set_num_threads(serve.worker_threads)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Worker(serve, sessions(engine), runtime, name=args.name).run(stop)
    return 0
