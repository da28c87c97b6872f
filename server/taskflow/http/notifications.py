"""/notifications, and watching tasks and boards (services/notifications.py)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response
from quart_schema import tag_blueprint, validate_querystring

from taskflow.http.openapi import responds
from taskflow.http.responses import json_body
from taskflow.http.runtime import authenticated, runtime
from taskflow.http.schemas import (
    NotificationArgs,
    NotificationList,
    NotificationOut,
    ReadAllOut,
    WatchArgs,
    WatchList,
)
from taskflow.services.access import Actor
from taskflow.services.views import notification_view, watch_view

blueprint = Blueprint("notifications", __name__, url_prefix="/api/v1")
tag_blueprint(blueprint, ["notifications"])


@blueprint.get("/notifications")
@authenticated
@validate_querystring(NotificationArgs)
@json_body(NotificationList, 200)
async def list_notifications(query_args: NotificationArgs, actor: Actor) -> dict[str, Any]:
    """The caller's notifications, unread first, then newest first; keyset-paginated."""
    page = await runtime().services.notifications.list(
        actor, unread_only=query_args.unread, limit=query_args.limit, cursor=query_args.cursor)
    return {"items": [notification_view(n) for n in page.items],
            "next_cursor": page.next_cursor, "unread_count": page.unread_count}


@blueprint.post("/notifications/read-all")
@authenticated
@json_body(ReadAllOut, 200)
async def read_all(actor: Actor) -> dict[str, Any]:
    """Marks every unread notification of the caller read."""
    return {"updated": await runtime().services.notifications.read_all(actor)}


@blueprint.post("/notifications/<notification_id>/read")
@authenticated
@json_body(NotificationOut, 200)
async def read_one(notification_id: str, actor: Actor) -> dict[str, Any]:
    """Marks one notification read (idempotent); another user's is 404."""
    return notification_view(await runtime().services.notifications.read(actor, notification_id))


@blueprint.put("/tasks/<task_id>/watch")
@authenticated
@responds(r204="The caller watches the task (idempotent)")
async def watch_task(task_id: str, actor: Actor) -> Response:
    """Watch a task: its comments and changes notify you (idempotent)."""
    await runtime().services.notifications.watch(actor, task_id=task_id)
    return Response(status=204)


@blueprint.delete("/tasks/<task_id>/watch")
@authenticated
@responds(r204="The caller no longer watches the task (idempotent)")
async def unwatch_task(task_id: str, actor: Actor) -> Response:
    """Stop watching a task (idempotent)."""
    await runtime().services.notifications.unwatch(actor, task_id=task_id)
    return Response(status=204)


@blueprint.put("/boards/<board_id>/watch")
@authenticated
@responds(r204="The caller watches the board (idempotent)")
async def watch_board(board_id: str, actor: Actor) -> Response:
    """Watch a board: new tasks, comments and changes on it notify you (idempotent)."""
    await runtime().services.notifications.watch(actor, board_id=board_id)
    return Response(status=204)


@blueprint.delete("/boards/<board_id>/watch")
@authenticated
@responds(r204="The caller no longer watches the board (idempotent)")
async def unwatch_board(board_id: str, actor: Actor) -> Response:
    """Stop watching a board (idempotent)."""
    await runtime().services.notifications.unwatch(actor, board_id=board_id)
    return Response(status=204)


@blueprint.get("/users/me/watches")
@authenticated
@validate_querystring(WatchArgs)
@json_body(WatchList, 200)
async def my_watches(query_args: WatchArgs, actor: Actor) -> dict[str, Any]:
    """What the caller watches (on one board with `board_id`), oldest first."""
    page = await runtime().services.notifications.watches(
        actor, board_id=query_args.board_id, limit=query_args.limit, cursor=query_args.cursor)
    return {"items": [watch_view(w) for w in page.items], "next_cursor": page.next_cursor}
