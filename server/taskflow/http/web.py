"""The built web client (web/dist) at /, with SPA fallback and long-lived hashed assets."""

from __future__ import annotations

from pathlib import Path

from quart import Blueprint, Response, send_from_directory
from quart_schema import hide

from taskflow.errors import NotFound

_RESERVED = ("api/", "socket.io/", "metrics", "openapi.json", "docs")


def blueprint(dist: Path) -> Blueprint:
    """Serves `dist`; unknown paths get index.html so client-side routes load."""
    bp = Blueprint("web", __name__)
    root = dist.resolve()

    async def index() -> Response:
        response = await send_from_directory(root, "index.html")
        response.headers["Cache-Control"] = "no-cache"
        return response

    @bp.get("/")
    @hide
    async def home() -> Response:
        return await index()

    @bp.get("/<path:path>")
    @hide
    async def asset(path: str) -> Response:
        if path.startswith(_RESERVED):
            raise NotFound()
        candidate = (root / path).resolve()
        if candidate.is_file() and candidate.is_relative_to(root):
            response = await send_from_directory(root, path)
            if path.startswith("assets/"):
                # Vite puts a content hash in every name under assets/: safe to keep forever.
                response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
            else:
                response.headers["Cache-Control"] = "public, max-age=300"
            return response
        if "." in path.rsplit("/", 1)[-1]:
            raise NotFound()  # a missing file, not a client-side route
        return await index()

    return bp
