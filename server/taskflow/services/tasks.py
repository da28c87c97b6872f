"""Tasks: listing, creating, changing (with version checks) and deleting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from taskflow.domain import Board, Column, Page, Priority, Status, Task, TaskQuery, task_of_row
from taskflow.errors import PreconditionFailed, field_error
from taskflow.ids import new_id
from taskflow.services.access import Actor, board_for, task_for
from taskflow.services.attachments import blob_keys_of_task, discard_blobs
from taskflow.services.changes import Change, Recorder
from taskflow.services.cursors import decode_task_cursor, encode_task_cursor
from taskflow.services.notifications import Outbox, mentioned, watch_in, watchers
from taskflow.services.ports import BlobStore, Store
from taskflow.services.views import task_row_view, task_view

WRITABLE = frozenset({"title", "description", "status", "priority", "due_date", "assignee_id",
                      "tags", "position", "column_id"})
POSITION_STEP = 1024.0
# Closer than this, a column is renumbered: floats between neighbours run out eventually.
MIN_POSITION_GAP = 1e-6


def etag(task: Task) -> str:
    return f'"{task.version}"'


class TaskService:
    def __init__(self, *, store: Store, recorder: Recorder, blobs: BlobStore) -> None:
        self._store = store
        self._recorder = recorder
        self._blobs = blobs

    async def list(self, actor: Actor, *, board_id: str | None = None,
                   status: Status | None = None, assignee_id: str | None = None,
                   priority: Priority | None = None, column_id: str | None = None,
                   text: str | None = None,
                   due_before: datetime | None = None, sort: str = "-created_at",
                   limit: int = 50, cursor: str | None = None) -> Page[dict[str, Any]]:
        """Views of tasks on the actor's boards; keyset pagination (the cursor names the last row)."""
        if board_id is not None:
            board_ids: tuple[str, ...] = ((await board_for(self._store, board_id, actor)).id,)
        else:
            board_ids = tuple(b for b, _ in await self._store.select_board_seqs_of_user(actor.user_id))
        after = decode_task_cursor(cursor, sort) if cursor else None
        query = TaskQuery(board_ids=board_ids, status=status, assignee_id=assignee_id,
                          priority=priority, column_id=column_id, text=text or None,
                          due_before=due_before, sort=sort, limit=limit + 1, after=after)
        rows = await self._store.select_task_rows(query)
        next_cursor = (encode_task_cursor(task_of_row(rows[limit - 1]), sort)
                       if len(rows) > limit else None)
        return Page(items=[task_row_view(row) for row in rows[:limit]], next_cursor=next_cursor)

    async def get(self, actor: Actor, task_id: str) -> Task:
        task, _ = await task_for(self._store, task_id, actor)
        return task

    async def create(self, actor: Actor, board_id: str, fields: Mapping[str, Any]) -> Task:
        async def work(change: Change) -> Task:
            board = await board_for(change.tx, board_id, actor, "editor")
            _check_assignee(board, fields.get("assignee_id"))
            now = change.clock.now()
            column = column_for(board, fields.get("status"), fields.get("column_id"))
            status: Status = column.category
            position = fields.get("position")
            if position is None:
                position = await _end_of_column(change, board_id, column.id)
            task = Task(
                id=new_id(), board_id=board_id, title=fields["title"], column_id=column.id,
                description=fields.get("description") or "", status=status,
                priority=fields.get("priority") or "medium", due_date=fields.get("due_date"),
                assignee_id=fields.get("assignee_id"), tags=tuple(fields.get("tags") or ()),
                position=position, created_by=actor.user_id, created_at=now, updated_at=now,
                completed_at=now if status == "done" else None, version=1,
            )
            await change.tx.insert_task(task)
            await change.record(board_id, "task:created", task_view(task))
            outbox = Outbox()
            if task.assignee_id is not None:
                outbox.add([task.assignee_id], "assigned")
            outbox.add(mentioned(task.description, board.members), "mentioned")
            outbox.add(await watchers(change, board_id, None), "task_created")
            await outbox.deliver(change, board, task, task.description)
            await watch_in(change, actor.user_id, board_id, task.id)
            return await _renumber_if_crowded(change, task)

        return await self._recorder.run(actor.user_id, work)

    async def update(self, actor: Actor, task_id: str, changes: Mapping[str, Any], *,
                     if_match: int | None = None) -> Task:
        """Applies `changes`; a stale `if_match` is refused with the current task."""
        unknown = set(changes) - WRITABLE
        if unknown:
            raise field_error(sorted(unknown)[0], "is not writable")

        async def work(change: Change) -> Task:
            task, board = await task_for(change.tx, task_id, actor, "editor")
            if if_match is not None and if_match != task.version:
                raise PreconditionFailed(
                    f"The task is at version {task.version}", current=task_view(task),
                    etag=etag(task),
                )
            if "assignee_id" in changes:
                _check_assignee(board, changes["assignee_id"])
            updated = await _apply(change, board, task, changes)
            if updated == task:
                return task
            updated = replace(updated, version=task.version + 1, updated_at=change.clock.now())
            await change.tx.update_task(updated)
            await change.record(task.board_id, "task:updated", task_view(updated))
            await _notify_update(change, board, task, updated)
            return await _renumber_if_crowded(change, updated)

        return await self._recorder.run(actor.user_id, work)

    async def delete(self, actor: Actor, task_id: str) -> None:
        """Deletes the task with its comments and attachments (files too, after commit)."""
        async def work(change: Change) -> list[str]:
            task, _ = await task_for(change.tx, task_id, actor, "editor")
            keys = await blob_keys_of_task(change.tx, task.board_id, task_id)
            await change.tx.delete_task(task.board_id, task_id)
            await change.tx.delete_watches(task.board_id, task_id=task_id)
            await change.tx.delete_notifications(task.board_id, task_id=task_id)
            await change.record(task.board_id, "task:deleted", {"id": task_id})
            return keys

        await discard_blobs(self._blobs, await self._recorder.run(actor.user_id, work))


# What a change is called in its notification; a move alone (position) notifies no one.
_CHANGED = ("title", "description", "status", "priority", "due_date", "assignee_id", "tags")


async def _notify_update(change: Change, board: Board, before: Task, after: Task) -> None:
    """The assignee when it changed, members newly mentioned in the description, and the
    task's and board's watchers."""
    changed = [name for name in _CHANGED if getattr(before, name) != getattr(after, name)]
    if not changed:
        return
    outbox = Outbox()
    if after.assignee_id is not None and after.assignee_id != before.assignee_id:
        outbox.add([after.assignee_id], "assigned")
    if "description" in changed:
        outbox.add(mentioned(after.description, board.members)
                   - mentioned(before.description, board.members), "mentioned")
    outbox.add(await watchers(change, board.id, after.id), "task_updated")
    detail = "changed " + ", ".join(name.replace("_id", "").replace("_", " ") for name in changed)
    await outbox.deliver(change, board, after, detail)


def _check_assignee(board: Board, assignee_id: str | None) -> None:
    if assignee_id is not None and board.role_of(assignee_id) is None:
        raise field_error("assignee_id", "must be a member of the task's board")


def column_for(board: Board, status: str | None, column_id: str | None,
               current: Task | None = None) -> Column:
    """The column a task goes to: `column_id`'s (its category must match `status` when both
    are given), else the first column of `status` (the task's own column when it already
    has that status), else the first "todo" column."""
    if column_id is not None:
        column = board.column(column_id)
        if column is None:
            raise field_error("column_id", "must be a column of the task's board")
        if status is not None and status != column.category:
            raise field_error("status", "must be the category of the column named by column_id")
        return column
    if current is not None and (status is None or status == current.status):
        column = board.column(current.column_id)
        if column is not None:
            return column
    category = status or (current.status if current is not None else "todo")
    column = board.first_column(category)
    if column is None:  # a board keeps one column of each category (services/columns.py)
        raise field_error("status", f"the board has no {category} column")
    return column


async def _apply(change: Change, board: Board, task: Task, changes: Mapping[str, Any]) -> Task:
    values = dict(changes)
    if "tags" in values:
        values["tags"] = tuple(values["tags"] or ())
    if "description" in values and values["description"] is None:
        values["description"] = ""
    if "status" in values or "column_id" in values:
        column = column_for(board, values.get("status"), values.get("column_id"), task)
        values["status"], values["column_id"] = column.category, column.id
    updated = replace(task, **values)
    if updated.column_id != task.column_id and "position" not in changes:
        updated = replace(updated, position=await _end_of_column(change, task.board_id,
                                                                  updated.column_id))
    if updated.status != task.status:
        done_at = change.clock.now() if updated.status == "done" else None
        updated = replace(updated, completed_at=done_at)
    return updated


async def _end_of_column(change: Change, board_id: str, column_id: str) -> float:
    end = await change.tx.select_column_end(board_id, column_id)
    return POSITION_STEP if end is None else end + POSITION_STEP


async def _renumber_if_crowded(change: Change, task: Task) -> Task:
    """Spreads a column out again when `task` landed too close to a neighbour.

    Every write that places a task comes through here, so a column is never crowded
    anywhere else: looking at the task's two neighbours is enough (a write costs the same
    on a column of 10 tasks or of 10,000).
    """
    before, after = await change.tx.select_neighbours(task)
    if ((before is None or task.position - before.position >= MIN_POSITION_GAP)
            and (after is None or after.position - task.position >= MIN_POSITION_GAP)):
        return task
    column = await change.tx.select_column(task.board_id, task.column_id)
    now = change.clock.now()
    result = task
    for index, current in enumerate(column, start=1):
        position = index * POSITION_STEP
        if current.position == position:
            continue
        moved = replace(current, position=position, version=current.version + 1, updated_at=now)
        await change.tx.update_task(moved)
        await change.record(moved.board_id, "task:updated", task_view(moved))
        if moved.id == task.id:
            result = moved
    return result
