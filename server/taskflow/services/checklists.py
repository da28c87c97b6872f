"""Checklist items on a task: stored inside the task, so each change is a task:updated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from itertools import pairwise
from typing import Any

from taskflow.domain import Board, ChecklistItem, Task
from taskflow.errors import NotFound, PreconditionFailed, ValidationFailed, field_error
from taskflow.ids import new_id
from taskflow.services.access import Actor, task_for
from taskflow.services.changes import Change, Recorder
from taskflow.services.notifications import Outbox, excerpt, watchers
from taskflow.services.tasks import etag
from taskflow.services.views import task_view

MAX_ITEMS = 100
POSITION_STEP = 1024.0
# Closer than this, a checklist is renumbered (1024, 2048, ...) in the same write.
MIN_POSITION_GAP = 1e-6
WRITABLE = frozenset({"text", "done", "position"})


class ChecklistService:
    def __init__(self, *, recorder: Recorder) -> None:
        self._recorder = recorder

    async def add(self, actor: Actor, task_id: str, fields: Mapping[str, Any], *,
                  if_match: int | None = None) -> tuple[ChecklistItem, Task]:
        """A new item, at the end unless `position` says otherwise (422 past MAX_ITEMS)."""
        async def work(change: Change) -> tuple[ChecklistItem, Task]:
            task, board = await _writable_task(change, actor, task_id, if_match)
            if len(task.checklist) >= MAX_ITEMS:
                raise ValidationFailed(
                    f"A task holds at most {MAX_ITEMS} checklist items",
                    errors=[{"loc": ["body"], "msg": f"at most {MAX_ITEMS} items per task"}])
            position = fields.get("position")
            if position is None:
                position = (task.checklist[-1].position if task.checklist else 0.0) + POSITION_STEP
            item = ChecklistItem(id=new_id(), text=fields["text"],
                                 done=bool(fields.get("done", False)), position=float(position))
            updated = await _save(change, task, (*task.checklist, item))
            await _tell_watchers(change, board, updated, f"added to the checklist: {item.text}")
            return _item(updated, item.id), updated

        return await self._recorder.run(actor.user_id, work)

    async def update(self, actor: Actor, task_id: str, item_id: str,
                     changes: Mapping[str, Any], *,
                     if_match: int | None = None) -> tuple[ChecklistItem, Task]:
        """Renames, ticks or moves one item; a change that changes nothing writes nothing."""
        unknown = set(changes) - WRITABLE
        if unknown:
            raise field_error(sorted(unknown)[0], "is not writable")

        async def work(change: Change) -> tuple[ChecklistItem, Task]:
            # Read again inside the transaction: concurrent ticks of other items all land.
            task, board = await _writable_task(change, actor, task_id, if_match)
            current = _item(task, item_id)
            values = dict(changes)
            if "position" in values:
                values["position"] = float(values["position"])
            item = replace(current, **values)
            if item == current:
                return current, task
            items = tuple(item if i.id == item_id else i for i in task.checklist)
            updated = await _save(change, task, items)
            if item.done != current.done:  # a rename or a move alone tells no one
                await _tell_watchers(change, board, updated,
                                     f"{'checked' if item.done else 'unchecked'}: {item.text}")
            return _item(updated, item_id), updated

        return await self._recorder.run(actor.user_id, work)

    async def delete(self, actor: Actor, task_id: str, item_id: str, *,
                     if_match: int | None = None) -> Task:
        async def work(change: Change) -> Task:
            task, board = await _writable_task(change, actor, task_id, if_match)
            gone = _item(task, item_id)
            updated = await _save(change, task, tuple(i for i in task.checklist if i.id != item_id))
            await _tell_watchers(change, board, updated, f"removed from the checklist: {gone.text}")
            return updated

        return await self._recorder.run(actor.user_id, work)


async def _writable_task(change: Change, actor: Actor, task_id: str,
                         if_match: int | None) -> tuple[Task, Board]:
    task, board = await task_for(change.tx, task_id, actor, "editor")
    if if_match is not None and if_match != task.version:
        raise PreconditionFailed(f"The task is at version {task.version}",
                                 current=task_view(task), etag=etag(task))
    return task, board


async def _tell_watchers(change: Change, board: Board, task: Task, detail: str) -> None:
    """The task's and the board's watchers hear of an item added, ticked or removed."""
    outbox = Outbox()
    outbox.add(await watchers(change, board.id, task.id), "task_updated")
    await outbox.deliver(change, board, task, excerpt(detail, 120))


def _item(task: Task, item_id: str) -> ChecklistItem:
    for item in task.checklist:
        if item.id == item_id:
            return item
    raise NotFound("Checklist item not found")


def _ordered(items: tuple[ChecklistItem, ...]) -> tuple[ChecklistItem, ...]:
    ordered = sorted(items, key=lambda i: (i.position, i.id))
    crowded = any(b.position - a.position < MIN_POSITION_GAP for a, b in pairwise(ordered))
    if crowded:
        ordered = [replace(item, position=(n + 1) * POSITION_STEP) for n, item in enumerate(ordered)]
    return tuple(ordered)


async def _save(change: Change, task: Task, items: tuple[ChecklistItem, ...]) -> Task:
    """The task with these items: one version up, one task:updated."""
    updated = replace(task, checklist=_ordered(items), version=task.version + 1,
                      updated_at=change.clock.now())
    await change.tx.update_task(updated)
    await change.record(task.board_id, "task:updated", task_view(updated))
    return updated
