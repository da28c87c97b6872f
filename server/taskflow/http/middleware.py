"""Around every request: request id, CORS, security headers, metrics and access log."""

from __future__ import annotations

import re
import secrets
import time
from functools import lru_cache

from loguru import logger
from quart import Quart, Response, g, request

from taskflow.http.runtime import runtime
from taskflow.observability import request_id_var

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self' ws: wss:{blobs}; font-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


@lru_cache(maxsize=8)
def content_security_policy(blob_origins: tuple[str, ...]) -> str:
    """The CSP; with S3, the browser may also talk to the bucket (direct uploads, downloads)."""
    return _CSP.format(blobs="".join(f" {o}" for o in blob_origins))


_CORS_HEADERS = "Authorization, Content-Type, If-Match, If-None-Match, X-Request-ID"
_CORS_EXPOSE = "ETag, Location, Retry-After, X-Request-ID"


def _allowed_origin() -> str | None:
    origin = request.headers.get("Origin")
    if origin and origin in runtime().settings.cors_origins:
        return origin
    return None


def register(app: Quart) -> None:
    @app.before_request
    async def _start() -> Response | None:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else secrets.token_hex(8)
        g.request_id = request_id
        g.started = time.perf_counter()
        request_id_var.set(request_id)
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            return Response(status=204)  # a CORS preflight; headers are added below
        return None

    @app.after_request
    async def _finish(response: Response) -> Response:
        rt = runtime()
        headers = response.headers
        headers["X-Request-ID"] = g.get("request_id", "-")
        blob_origins = rt.services_.attachments.browser_origins if rt.services_ else ()
        headers.setdefault("Content-Security-Policy", content_security_policy(blob_origins))
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if rt.settings.production:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if request.path.startswith("/api/"):
            headers.setdefault("Cache-Control", "no-store")
        origin = _allowed_origin()
        if origin:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
            headers["Access-Control-Expose-Headers"] = _CORS_EXPOSE
            if request.method == "OPTIONS":
                headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE, OPTIONS"
                headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
                headers["Access-Control-Max-Age"] = "600"
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        rt.metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        rt.metrics.latency.labels(request.method, route).observe(elapsed)
        logger.info("{} {} {} {:.1f}ms", request.method, request.path, response.status_code,
                    elapsed * 1000)
        return response
