"""A task's checklist items and its activity (read from the board's event log)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response
from quart_schema import tag_blueprint, validate_querystring, validate_request

from taskflow.domain import checklist_data
from taskflow.http.responses import json_body, with_etag
from taskflow.http.runtime import authenticated, runtime
from taskflow.http.schemas import (
    ActivityList,
    ChecklistItemIn,
    ChecklistItemOut,
    ChecklistItemPatch,
    PageArgs,
)
from taskflow.http.tasks import _if_match
from taskflow.services.access import Actor
from taskflow.services.tasks import etag

blueprint = Blueprint("checklists", __name__, url_prefix="/api/v1")
tag_blueprint(blueprint, ["tasks"])


@blueprint.post("/tasks/<task_id>/checklist")
@authenticated
@validate_request(ChecklistItemIn)
@json_body(ChecklistItemOut, 201)
async def add_item(task_id: str, data: ChecklistItemIn, actor: Actor) -> Response:
    """Adds a checklist item (at the end by default); the task's ETag comes back.

    One task:updated event; at most 100 items per task (422 beyond); If-Match as for
    PATCH /tasks/{id}."""
    if_match = _if_match()
    item, task = await runtime().services.checklists.add(
        actor, task_id, data.model_dump(exclude_unset=True), if_match=if_match)
    return with_etag(checklist_data((item,))[0], etag(task), 201)


@blueprint.patch("/tasks/<task_id>/checklist/<item_id>")
@authenticated
@validate_request(ChecklistItemPatch)
@json_body(ChecklistItemOut, 200)
async def patch_item(task_id: str, item_id: str, data: ChecklistItemPatch,
                     actor: Actor) -> Response:
    """Renames, ticks or moves (a `position` between its new neighbours') one item.

    A change that changes nothing changes no version and emits no event."""
    if_match = _if_match()
    item, task = await runtime().services.checklists.update(
        actor, task_id, item_id, data.model_dump(exclude_unset=True), if_match=if_match)
    return with_etag(checklist_data((item,))[0], etag(task))


@blueprint.delete("/tasks/<task_id>/checklist/<item_id>")
@authenticated
async def delete_item(task_id: str, item_id: str, actor: Actor) -> Response:
    """Delete a checklist item; the task's ETag comes back."""
    if_match = _if_match()
    task = await runtime().services.checklists.delete(actor, task_id, item_id, if_match=if_match)
    return Response(status=204, headers={"ETag": etag(task)})


@blueprint.get("/tasks/<task_id>/activity")
@authenticated
@validate_querystring(PageArgs)
@json_body(ActivityList, 200)
async def task_activity(task_id: str, query_args: PageArgs, actor: Actor) -> dict[str, Any]:
    """Who changed what and when on this task, newest first, from the board's event log.

    Kept for TASKFLOW_EVENT_RETENTION_DAYS (365 by default); see the README's Activity."""
    page = await runtime().services.activity.list(actor, task_id, limit=query_args.limit,
                                                  cursor=query_args.cursor)
    return {"items": page.items, "next_cursor": page.next_cursor}
