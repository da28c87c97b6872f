"""Runs the ASGI app on the configured server: Uvicorn or Hypercorn.

Both serve the same app (`asgi_app(create_app(settings))`) and stop gracefully on SIGTERM:
they stop accepting, let in-flight requests finish within a grace period, and close the
live connections, whose clients reconnect to another instance through the load balancer.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import Any

from taskflow.config import Settings, SettingsError
from taskflow.httpprotocol import DEFAULT_MAX_HEAD_BYTES, BoundedHttpToolsProtocol

GRACE_SECONDS = 10


async def serve(settings: Settings, host: str, port: int) -> None:
    from taskflow.app import asgi_app, create_app, preflight

    metrics = _metrics_address(settings, port)
    await preflight(settings)
    app = asgi_app(create_app(settings))
    if settings.server == "uvicorn":
        await _uvicorn(app, host, port, settings.max_header_bytes, metrics)
    else:
        await _hypercorn(app, host, port, settings.max_header_bytes, metrics)


def _metrics_address(settings: Settings, port: int) -> tuple[str, int] | None:
    """Where the metrics listener listens (http/metrics.py), if anywhere."""
    if settings.metrics_port is None:
        return None
    if settings.metrics_port == port:
        raise SettingsError(f"TASKFLOW_METRICS_PORT must differ from the API's port ({port})")
    return settings.metrics_host, settings.metrics_port


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (OSError when it can't be had)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


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


async def _uvicorn(app: Any, host: str, port: int, max_header_bytes: int,
                   metrics: tuple[str, int] | None) -> None:
    import uvicorn

    server = uvicorn.Server(uvicorn_config(app, host, port, max_header_bytes))
    sockets = None
    if metrics is not None:
        # Two listeners, one server: Uvicorn serves every socket it is handed.
        sockets = [_listen(host, port)]
        try:
            sockets.append(_listen(*metrics))
        except OSError as exc:
            sockets[0].close()
            raise SettingsError(f"TASKFLOW_METRICS_PORT: cannot listen on {metrics[0]}:"
                                f"{metrics[1]}: {exc.strerror}") from None
    # Uvicorn re-raises the signal that stopped it to the handler it found installed; a
    # graceful stop on SIGTERM is a clean exit (status 0), as with Hypercorn.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        await server.serve(sockets=sockets)
    finally:
        signal.signal(signal.SIGTERM, previous)
        for sock in sockets or ():
            sock.close()
    if not server.started:
        raise RuntimeError("the server did not start (see the log above)")


async def _hypercorn(app: Any, host: str, port: int, max_header_bytes: int,
                     metrics: tuple[str, int] | None) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [_bind(host, port)] + ([_bind(*metrics)] if metrics else [])
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


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run(settings: Settings, host: str, port: int) -> None:
    """Blocks until the server stops; uvloop's event loop when it is installed."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(settings, host, port))
        return
    uvloop.run(serve(settings, host, port))
