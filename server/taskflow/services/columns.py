"""A board's columns: added, renamed, WIP-limited, reordered and deleted by its editors.

Every change is one `board:updated` event carrying the whole board (with its columns); a
deletion that moves tasks records a `task:updated` per moved task first, in the same
transaction. A column's category never changes, so the `status` of its tasks never does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from taskflow.domain import MAX_COLUMNS, Board, Column, Status, Task
from taskflow.errors import Conflict, NotFound, field_error
from taskflow.ids import new_id
from taskflow.services.access import Actor, board_for
from taskflow.services.changes import Change, Recorder
from taskflow.services.tasks import POSITION_STEP
from taskflow.services.views import board_view, task_view


class TooManyColumns(Conflict):
    code, title = "too_many_columns", "A board has at most 50 columns"


class ColumnNameTaken(Conflict):
    code, title = "column_name_taken", "Another column of this board has that name"


class LastColumnOfCategory(Conflict):
    code, title = "last_column_of_category", "A board keeps at least one column of each category"


class ColumnNotEmpty(Conflict):
    code, title = "column_not_empty", "The column holds tasks: name a column to move them to"


class ColumnService:
    def __init__(self, *, recorder: Recorder) -> None:
        self._recorder = recorder

    async def add(self, actor: Actor, board_id: str, *, name: str, category: Status,
                  wip_limit: int | None = None, before_id: str | None = None) -> Column:
        """A new column at the end, or just before `before_id`."""
        async def work(change: Change) -> Column:
            board = await board_for(change.tx, board_id, actor, "editor")
            if len(board.columns) >= MAX_COLUMNS:
                raise TooManyColumns()
            _check_name(board, name)
            column = Column(id=new_id(), name=name, category=category, wip_limit=wip_limit)
            columns = list(board.columns)
            if before_id is None:
                columns.append(column)
            else:
                index = _index(board, before_id, "before_id")
                columns.insert(index, column)
            await _save(change, board, columns)
            return column

        return await self._recorder.run(actor.user_id, work)

    async def update(self, actor: Actor, board_id: str, column_id: str,
                     changes: Mapping[str, Any]) -> Column:
        """Renames the column and/or sets its WIP limit (None: no limit)."""
        async def work(change: Change) -> Column:
            board = await board_for(change.tx, board_id, actor, "editor")
            column = _column(board, column_id)
            updated = column
            if "name" in changes:
                _check_name(board, changes["name"], column_id)
                updated = replace(updated, name=changes["name"])
            if "wip_limit" in changes:
                updated = replace(updated, wip_limit=changes["wip_limit"])
            if updated == column:
                return column
            await _save(change, board, [updated if c.id == column_id else c
                                        for c in board.columns])
            return updated

        return await self._recorder.run(actor.user_id, work)

    async def reorder(self, actor: Actor, board_id: str,
                      column_ids: Sequence[str]) -> list[Column]:
        """Puts the columns in this order; `column_ids` must be a permutation of them."""
        async def work(change: Change) -> list[Column]:
            board = await board_for(change.tx, board_id, actor, "editor")
            by_id = {c.id: c for c in board.columns}
            if len(column_ids) != len(by_id) or set(column_ids) != set(by_id):
                raise field_error("column_ids", "must name every column of the board once")
            columns = [by_id[column_id] for column_id in column_ids]
            if tuple(columns) != board.columns:
                await _save(change, board, columns)
            return columns

        return await self._recorder.run(actor.user_id, work)

    async def delete(self, actor: Actor, board_id: str, column_id: str, *,
                     move_to: str | None = None) -> None:
        """Deletes the column; its tasks, if any, go to the end of `move_to`, in order."""
        async def work(change: Change) -> None:
            board = await board_for(change.tx, board_id, actor, "editor")
            column = _column(board, column_id)
            if sum(c.category == column.category for c in board.columns) == 1:
                raise LastColumnOfCategory(
                    f"This is the board's last {column.category} column")
            target: Column | None = None
            if move_to is not None:
                if move_to == column_id:
                    raise _query_error("move_to", "must be another column of the board")
                target = board.column(move_to)
                if target is None:
                    raise _query_error("move_to", "must be a column of the board")
            tasks = await change.tx.select_column(board_id, column_id)
            if tasks:
                if target is None:
                    raise ColumnNotEmpty(f"The column holds {len(tasks)} task(s): pass "
                                         "move_to=<column id> to move them")
                await _move_tasks(change, tasks, target)
            await _save(change, board, [c for c in board.columns if c.id != column_id])

        await self._recorder.run(actor.user_id, work)


async def _move_tasks(change: Change, tasks: list[Task], target: Column) -> None:
    end = await change.tx.select_column_end(tasks[0].board_id, target.id)
    position = end or 0.0
    now = change.clock.now()
    for task in tasks:
        position += POSITION_STEP
        moved = replace(task, column_id=target.id, status=target.category, position=position,
                        version=task.version + 1, updated_at=now)
        if moved.status != task.status:
            moved = replace(moved, completed_at=now if moved.status == "done" else None)
        await change.tx.update_task(moved)
        await change.record(task.board_id, "task:updated", task_view(moved))


async def _save(change: Change, board: Board, columns: list[Column]) -> None:
    """Stores the new columns and records `board:updated` with the board after the change."""
    now = change.clock.now()
    await change.tx.update_board_columns(board.id, columns, updated_at=now)
    # Writers of a board are serialized: this event's seq is one above the last one recorded.
    seq = (change.events[-1].seq if change.events else board.seq) + 1
    updated = replace(board, columns=tuple(columns), updated_at=now, seq=seq)
    event = await change.record(board.id, "board:updated", board_view(updated))
    assert event.seq == seq


def _column(board: Board, column_id: str) -> Column:
    column = board.column(column_id)
    if column is None:
        raise NotFound("Column not found")
    return column


def _index(board: Board, column_id: str, field: str) -> int:
    for index, column in enumerate(board.columns):
        if column.id == column_id:
            return index
    raise field_error(field, "must be a column of the board")


def _check_name(board: Board, name: str, own_id: str | None = None) -> None:
    folded = name.casefold()
    if any(c.name.casefold() == folded and c.id != own_id for c in board.columns):
        raise ColumnNameTaken(f"The board already has a column named {name!r}")


def _query_error(loc: str, msg: str) -> Exception:
    error = field_error(loc, msg)
    error.extra["errors"] = [{"loc": ["query", loc], "msg": msg}]
    return error
