"""Liveness, readiness, Prometheus metrics and the API documentation page."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Blueprint, Response, request, send_from_directory
from quart_schema import hide

from taskflow.errors import NotFound, ServiceUnavailable
from taskflow.http.metrics import bearer_matches
from taskflow.http.responses import json_response
from taskflow.http.runtime import runtime

blueprint = Blueprint("ops", __name__)
_SWAGGER = Path(swagger_ui_bundle.swagger_ui_path)
_STATIC = Path(__file__).parent / "static"
_CHECK_TIMEOUT = 2.0
_OK = {"status": "ok"}


@blueprint.get("/api/v1/health")
@hide
async def health() -> Response:
    """Liveness: the process answers."""
    return json_response(_OK)


@blueprint.get("/api/v1/ready")
@hide
async def ready() -> Response:
    """Readiness: 503 (problem+json, with each check) while the store or Redis can't answer."""
    rt = runtime()
    checks: dict[str, str] = {}

    async def check(name: str, probe: Any) -> None:
        try:
            await asyncio.wait_for(probe(), _CHECK_TIMEOUT)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"down: {type(exc).__name__}"

    if rt.store is None:
        checks["store"] = "starting"
    else:
        await check("store", rt.store.ping)
    if rt.redis_ping is not None:
        await check("redis", rt.redis_ping)
    if any(value != "ok" for value in checks.values()):
        raise ServiceUnavailable("Not ready: a dependency is down", retry_after=5, checks=checks)
    return json_response({"status": "ready", "checks": checks})


@blueprint.get("/metrics")
@hide
async def metrics() -> Response:
    """Only with the metrics token on this (public) port: http/metrics.py."""
    rt = runtime()
    if not bearer_matches(request.headers.get("Authorization"), rt.settings.metrics_token):
        raise NotFound()
    return Response(generate_latest(rt.metrics.registry), content_type=CONTENT_TYPE_LATEST)


@blueprint.get("/docs")
@hide
async def docs() -> Response:
    """Swagger UI, served from this server (no CDN, nothing inline: the CSP stays strict)."""
    return await send_from_directory(_STATIC, "docs.html")


@blueprint.get("/docs/assets/<path:name>")
@hide
async def docs_asset(name: str) -> Response:
    if name == "docs.js":
        return await send_from_directory(_STATIC, "docs.js")
    return await send_from_directory(_SWAGGER, name)
