"""The SQLite store's reads, shared by the store and its transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import orjson

from taskflow.domain import (
    SORT_FIELDS,
    Attachment,
    Board,
    Comment,
    Event,
    Login,
    Member,
    RefreshToken,
    SearchHit,
    SearchQuery,
    Stats,
    Task,
    TaskQuery,
    TaskRow,
    User,
)
from taskflow.errors import ServiceUnavailable
from taskflow.storage import sqlite_search
from taskflow.storage.sqlite_rows import attachment_of, board_of, comment_of, event_of, task_of, user_of
from taskflow.storage.sqlite_thread import SqliteThread, fetch_all
from taskflow.timefmt import from_ts, to_ts

T = TypeVar("T")

_SORT_SQL = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "due_missing": "(due_date IS NULL)",
    "due_date": "COALESCE(due_date, '')",
    "priority_rank": "priority_rank",
    "position": "position",
    "id": "id",
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _order(sort: str) -> list[tuple[str, bool]]:
    """(SQL expression, descending) pairs of a sort, id last."""
    descending = sort.startswith("-")
    fields = [*SORT_FIELDS[sort.lstrip("-")], "id"]
    return [(_SORT_SQL[name], descending and name != "due_missing") for name in fields]


def _keyset(order: list[tuple[str, bool]], after: Sequence[Any]) -> tuple[str, list[Any]]:
    """WHERE clause selecting rows strictly after `after` in `order`."""
    alternatives, params = [], []
    for i, (expr, desc) in enumerate(order):
        equal = [f"{e} = ?" for e, _ in order[:i]]
        clause = " AND ".join([*equal, f"{expr} {'<' if desc else '>'} ?"])
        alternatives.append(f"({clause})")
        params.extend([*after[:i], after[i]])
    return "(" + " OR ".join(alternatives) + ")", params


def _task_query(query: TaskQuery, columns: str) -> tuple[str, list[Any]]:
    """The SELECT of a task listing."""
    marks = ",".join("?" * len(query.board_ids))
    where, params = [f"board_id IN ({marks})"], list(query.board_ids)
    for column, value in (
        ("status", query.status),
        ("assignee_id", query.assignee_id),
        ("priority", query.priority),
        ("column_id", query.column_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if query.due_before is not None:
        where.append("due_date IS NOT NULL AND due_date < ?")
        params.append(to_ts(query.due_before))
    if query.text:
        pattern = f"%{_escape_like(query.text)}%"
        where.append("(title LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\')")
        params.extend([pattern, pattern])
    order = _order(query.sort)
    if query.after is not None:
        clause, values = _keyset(order, query.after)
        where.append(clause)
        params.extend(values)
    order_by = ", ".join(f"{expr} {'DESC' if desc else 'ASC'}" for expr, desc in order)
    sql = f"SELECT {columns} FROM tasks WHERE {' AND '.join(where)} ORDER BY {order_by} LIMIT ?"
    return sql, [*params, query.limit]


# A task's events, newest first (without, with a `seq <` bound). The index is named: without
# statistics the planner walks the primary key (board_id, seq) for its order instead,
# reading every event of the board.
TASK_EVENTS_SQL = tuple(
    "SELECT * FROM events INDEXED BY events_by_task WHERE board_id = ? AND task_id = ?"
    f"{bound} ORDER BY seq DESC LIMIT ?" for bound in ("", " AND seq < ?"))

_ROW_NAMES = ("id", "board_id", "title", "description", "status", "priority", "due_date",
              "assignee_id", "tags", "position", "created_by", "created_at", "updated_at",
              "completed_at", "version", "column_id", "checklist")
_ROW_COLUMNS = ", ".join(_ROW_NAMES)


def _task_rows(conn: sqlite3.Connection, *, sql: str, params: Sequence[Any]) -> list[TaskRow]:
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples, zipped with the names once
    rows = []
    loads = orjson.loads  # a list's JSON columns, decoded several times faster than json's
    for values in cursor.execute(sql, params):
        row = dict(zip(_ROW_NAMES, values, strict=True))
        row["tags"] = loads(row["tags"])
        checklist = row["checklist"]
        row["checklist"] = [] if checklist == "[]" else loads(checklist)  # most tasks have none
        rows.append(row)
    return rows


class SqliteQueries:
    """The reads, on one connection; shared by the store and its transactions."""

    # Matches above which a search walks tasks newest first (sqlite_search.search).
    search_walk_above = sqlite_search.WALK_ABOVE

    def __init__(self, conn: SqliteThread) -> None:
        self._conn = conn

    async def _run(self, function: Callable[[sqlite3.Connection], T]) -> T:
        """`function` on the connection's thread: one round trip, however many statements."""
        with transient_as_unavailable():
            return await self._conn.run(function)

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return await self._run(partial(fetch_all, sql=sql, params=params))

    async def _row(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._rows(sql, params)
        return rows[0] if rows else None

    async def select_user(self, user_id: str) -> User | None:
        row = await self._row("SELECT * FROM users WHERE id = ?", (user_id,))
        return user_of(row) if row else None

    async def select_user_by_email(self, email: str) -> User | None:
        row = await self._row("SELECT * FROM users WHERE email_norm = ?", (email.casefold(),))
        return user_of(row) if row else None

    async def select_board(self, board_id: str) -> Board | None:
        def read(conn: sqlite3.Connection) -> Board | None:
            row = conn.execute("SELECT * FROM boards WHERE id = ?", (board_id,)).fetchone()
            return board_of(row, members_of(conn, [board_id])) if row is not None else None

        return await self._run(read)

    async def select_boards_of_user(self, user_id: str) -> list[Board]:
        def read(conn: sqlite3.Connection) -> list[Board]:
            rows = conn.execute(
                "SELECT b.* FROM boards b JOIN members m ON m.board_id = b.id "
                "WHERE m.user_id = ? ORDER BY b.created_at, b.id",
                (user_id,),
            ).fetchall()
            members = members_of(conn, [row["id"] for row in rows])
            return [board_of(row, members) for row in rows]

        return await self._run(read)

    async def select_board_seqs_of_user(self, user_id: str) -> list[tuple[str, int]]:
        rows = await self._rows(
            "SELECT b.id, b.seq FROM boards b JOIN members m ON m.board_id = b.id "
            "WHERE m.user_id = ? ORDER BY b.id",
            (user_id,),
        )
        return [(row["id"], row["seq"]) for row in rows]

    async def select_board_seqs(self, board_ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        ids = list(board_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self._rows(
                f"SELECT id, seq FROM boards WHERE id IN ({marks}) UNION ALL "
                f"SELECT board_id AS id, seq FROM deleted_boards WHERE board_id IN ({marks})",
                chunk + chunk)
            found.update((row["id"], row["seq"]) for row in rows)
        return found

    async def select_task(self, task_id: str) -> Task | None:
        row = await self._row("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return task_of(row) if row else None

    async def select_tasks(self, query: TaskQuery) -> list[Task]:
        if not query.board_ids:
            return []
        sql, params = _task_query(query, "*")
        return [task_of(row) for row in await self._rows(sql, params)]

    async def select_task_rows(self, query: TaskQuery) -> list[TaskRow]:
        if not query.board_ids:
            return []
        sql, params = _task_query(query, _ROW_COLUMNS)
        return await self._run(partial(_task_rows, sql=sql, params=params))

    async def search_tasks(self, query: SearchQuery) -> list[SearchHit]:
        return await self._run(partial(sqlite_search.search, query=query,
                                       walk_above=self.search_walk_above))

    async def select_column(self, board_id: str, column_id: str) -> list[Task]:
        rows = await self._rows(
            "SELECT * FROM tasks WHERE board_id = ? AND column_id = ? ORDER BY position, id",
            (board_id, column_id),
        )
        return [task_of(row) for row in rows]

    async def select_column_end(self, board_id: str, column_id: str) -> float | None:
        row = await self._row(
            "SELECT MAX(position) AS end_position FROM tasks WHERE board_id = ? AND column_id = ?",
            (board_id, column_id))
        return None if row is None or row["end_position"] is None else float(row["end_position"])

    async def select_neighbours(self, task: Task) -> tuple[Task | None, Task | None]:
        where = "SELECT * FROM tasks WHERE board_id = ? AND column_id = ? AND "
        key = (task.board_id, task.column_id, task.position, task.id)

        def read(conn: sqlite3.Connection) -> tuple[Task | None, Task | None]:
            # Row values walk the (board_id, column_id, position, id) index from the task outwards.
            before = conn.execute(
                where + "(position, id) < (?, ?) ORDER BY position DESC, id DESC LIMIT 1",
                key).fetchone()
            after = conn.execute(
                where + "(position, id) > (?, ?) ORDER BY position, id LIMIT 1", key).fetchone()
            return (task_of(before) if before else None, task_of(after) if after else None)

        return await self._run(read)

    async def select_comment(self, board_id: str, comment_id: str) -> Comment | None:
        row = await self._row("SELECT * FROM comments WHERE board_id = ? AND id = ?",
                              (board_id, comment_id))
        return comment_of(row) if row else None

    async def select_comments(
        self, board_id: str, task_id: str, *, limit: int, after: tuple[str, str] | None
    ) -> list[Comment]:
        sql = "SELECT * FROM comments WHERE board_id = ? AND task_id = ?"
        params = [board_id, task_id]
        if after is not None:
            sql += " AND (created_at > ? OR (created_at = ? AND id > ?))"
            params.extend([after[0], after[0], after[1]])
        sql += " ORDER BY created_at, id LIMIT ?"
        return [comment_of(row) for row in await self._rows(sql, [*params, limit])]

    async def select_events(self, board_id: str, *, since: int, limit: int) -> list[Event]:
        rows = await self._rows(
            "SELECT * FROM events WHERE board_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (board_id, since, limit),
        )
        return [event_of(row) for row in rows]

    async def select_task_events(self, board_id: str, task_id: str, *, before: int | None,
                                 limit: int) -> list[Event]:
        params: list[Any] = [board_id, task_id]
        if before is not None:
            params.append(before)
        sql = TASK_EVENTS_SQL[before is not None]
        rows = await self._rows(sql, [*params, limit])
        return [event_of(row) for row in rows]

    async def select_board_ids(self, *, after: str | None, limit: int) -> list[str]:
        rows = await self._rows("SELECT id FROM boards WHERE id > ? ORDER BY id LIMIT ?",
                                (after or "", limit))
        return [row["id"] for row in rows]

    async def select_stale_imports(self, before: datetime, *, limit: int) -> list[str]:
        rows = await self._rows("SELECT board_id FROM imports WHERE started_at < ?"
                                " ORDER BY started_at, board_id LIMIT ?", (to_ts(before), limit))
        return [row["board_id"] for row in rows]

    async def select_oldest_event_seq(self, board_id: str) -> int | None:
        row = await self._row("SELECT MIN(seq) AS seq FROM events WHERE board_id = ?", (board_id,))
        return row["seq"] if row and row["seq"] is not None else None

    async def compute_stats(self, board_ids: Sequence[str], now: datetime) -> Stats:
        if not board_ids:
            return Stats(0, {"todo": 0, "in_progress": 0, "done": 0}, 0, 0, 0, {})
        marks = ",".join("?" * len(board_ids))
        sql = (
            "SELECT COUNT(*) AS total,"
            " COALESCE(SUM(status = 'todo'), 0) AS todo,"
            " COALESCE(SUM(status = 'in_progress'), 0) AS in_progress,"
            " COALESCE(SUM(status = 'done'), 0) AS done,"
            " COALESCE(SUM(status != 'done' AND due_date < ?), 0) AS overdue,"
            " COALESCE(SUM(status != 'done' AND due_date >= ? AND due_date <= ?), 0) AS due_soon,"
            " COALESCE(SUM(status = 'done' AND completed_at >= ?), 0) AS completed"
            f" FROM tasks WHERE board_id IN ({marks})"
        )
        now_ts = to_ts(now)
        row = await self._row(
            sql,
            [now_ts, now_ts, to_ts(now + timedelta(hours=48)), to_ts(now - timedelta(days=7)),
             *board_ids],
        )
        assert row is not None
        by_column = {r["column_id"]: r["n"] for r in await self._rows(
            "SELECT column_id, COUNT(*) AS n FROM tasks"
            f" WHERE board_id IN ({marks}) GROUP BY column_id", list(board_ids))}
        return Stats(
            total=row["total"],
            by_status={"todo": row["todo"], "in_progress": row["in_progress"], "done": row["done"]},
            overdue=row["overdue"],
            due_soon=row["due_soon"],
            completed_last_7_days=row["completed"],
            by_column=by_column,
        )

    async def select_attachment(self, board_id: str, attachment_id: str) -> Attachment | None:
        row = await self._row("SELECT * FROM attachments WHERE board_id = ? AND id = ?",
                              (board_id, attachment_id))
        return attachment_of(row) if row else None

    async def select_attachments(self, board_id: str, task_id: str) -> list[Attachment]:
        rows = await self._rows(
            "SELECT * FROM attachments WHERE board_id = ? AND task_id = ? ORDER BY created_at, id",
            (board_id, task_id))
        return [attachment_of(row) for row in rows]

    async def select_attachments_of_board(self, board_id: str) -> list[Attachment]:
        rows = await self._rows("SELECT * FROM attachments WHERE board_id = ?", (board_id,))
        return [attachment_of(row) for row in rows]

    async def select_stale_pending_attachments(self, before: datetime) -> list[Attachment]:
        rows = await self._rows(
            "SELECT * FROM attachments WHERE pending = 1 AND created_at < ?", (to_ts(before),))
        return [attachment_of(row) for row in rows]

    async def select_live_logins(self, login_ids: Sequence[str]) -> list[str]:
        live: list[str] = []
        for start in range(0, len(login_ids), 500):
            chunk = list(login_ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            rows = await self._rows(
                f"SELECT id FROM logins WHERE revoked_at IS NULL AND id IN ({marks})", chunk)
            live += [row["id"] for row in rows]
        return live

    async def select_login(self, login_id: str) -> Login | None:
        row = await self._row("SELECT * FROM logins WHERE id = ?", (login_id,))
        if row is None:
            return None
        return Login(
            id=row["id"],
            user_id=row["user_id"],
            created_at=from_ts(row["created_at"]),
            revoked_at=from_ts(row["revoked_at"]) if row["revoked_at"] else None,
            credentials_version=row["credentials_version"],
        )

    async def select_refresh_token(self, token_hash: str) -> RefreshToken | None:
        row = await self._row("SELECT * FROM refresh_tokens WHERE token_hash = ?", (token_hash,))
        if row is None:
            return None
        return RefreshToken(
            token_hash=row["token_hash"],
            login_id=row["login_id"],
            user_id=row["user_id"],
            expires_at=from_ts(row["expires_at"]),
            used_at=from_ts(row["used_at"]) if row["used_at"] else None,
        )


def members_of(conn: sqlite3.Connection, board_ids: list[str]) -> dict[str, list[Member]]:
    found: dict[str, list[Member]] = {board_id: [] for board_id in board_ids}
    if not board_ids:
        return found
    marks = ",".join("?" * len(board_ids))
    rows = conn.execute(
        "SELECT m.board_id, m.user_id, m.role, u.name, u.email FROM members m "
        f"JOIN users u ON u.id = m.user_id WHERE m.board_id IN ({marks}) "
        "ORDER BY m.added_at, m.user_id",
        board_ids,
    ).fetchall()
    for row in rows:
        found[row["board_id"]].append(
            Member(user_id=row["user_id"], name=row["name"], email=row["email"], role=row["role"])
        )
    return found


@contextmanager
def transient_as_unavailable() -> Iterator[None]:
    """A database still locked after busy_timeout, or a failing disk, is a 503 to clients:
    the request may succeed if retried; nothing was written."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        message = str(exc).lower()
        if any(word in message for word in ("locked", "busy", "disk i/o", "disk is full")):
            raise ServiceUnavailable("The database is busy; retry shortly") from exc
        raise
