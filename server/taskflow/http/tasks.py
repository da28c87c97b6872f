"""/tasks, their comments, and /stats over all the caller's boards."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import tag_blueprint, validate_querystring, validate_request

from taskflow.errors import PreconditionFailed
from taskflow.http.responses import json_body, with_etag
from taskflow.http.runtime import authenticated, runtime
from taskflow.http.schemas import (
    CommentIn,
    CommentList,
    CommentOut,
    PageArgs,
    StatsOut,
    TaskArgs,
    TaskIn,
    TaskList,
    TaskOut,
    TaskPatch,
)
from taskflow.services.access import Actor
from taskflow.services.tasks import etag
from taskflow.services.views import comment_view, task_view

blueprint = Blueprint("tasks", __name__, url_prefix="/api/v1")
tag_blueprint(blueprint, ["tasks"])

_ETAG = re.compile(r'^(?:W/)?"(\d{1,18})"$')


def _if_match() -> int | None:
    """The version named by If-Match (read here: the request is gone in worker threads)."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    match = _ETAG.match(raw.strip())
    if match is None:
        raise PreconditionFailed("If-Match must be an ETag this API sent, like \"3\"")
    return int(match.group(1))


@blueprint.get("/tasks")
@authenticated
@validate_querystring(TaskArgs)
@json_body(TaskList, 200)
async def list_tasks(query_args: TaskArgs, actor: Actor) -> dict[str, Any]:
    """Tasks on the caller's boards, filtered and sorted; keyset-paginated."""
    a = query_args
    page = await runtime().services.tasks.list(
        actor, board_id=a.board_id, status=a.status, column_id=a.column_id,
        assignee_id=a.assignee_id,
        priority=a.priority, text=a.q, due_before=a.due_before, sort=a.sort, limit=a.limit,
        cursor=a.cursor,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@blueprint.post("/tasks")
@authenticated
@validate_request(TaskIn)
@json_body(TaskOut, 201)
async def create_task(data: TaskIn, actor: Actor) -> Response:
    """Create a task in a column (`column_id`, or the first column of `status`)."""
    fields = data.model_dump(exclude={"board_id"})
    task = await runtime().services.tasks.create(actor, data.board_id, fields)
    return with_etag(task_view(task), etag(task), 201)


@blueprint.get("/tasks/<task_id>")
@authenticated
@json_body(TaskOut, 200)
async def get_task(task_id: str, actor: Actor) -> Any:
    """A task, with its ETag (its version) for If-Match."""
    task = await runtime().services.tasks.get(actor, task_id)
    if request.headers.get("If-None-Match") == etag(task):
        return Response(status=304, headers={"ETag": etag(task)})
    return with_etag(task_view(task), etag(task))


@blueprint.patch("/tasks/<task_id>")
@authenticated
@validate_request(TaskPatch)
@json_body(TaskOut, 200)
async def patch_task(task_id: str, data: TaskPatch,
                     actor: Actor) -> Response:
    """Change a task; with a stale If-Match, 412 carries the current task."""
    if_match = _if_match()
    changes = data.model_dump(exclude_unset=True)
    task = await runtime().services.tasks.update(actor, task_id, changes, if_match=if_match)
    return with_etag(task_view(task), etag(task))


@blueprint.delete("/tasks/<task_id>")
@authenticated
async def delete_task(task_id: str, actor: Actor) -> Response:
    """Delete a task with its comments and attachments."""
    await runtime().services.tasks.delete(actor, task_id)
    return Response(status=204)


@blueprint.get("/tasks/<task_id>/comments")
@authenticated
@validate_querystring(PageArgs)
@json_body(CommentList, 200)
async def list_comments(task_id: str, query_args: PageArgs, actor: Actor) -> dict[str, Any]:
    """The task's comments, oldest first; keyset-paginated."""
    page = await runtime().services.comments.list(actor, task_id, limit=query_args.limit,
                                                  cursor=query_args.cursor)
    return {"items": [comment_view(c) for c in page.items], "next_cursor": page.next_cursor}


@blueprint.post("/tasks/<task_id>/comments")
@authenticated
@validate_request(CommentIn)
@json_body(CommentOut, 201)
async def create_comment(task_id: str, data: CommentIn,
                         actor: Actor) -> tuple[dict[str, Any], int]:
    """Comment on a task (editors and the owner); mentions notify members."""
    comment = await runtime().services.comments.create(actor, task_id, body=data.body)
    return comment_view(comment), 201


@blueprint.delete("/tasks/<task_id>/comments/<comment_id>")
@authenticated
async def delete_comment(task_id: str, comment_id: str, actor: Actor) -> Response:
    """Delete a comment (its author or the board's owner)."""
    await runtime().services.comments.delete(actor, task_id, comment_id)
    return Response(status=204)


@blueprint.get("/stats")
@authenticated
@json_body(StatsOut, 200)
async def my_stats(actor: Actor) -> dict[str, Any]:
    """Stats over every task on every board the caller is a member of."""
    return asdict(await runtime().services.stats.for_user(actor))
