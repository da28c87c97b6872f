"""Runs the ASGI app on the configured server: Uvicorn or Hypercorn.

Both serve the same app (`asgi_app(create_app(settings))`) and stop gracefully on SIGTERM:
they stop accepting, let in-flight requests finish within a grace period, and close the
live connections, whose clients reconnect to another instance through the load balancer.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from taskflow.config import Settings
from taskflow.httpprotocol import DEFAULT_MAX_HEAD_BYTES, BoundedHttpToolsProtocol

GRACE_SECONDS = 10


async def serve(settings: Settings, host: str, port: int) -> None:
    from taskflow.app import asgi_app, create_app, preflight

    await preflight(settings)
    app = asgi_app(create_app(settings))
    if settings.server == "uvicorn":
        await _uvicorn(app, host, port, settings.max_header_bytes)
    else:
        await _hypercorn(app, host, port, settings.max_header_bytes)


def uvicorn_config(app: Any, host: str, port: int,
                   max_header_bytes: int = DEFAULT_MAX_HEAD_BYTES) -> Any:
    """How TaskFlow runs Uvicorn (loadtests/connmem.py measures this same configuration)."""
    import uvicorn

    return uvicorn.Config(
        app, host=host, port=port, lifespan="on", log_config=None, access_log=False,
        # httptools, with a bounded request head and problem+json for what it refuses.
        http=BoundedHttpToolsProtocol.limited_to(max_header_bytes), loop="none",
        # websockets' sans-IO implementation; no permessage-deflate: compressing every
        # frame for every subscriber cost a quarter of a broadcast's CPU and ~90 kB a socket.
        ws="websockets-sansio", ws_per_message_deflate=False,
        # Engine.IO's own heartbeat (TASKFLOW_LIVE_PING_*) already finds dead peers; a second
        # websocket-level ping would cost a timer and a write per socket for nothing.
        ws_ping_interval=None, ws_ping_timeout=None,
        timeout_graceful_shutdown=GRACE_SECONDS, backlog=1024, server_header=False,
    )


async def _uvicorn(app: Any, host: str, port: int, max_header_bytes: int) -> None:
    import uvicorn

    server = uvicorn.Server(uvicorn_config(app, host, port, max_header_bytes))
    # Uvicorn re-raises the signal that stopped it to the handler it found installed; a
    # graceful stop on SIGTERM is a clean exit (status 0), as with Hypercorn.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        await server.serve()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        raise RuntimeError("the server did not start (see the log above)")


async def _hypercorn(app: Any, host: str, port: int, max_header_bytes: int) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = "-"
    config.graceful_timeout = GRACE_SECONDS
    config.backlog = 1024
    config.include_server_header = False
    config.h11_max_incomplete_size = max_header_bytes  # its bound on a request head
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await hypercorn_serve(app, config, shutdown_trigger=stop.wait)


def run(settings: Settings, host: str, port: int) -> None:
    """Blocks until the server stops; uvloop's event loop when it is installed."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(settings, host, port))
        return
    uvloop.run(serve(settings, host, port))
