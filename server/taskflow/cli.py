"""The `taskflow` command: serve, and database chores."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from loguru import logger

from taskflow import __version__
from taskflow.config import Settings, SettingsError
from taskflow.observability import configure_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskflow", description="TaskFlow server")
    parser.add_argument("--version", action="version", version=f"taskflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API, the live channel and the web client")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    db = commands.add_parser("db", help="database chores")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("init", help="create the schema and indexes (idempotent)")
    return parser


async def _serve(settings: Settings, host: str, port: int) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from taskflow.app import asgi_app, create_app

    app = asgi_app(create_app(settings))
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = "-"
    config.graceful_timeout = 10
    config.backlog = 1024
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)


async def _db_init(settings: Settings) -> None:
    from taskflow.app import open_store

    store = await open_store(settings)
    await store.close()
    logger.info("schema and indexes are in place")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_environ(os.environ)
        configure_logging(json_lines=settings.log_json, level=settings.log_level)
        if args.command == "serve":
            if not settings.rate_limits.enabled:
                logger.warning("rate limits are OFF (TASKFLOW_RATE_LIMITS=off): "
                               "for load tests and benchmarks only")
            if not settings.jwt_secret:
                logger.warning("JWT_SECRET is not set: using a generated one kept in {}",
                               settings.data_dir / ".jwt-secret")
            try:
                asyncio.run(_serve(settings, args.host, args.port))
            except OSError as exc:
                print(f"taskflow: cannot listen on {args.host}:{args.port}: {exc.strerror}",
                      file=sys.stderr)
                return 1
            except Exception as exc:
                if type(exc).__name__ != "LifespanFailureError":
                    raise
                cause = exc.__cause__ or exc.__context__ or exc
                print(f"taskflow: cannot start: {cause}", file=sys.stderr)
                return 1
        elif args.command == "db" and args.db_command == "init":
            asyncio.run(_db_init(settings))
    except SettingsError as exc:
        print(f"taskflow: bad setting: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
