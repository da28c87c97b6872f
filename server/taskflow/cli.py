"""The `taskflow` command: serve, and database chores."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from loguru import logger

from taskflow import __version__, serving
from taskflow.config import Settings, SettingsError
from taskflow.observability import configure_logging
from taskflow.storage.sqlite import StoreOutdated


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
    db_commands.add_parser("migrate", help="upgrade existing data to this version's schema "
                                          "(idempotent; stop older instances first)")
    epoch = db_commands.add_parser(
        "new-epoch", help="after restoring a backup: start every board's event log (or the "
                          "named ones') on a new epoch, so that clients refetch instead of "
                          "trusting seqs they saw for other events")
    epoch.add_argument("--board", action="append", metavar="ID", dest="boards",
                       help="only this board (repeatable)")
    return parser


async def _db_init(settings: Settings) -> None:
    from taskflow.app import open_store

    store = await open_store(settings, create_indexes=True)
    await store.close()
    logger.info("schema and indexes are in place")


async def _db_migrate(settings: Settings) -> None:
    from taskflow.app import open_store

    # The same idempotent routine as init: it creates what is missing and upgrades the rest.
    store = await open_store(settings, create_indexes=True)
    await store.close()
    logger.info("the data is at the latest schema")


async def _db_new_epoch(settings: Settings, board_ids: list[str] | None) -> None:
    from taskflow.app import open_store
    from taskflow.services.events import EventService

    store = await open_store(settings)
    try:
        renewed = await EventService(store=store).new_epochs(board_ids)
    finally:
        await store.close()
    logger.info("{} board event log(s) are on a new epoch", renewed)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_environ(os.environ)
        log_dir = settings.log_dir / settings.instance_id if settings.log_dir else None
        if log_dir is not None:
            try:
                log_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SettingsError(f"TASKFLOW_LOG_DIR {settings.log_dir}: {exc.strerror}") from None
        configure_logging(json_lines=settings.log_json, level=settings.log_level,
                          log_dir=str(log_dir) if log_dir else None)
        if args.command == "serve":
            if not settings.rate_limits.enabled:
                logger.warning("rate limits are OFF (TASKFLOW_RATE_LIMITS=off): "
                               "for load tests and benchmarks only")
            if not settings.jwt_secret:
                logger.warning("JWT_SECRET is not set: using a generated one kept in {}",
                               settings.data_dir / ".jwt-secret")
            try:
                serving.run(settings, args.host, args.port)
            except SettingsError:
                raise
            except OSError as exc:
                print(f"taskflow: cannot listen on {args.host}:{args.port}: {exc.strerror}",
                      file=sys.stderr)
                return 1
            except StoreOutdated as exc:
                print(f"taskflow: cannot start: {exc}", file=sys.stderr)
                return 1
            except Exception as exc:
                # A dependency that refused us at start: one line, the details in the debug log.
                logger.opt(exception=exc).debug("start-up failed")
                cause = exc.__cause__ or exc
                print(f"taskflow: cannot start: {type(cause).__name__}: {cause}", file=sys.stderr)
                return 1
        elif args.command == "db" and args.db_command == "init":
            asyncio.run(_db_init(settings))
        elif args.command == "db" and args.db_command == "migrate":
            asyncio.run(_db_migrate(settings))
        elif args.command == "db" and args.db_command == "new-epoch":
            asyncio.run(_db_new_epoch(settings, args.boards))
    except SettingsError as exc:
        print(f"taskflow: bad setting: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
