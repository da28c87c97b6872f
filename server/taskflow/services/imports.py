"""Board import: a new board owned by the importer, from a TaskFlow export or a Trello export.

Nothing of a failed import is ever visible. The file is checked whole first (every task,
comment and checklist: services/import_formats.py) before anything is written; then the
board is written as a *staging* board with no member, in batches of BATCH tasks, each batch
one transaction, recording the events a live client would have seen (`board:created`, then
`task:created` and `comment:created`). A board without members is invisible to everyone
(every read goes through membership: services/access.py), and an `imports` row names it.
The last transaction makes the importer its owner and drops that row: the board appears
whole, at once. A failure on the way deletes the staging board; a crash leaves it
invisible until housekeeping (`purge_stale`) deletes it.

People by email, decided for privacy: the importer is the only member of the new board.
No other user is added (being put on a board one never asked for would be a leak of one's
account and a nuisance), a task is assigned only when its assignee is the importer, and
every comment is the importer's, opening with its original author's name or email when
that was someone else (`[Ada Lovelace] ...`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from loguru import logger

from taskflow.domain import Board, ChecklistItem, Column, Comment, Member, Task, User
from taskflow.ids import new_id
from taskflow.services.access import Actor, active_user
from taskflow.services.changes import Change, Recorder
from taskflow.services.import_formats import (
    COMMENT_CHARS,
    ITEM_STEP,
    AuthoredComment,
    ImportedComment,
    ImportedTask,
    Outline,
    invalid,
    outline,
)
from taskflow.services.ports import Clock, Store, Transaction
from taskflow.services.views import board_view, comment_view, task_view

BATCH = 200
T = TypeVar("T")


class ImportService:
    def __init__(self, *, store: Store, recorder: Recorder, clock: Clock, max_tasks: int) -> None:
        self._store = store
        self._recorder = recorder
        self._clock = clock
        self._max_tasks = max_tasks

    async def run(self, actor: Actor, source: Path) -> Board:
        """Imports the file at `source` as a new board owned by the actor."""
        user = active_user(await self._store.select_user(actor.user_id))
        plan = await asyncio.to_thread(outline, source)
        await asyncio.to_thread(_check_all, plan, self._max_tasks)
        board, columns = self._board(plan, user)
        await self._store.transact(lambda tx: self._begin(tx, board, user))
        try:
            task_ids = await self._write_tasks(plan, board, columns, user)
            await self._write_comments(plan, board, task_ids, user)
            return await self._finish(actor, board, user)
        except Exception:
            logger.warning("import of board {} failed; discarding it", board.id)
            await self._discard(board.id)
            raise

    async def purge_stale(self, before: datetime) -> int:
        """Deletes the staging boards of imports started before `before` (housekeeping)."""
        count = 0
        while ids := await self._store.select_stale_imports(before, limit=100):
            for board_id in ids:
                await self._discard(board_id)
            count += len(ids)
        return count

    def _board(self, plan: Outline, user: User) -> tuple[Board, dict[str, Column]]:
        now = self._clock.now()
        columns = tuple(Column(id=new_id(), name=c.name, category=c.category,
                               wip_limit=c.wip_limit) for c in plan.columns)
        by_key = {c.key: column for c, column in zip(plan.columns, columns, strict=True) if c.key}
        board = Board(id=new_id(), name=plan.name, description=plan.description,
                      owner_id=user.id, seq=0, created_at=now, updated_at=now, members=(),
                      columns=columns)
        return board, by_key

    async def _begin(self, tx: Transaction, board: Board, user: User) -> None:
        await tx.insert_board(board)
        await tx.insert_import(board.id, user.id, board.created_at)
        owner = Member(user_id=user.id, name=user.name, email=user.email, role="owner")
        # The board as it will be seen once visible: its owner, and this first event.
        await tx.append_event(board.id, type="board:created", actor_id=user.id,
                              at=self._clock.now(),
                              data=board_view(replace(board, members=(owner,), seq=1)))

    async def _write_tasks(self, plan: Outline, board: Board, columns: dict[str, Column],
                           user: User) -> dict[str, str]:
        """Writes the tasks (with their comments, when the file nests them), a batch per
        transaction; returns the new task id of each source key."""
        ids: dict[str, str] = {}
        source = plan.tasks()
        while batch := await asyncio.to_thread(_take, source, BATCH):
            now = self._clock.now()
            made = [(self._task(item, board, columns, user, now), item) for item in batch]

            async def work(tx: Transaction, made: list[tuple[Task, ImportedTask]] = made,
                           now: datetime = now) -> None:
                for task, item in made:
                    await tx.insert_task(task)
                    await tx.append_event(board.id, type="task:created", actor_id=user.id,
                                          at=now, data=task_view(task))
                    for comment in item.comments:
                        await self._comment(tx, board.id, task.id, comment, user, now)

            await self._store.transact(work)
            if plan.kind == "trello":
                ids.update((item.key, task.id) for task, item in made)
        return ids

    async def _write_comments(self, plan: Outline, board: Board, task_ids: dict[str, str],
                              user: User) -> None:
        source = plan.comments()
        while batch := await asyncio.to_thread(_take, source, BATCH):
            now = self._clock.now()
            kept = [(task_ids[key], c) for key, c in batch if key in task_ids]

            async def work(tx: Transaction, kept: list[tuple[str, ImportedComment]] = kept,
                           now: datetime = now) -> None:
                for task_id, comment in kept:
                    await self._comment(tx, board.id, task_id, comment, user, now)

            if kept:
                await self._store.transact(work)

    async def _comment(self, tx: Transaction, board_id: str, task_id: str,
                       item: ImportedComment, user: User, now: datetime) -> None:
        body = item.body
        if isinstance(item, AuthoredComment) and item.author_email.casefold() != user.email.casefold():
            who = item.author_name or item.author_email
            if who:
                body = f"[{who}] {body}"[:COMMENT_CHARS]
        comment = Comment(id=new_id(), task_id=task_id, board_id=board_id, author_id=user.id,
                          body=body, created_at=item.created_at or now)
        await tx.insert_comment(comment)
        await tx.append_event(board_id, type="comment:created", actor_id=user.id, at=now,
                              data=comment_view(comment))

    def _task(self, item: ImportedTask, board: Board, columns: dict[str, Column], user: User,
              now: datetime) -> Task:
        column = columns[item.column_key]
        assignee = (user.id if item.assignee_email
                    and item.assignee_email.casefold() == user.email.casefold() else None)
        return Task(
            id=new_id(), board_id=board.id, title=item.title, description=item.description,
            status=column.category, priority=item.priority, due_date=item.due_date,
            assignee_id=assignee, tags=item.tags, position=item.position, created_by=user.id,
            created_at=item.created_at or now, updated_at=now,
            completed_at=now if column.category == "done" else None, version=1,
            column_id=column.id,
            checklist=tuple(ChecklistItem(id=new_id(), text=text, done=done,
                                          position=(i + 1) * ITEM_STEP)
                            for i, (text, done) in enumerate(item.checklist)))

    async def _finish(self, actor: Actor, board: Board, user: User) -> Board:
        owner = Member(user_id=user.id, name=user.name, email=user.email, role="owner")

        async def work(change: Change) -> None:
            # The account may have been deleted while the file was read: then the board is
            # discarded, never handed to it.
            active_user(await change.tx.select_user(user.id))
            await change.tx.insert_member(board.id, owner, added_at=self._clock.now())
            await change.tx.delete_import(board.id)
            change.tell([user.id], board.id, "board:created")  # the importer's open pages

        await self._recorder.run(actor.user_id, work)
        made = await self._store.select_board(board.id)
        assert made is not None, "the board was just made visible"
        return made

    async def _discard(self, board_id: str) -> None:
        async def work(tx: Transaction) -> None:
            board = await tx.select_board(board_id)
            if board is not None and not board.members:
                await tx.delete_board(board_id, seq=board.seq, at=self._clock.now())
            await tx.delete_import(board_id)

        await self._store.transact(work)


def _take(source: Iterator[T], count: int) -> list[T]:
    """Up to `count` next items of `source` (run in a thread: reading them parses the file)."""
    batch = []
    for item in source:
        batch.append(item)
        if len(batch) == count:
            break
    return batch


def _check_all(plan: Outline, max_tasks: int) -> None:
    """Reads every task and comment once, before anything is written: the first problem is
    refused (422) while there is nothing to undo."""
    for count, _ in enumerate(plan.tasks(), start=1):
        if count > max_tasks:
            where = "$.cards" if plan.kind == "trello" else "$.tasks"
            raise invalid(where, f"an import holds at most {max_tasks} tasks")
    for _ in plan.comments():
        pass
