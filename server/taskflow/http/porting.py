"""Board export (GET /boards/{id}/export) and import (POST /boards/import); see the README's
"Export and import" and services/exports.py, services/imports.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import tag_blueprint, validate_querystring

from taskflow.errors import PayloadTooLarge
from taskflow.http.openapi import documents
from taskflow.http.porting_schemas import BoardExport, ExportArgs
from taskflow.http.responses import json_body
from taskflow.http.runtime import authenticated, runtime
from taskflow.http.schemas import BoardOut
from taskflow.services.access import Actor
from taskflow.services.views import board_view

blueprint = Blueprint("porting", __name__, url_prefix="/api/v1/boards")
tag_blueprint(blueprint, ["boards"])

# Past the limit, the rest of the body is read and dropped up to this much more, so that the
# client gets its 413 rather than a broken pipe; beyond that the connection is dropped.
_DRAIN_BYTES = 64 * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


@blueprint.get("/<board_id>/export")
@authenticated
@validate_querystring(ExportArgs)
@json_body(BoardExport, 200)
@documents(content={"200": {"text/csv": {"schema": {
    "type": "string", "description": "With ?format=csv: the tasks, RFC 4180, UTF-8, a header "
    "row; cells that a spreadsheet would run as a formula start with '"}}}})
async def export_board(board_id: str, query_args: ExportArgs, actor: Actor) -> Response:
    """The board as a JSON document (any member), or its tasks as CSV; streamed."""
    service = runtime().services.exports
    board = await service.board(actor, board_id)
    name = _UNSAFE.sub("-", board.name).strip(" -.")[:60] or "board"
    if query_args.format == "csv":
        chunks = service.csv_chunks(board)
        content_type, extension = "text/csv; charset=utf-8", "csv"
    else:
        chunks = service.json_chunks(board)
        content_type, extension = "application/json", "json"
    response = Response(chunks, content_type=content_type, headers={
        "Content-Disposition": f'attachment; filename="{name}.{extension}"'})
    response.timeout = None  # a big board takes longer than Quart's default 60 s
    return response


@blueprint.post("/import")
@authenticated
@json_body(BoardOut, 201)
@documents(request_body={"required": True, "description": (
    "A TaskFlow board export (GET /boards/{id}/export) or a Trello board export (JSON). "
    "Streamed; at most TASKFLOW_MAX_IMPORT_MB."),
    "content": {"application/json": {"schema": {"type": "object"}}}})
async def import_board(actor: Actor) -> tuple[dict[str, Any], int]:
    """A new board owned by the caller, from the file in the body.

    A TaskFlow export or a Trello board export; 422 names the first offending place
    ($.cards[17].name) and leaves nothing behind."""
    rt = runtime()
    await rt.limit(rt.settings.rate_limits.import_per_user, "import", actor.user_id)
    path = await _spool(request.body, rt.settings.max_import_bytes)
    try:
        board = await rt.services.imports.run(actor, path)
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    return board_view(board, board.role_of(actor.user_id)), 201


async def _spool(body: AsyncIterable[bytes], limit: int) -> Path:
    """Writes the body to a temporary file as it arrives; 413 past `limit` bytes."""
    fd, name = tempfile.mkstemp(prefix="taskflow-import-", suffix=".json")
    path = Path(name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as file:
            async for chunk in body:
                size += len(chunk)
                if size > limit:
                    break
                # Written at once, not in a thread: a page-cache write of one piece is quicker
                # than a hop to a thread, and a slower writer lets the body pile up in memory
                # (Quart buffers what arrives until it is read).
                file.write(chunk)
        if size > limit:
            async for chunk in body:
                size += len(chunk)
                if size > limit + _DRAIN_BYTES:
                    break
            raise PayloadTooLarge(f"An import is at most {limit // (1024 * 1024)} MB")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)  # no await: this runs when cancelled too
        raise
    return path
