"""Where /metrics is served: a listener of its own, and the public port only with a token.

The metrics name routes, instance ids and volumes: not for the public. With
TASKFLOW_METRICS_PORT the server listens there too (on TASKFLOW_METRICS_HOST, 127.0.0.1 by
default), and that listener answers GET /metrics and nothing else. On the public port
/metrics answers only a request bearing TASKFLOW_METRICS_TOKEN; without the token, with a
wrong one, or when none is set, it is the same 404 as any unknown path.

Both listeners are sockets of the one server process, told apart by the local port of the
connection (ASGI's `scope["server"]`), which a client can't choose the way it can a Host
header.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from taskflow.errors import NotFound

Scope = dict[str, Any]
_NOT_FOUND = json.dumps(NotFound().payload()).encode()


def bearer_matches(authorization: str | None, token: str | None) -> bool:
    """Whether an Authorization header carries `token` (constant time; False with no token)."""
    if not token or not authorization:
        return False
    return hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())


class MetricsListener:
    """ASGI: requests that arrived on the metrics port get /metrics or a 404; the rest go on
    to `app`."""

    def __init__(self, app: Any, *, port: int, registry: CollectorRegistry) -> None:
        self._app = app
        self._port = port
        self._registry = registry

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        server = scope.get("server")
        if scope["type"] == "lifespan" or not server or server[1] != self._port:
            await self._app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        elif scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            body = generate_latest(self._registry)
            await _respond(send, 200, CONTENT_TYPE_LATEST, body, scope["method"] == "HEAD")
        else:
            await _respond(send, 404, "application/problem+json", _NOT_FOUND,
                           scope["method"] == "HEAD")


async def _respond(send: Any, status: int, content_type: str, body: bytes, head: bool) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]})
    await send({"type": "http.response.body", "body": b"" if head else body})
