"""Board export: the whole board as one JSON document, or its tasks as CSV, streamed.

Both are produced a keyset page of tasks at a time (with each task's comments and
attachments' metadata), so a board of any size is never held in memory. People appear by
email: ids mean nothing on another server. The JSON document is what services/imports.py
reads back (`format` FORMAT, `version` VERSION).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import orjson

from taskflow.domain import Board, Task, TaskQuery, sort_values
from taskflow.services.access import Actor, board_for
from taskflow.services.ports import Clock, Reader, Store
from taskflow.services.views import rfc3339
from taskflow.timefmt import to_ts

FORMAT = "taskflow-board"
VERSION = 1
_PAGE = 200
CSV_HEADER = ("id", "title", "description", "column", "status", "priority", "due_date",
              "assignee_email", "tags", "position", "checklist_done", "checklist_total",
              "created_at", "updated_at", "completed_at")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """Text a spreadsheet shows as text: a leading ' defuses a would-be formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class ExportService:
    def __init__(self, *, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def board(self, actor: Actor, board_id: str) -> Board:
        """The board to export, if the actor is a member (any role): checked before streaming."""
        return await board_for(self._store, board_id, actor)

    async def json_chunks(self, board: Board) -> AsyncIterator[bytes]:
        """The board as one JSON document, in pieces of about a page of tasks each."""
        people = _People(self._store, board)
        head = {
            "format": FORMAT, "version": VERSION,
            "exported_at": rfc3339(self._clock.now()),
            "board": {"name": board.name, "description": board.description},
            "columns": [{"id": c.id, "name": c.name, "category": c.category,
                         "wip_limit": c.wip_limit, "order": i}
                        for i, c in enumerate(board.columns)],
            "members": [{"email": m.email, "name": m.name, "role": m.role}
                        for m in board.members],
        }
        yield orjson.dumps(head)[:-1] + b',"tasks":['
        first = True
        async for tasks in _task_pages(self._store, board.id):
            parts = []
            for task in tasks:
                parts.append(orjson.dumps(await _task_doc(self._store, people, task)))
            chunk = b",".join(parts)
            yield chunk if first else b"," + chunk
            first = False
        yield b"]}"

    async def csv_chunks(self, board: Board) -> AsyncIterator[bytes]:
        """The board's tasks as CSV (RFC 4180, UTF-8, a header row), a page at a time."""
        people = _People(self._store, board)
        columns = {c.id: c.name for c in board.columns}
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_HEADER)
        async for tasks in _task_pages(self._store, board.id):
            for task in tasks:
                done = sum(item.done for item in task.checklist)
                writer.writerow([
                    task.id, safe_cell(task.title), safe_cell(task.description),
                    safe_cell(columns.get(task.column_id, "")), task.status, task.priority,
                    rfc3339(task.due_date) or "",
                    safe_cell(await people.email(task.assignee_id) or ""),
                    safe_cell(", ".join(task.tags)), repr(task.position), done,
                    len(task.checklist), rfc3339(task.created_at), rfc3339(task.updated_at),
                    rfc3339(task.completed_at) or "",
                ])
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode()


async def _task_pages(reader: Reader, board_id: str) -> AsyncIterator[list[Task]]:
    """The board's tasks by (created_at, id), a keyset page at a time."""
    after: tuple[Any, ...] | None = None
    while True:
        tasks = await reader.select_tasks(TaskQuery(board_ids=(board_id,), sort="created_at",
                                                    limit=_PAGE, after=after))
        if tasks:
            yield tasks
        if len(tasks) < _PAGE:
            return
        after = sort_values(tasks[-1], "created_at")


async def _task_doc(reader: Reader, people: _People, task: Task) -> dict[str, Any]:
    comments: list[dict[str, Any]] = []
    after: tuple[str, str] | None = None
    while True:
        page = await reader.select_comments(task.board_id, task.id, limit=_PAGE, after=after)
        for comment in page:
            comments.append({"author_email": await people.email(comment.author_id),
                             "author_name": await people.name(comment.author_id),
                             "body": comment.body, "created_at": rfc3339(comment.created_at)})
        if len(page) < _PAGE:
            break
        after = (to_ts(page[-1].created_at), page[-1].id)
    attachments = [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                    "created_by_email": await people.email(a.created_by),
                    "created_at": rfc3339(a.created_at)}
                   for a in await reader.select_attachments(task.board_id, task.id)
                   if not a.pending]
    return {
        "id": task.id, "title": task.title, "description": task.description,
        "column_id": task.column_id, "status": task.status, "priority": task.priority,
        "due_date": rfc3339(task.due_date), "assignee_email": await people.email(task.assignee_id),
        "tags": list(task.tags), "position": task.position,
        "checklist": [{"text": i.text, "done": i.done, "position": i.position}
                      for i in task.checklist],
        "created_by_email": await people.email(task.created_by),
        "created_at": rfc3339(task.created_at), "updated_at": rfc3339(task.updated_at),
        "completed_at": rfc3339(task.completed_at),
        "comments": comments, "attachments": attachments,
    }


class _People:
    """Users' emails and names by id: the board's members, and others (former members who
    wrote comments) looked up once each. A deleted account has no email, only its name."""

    def __init__(self, reader: Reader, board: Board) -> None:
        self._reader = reader
        self._known: dict[str, tuple[str | None, str] | None] = {
            m.user_id: (m.email, m.name) for m in board.members}

    async def _get(self, user_id: str | None) -> tuple[str | None, str] | None:
        if user_id is None:
            return None
        if user_id not in self._known:
            user = await self._reader.select_user(user_id)
            self._known[user_id] = (None if user.deleted else user.email, user.name) if user else None
        return self._known[user_id]

    async def email(self, user_id: str | None) -> str | None:
        found = await self._get(user_id)
        return found[0] if found else None

    async def name(self, user_id: str | None) -> str | None:
        found = await self._get(user_id)
        return found[1] if found else None
