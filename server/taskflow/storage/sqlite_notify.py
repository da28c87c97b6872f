"""The SQLite store's notifications and watches (tables from the `notify` migration).

A watch of a whole board has `task_id` '' in its row (part of the primary key, which can't
hold NULL in a WITHOUT ROWID table); the Watch it reads back says None. A notification about
the board, not a task, made by no member, has '' in `task_id` and `actor_id` the same way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from taskflow.domain import Notification, Watch
from taskflow.storage.sqlite_queries import SqliteQueries
from taskflow.storage.sqlite_rows import opt_ts
from taskflow.timefmt import from_ts, to_ts


def notification_of(row: sqlite3.Row) -> Notification:
    return Notification(
        id=row["id"], user_id=row["user_id"], type=row["type"], board_id=row["board_id"],
        task_id=row["task_id"] or None, actor_id=row["actor_id"] or None,
        actor_name=row["actor_name"],
        summary=row["summary"], created_at=from_ts(row["created_at"]),
        read_at=from_ts(row["read_at"]) if row["read_at"] else None,
    )


def watch_of(row: sqlite3.Row) -> Watch:
    return Watch(user_id=row["user_id"], board_id=row["board_id"],
                 task_id=row["task_id"] or None, created_at=from_ts(row["created_at"]))


class NotifyQueries(SqliteQueries):
    async def select_notifications(self, user_id: str, *, unread_only: bool, limit: int,
                                   after: tuple[int, str, str] | None) -> list[Notification]:
        where: list[str] = ["user_id = ?"]
        params: list[Any] = [user_id]
        if unread_only:
            where.append("is_read = 0")
        if after is not None:
            read, created, id_ = after
            where.append("(is_read > ? OR (is_read = ? AND (created_at < ? OR"
                         " (created_at = ? AND id < ?))))")
            params += [read, read, created, created, id_]
        rows = await self._rows(
            f"SELECT * FROM notifications WHERE {' AND '.join(where)}"
            " ORDER BY is_read, created_at DESC, id DESC LIMIT ?", [*params, limit])
        return [notification_of(row) for row in rows]

    async def count_unread_notifications(self, user_id: str) -> int:
        row = await self._row("SELECT count(*) AS n FROM notifications"
                              " WHERE user_id = ? AND is_read = 0", (user_id,))
        return int(row["n"]) if row else 0

    async def select_notification(self, user_id: str, notification_id: str) -> Notification | None:
        row = await self._row("SELECT * FROM notifications WHERE id = ? AND user_id = ?",
                              (notification_id, user_id))
        return notification_of(row) if row else None

    async def select_watchers(self, board_id: str, task_id: str | None) -> list[Watch]:
        rows = await self._rows(
            "SELECT * FROM watches WHERE board_id = ? AND task_id IN ('', ?)",
            (board_id, task_id or ""))
        return [watch_of(row) for row in rows]

    async def select_watches_of_user(self, user_id: str, *, board_id: str | None, limit: int,
                                     after: tuple[str, str] | None) -> list[Watch]:
        where: list[str] = ["user_id = ?"]
        params: list[Any] = [user_id]
        if board_id is not None:
            where.append("board_id = ?")
            params.append(board_id)
        if after is not None:
            where.append("(created_at > ? OR (created_at = ? AND"
                         " board_id || '/' || task_id > ?))")
            params += [after[0], after[0], after[1]]
        rows = await self._rows(
            f"SELECT * FROM watches WHERE {' AND '.join(where)}"
            " ORDER BY created_at, board_id || '/' || task_id LIMIT ?", [*params, limit])
        return [watch_of(row) for row in rows]


class NotifyWrites(NotifyQueries):
    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        raise NotImplementedError  # the transaction's

    async def _exec_all(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        raise NotImplementedError  # the transaction's

    async def insert_notifications(self, notifications: Sequence[Notification]) -> None:
        await self._exec_all([
            ("INSERT INTO notifications (id, user_id, type, board_id, task_id, actor_id,"
             " actor_name, summary, created_at, read_at, is_read)"
             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             (n.id, n.user_id, n.type, n.board_id, n.task_id or "", n.actor_id or "", n.actor_name,
              n.summary, to_ts(n.created_at), opt_ts(n.read_at), 0 if n.read_at is None else 1))
            for n in notifications])

    async def mark_notifications_read(self, user_id: str, ids: Sequence[str] | None,
                                      at: datetime) -> int:
        sql = "UPDATE notifications SET read_at = ?, is_read = 1 WHERE user_id = ? AND is_read = 0"
        params: list[Any] = [to_ts(at), user_id]
        if ids is not None:
            sql += f" AND id IN ({', '.join('?' * len(ids))})"
            params += list(ids)
        return await self._exec(sql, params)

    async def delete_notifications(self, board_id: str, *, user_id: str | None = None,
                                   task_id: str | None = None) -> None:
        sql, params = _narrowed("DELETE FROM notifications WHERE board_id = ?", board_id,
                                user_id, task_id)
        await self._exec(sql, params)

    async def purge_notifications(self, *, read_before: datetime,
                                  unread_before: datetime) -> int:
        return await self._exec(
            "DELETE FROM notifications WHERE (is_read = 1 AND created_at < ?)"
            " OR (is_read = 0 AND created_at < ?)", (to_ts(read_before), to_ts(unread_before)))

    async def upsert_watch(self, watch: Watch) -> None:
        await self._exec(
            "INSERT INTO watches (user_id, board_id, task_id, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (watch.user_id, watch.board_id, watch.task_id or "", to_ts(watch.created_at)))

    async def delete_watches(self, board_id: str, *, user_id: str | None = None,
                             task_id: str | None = None) -> None:
        sql, params = _narrowed("DELETE FROM watches WHERE board_id = ?", board_id, user_id,
                                task_id)
        await self._exec(sql, params)

    async def delete_board_watch(self, board_id: str, user_id: str) -> None:
        await self._exec("DELETE FROM watches WHERE board_id = ? AND task_id = '' AND user_id = ?",
                         (board_id, user_id))


def _narrowed(sql: str, board_id: str, user_id: str | None,
              task_id: str | None) -> tuple[str, list[Any]]:
    params: list[Any] = [board_id]
    if user_id is not None:
        sql += " AND user_id = ?"
        params.append(user_id)
    if task_id is not None:
        sql += " AND task_id = ?"
        params.append(task_id)
    return sql, params
