"""Around every request: request id, CORS, security headers, metrics and access log."""

from __future__ import annotations

import itertools
import re
import secrets
import time
from functools import lru_cache

from quart import Quart, Response, g, request

from taskflow.http.runtime import Runtime, runtime
from taskflow.observability import log_access, request_id_var

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self' ws: wss:{blobs}; font-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


@lru_cache(maxsize=8)
def content_security_policy(blob_origins: tuple[str, ...]) -> str:
    """The CSP; with S3, the browser may also talk to the bucket (direct uploads, downloads)."""
    return _CSP.format(blobs="".join(f" {o}" for o in blob_origins))


_CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match, X-Request-ID"
_CORS_EXPOSE = "ETag, Idempotent-Replayed, Location, Retry-After, X-Request-ID"


_CORS_PREFLIGHT = [
    ("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", _CORS_HEADERS),
    ("Access-Control-Max-Age", "600"),
]


class RequestIds:
    """Request ids without a random draw per request: a random prefix per process (unique
    across instances, like the old 16 random hex digits per request were) and a counter."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}-{next(self._counter):x}"


def _static_headers(rt: Runtime) -> tuple[str, list[tuple[str, str]]]:
    """The CSP (a response may bring its own) and the headers every response gets, the
    same for the life of the process."""
    blob_origins = rt.services_.attachments.browser_origins if rt.services_ else ()
    headers = [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]
    if rt.settings.production:
        headers.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
    return content_security_policy(blob_origins), headers


def register(app: Quart) -> None:
    ids = RequestIds()
    # Built on the first response, once the services (and the blob store's origins) exist.
    static: list[tuple[str, list[tuple[str, str]]]] = []

    @app.before_request
    async def _start() -> Response | None:
        supplied = request.headers.get("X-Request-ID")
        request_id = supplied if supplied and _REQUEST_ID.match(supplied) else ids.next()
        g.request_id = request_id
        g.started = time.perf_counter()
        request_id_var.set(request_id)
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            return Response(status=204)  # a CORS preflight; headers are added below
        return None

    @app.after_request
    async def _finish(response: Response) -> Response:
        rt = runtime()
        if not static and rt.services_ is not None:
            static.append(_static_headers(rt))
        csp, fixed = static[0] if static else _static_headers(rt)
        headers = response.headers
        headers["X-Request-ID"] = g.get("request_id", "-")
        headers.setdefault("Content-Security-Policy", csp)
        for name, value in fixed:
            headers[name] = value
        path = request.path
        if path.startswith("/api/"):
            headers.setdefault("Cache-Control", "no-store")
        origin = request.headers.get("Origin")
        if origin and origin in rt.settings.cors_origins:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
            headers["Access-Control-Expose-Headers"] = _CORS_EXPOSE
            if request.method == "OPTIONS":
                headers.extend(_CORS_PREFLIGHT)
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        status = response.status_code
        rt.metrics.requests.labels(request.method, route, str(status)).inc()
        rt.metrics.latency.labels(request.method, route).observe(elapsed)
        log_access(g.get("request_id", "-"), f"{request.method} {path} {status} {elapsed * 1000:.1f}ms")
        return response
