"""The embedded store: SQLite in WAL mode, one writer transaction at a time (BEGIN IMMEDIATE).

`BEGIN IMMEDIATE` takes SQLite's write lock before the first read of a transaction, so
concurrent writers, in this process or in other processes sharing the file, run one after
another; that is what keeps a board's `seq` gap-free without any other lock.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from taskflow.domain import (
    PRIORITY_RANK,
    SORT_FIELDS,
    Attachment,
    Board,
    Comment,
    Event,
    Login,
    Member,
    RefreshToken,
    Role,
    Stats,
    Task,
    TaskQuery,
    User,
)
from taskflow.errors import Conflict, ServiceUnavailable
from taskflow.storage.sqlite_schema import MIGRATIONS
from taskflow.timefmt import from_ts, to_ts

T = TypeVar("T")
EVENTS_KEPT = 10_000
_PRUNE_EVERY = 500

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


class _Queries:
    """The reads, on one connection; shared by the store and its transactions."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with _transient_as_unavailable():
            return list(await self._conn.execute_fetchall(sql, params))

    async def _row(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._rows(sql, params)
        return rows[0] if rows else None

    async def select_user(self, user_id: str) -> User | None:
        row = await self._row("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(row) if row else None

    async def select_user_by_email(self, email: str) -> User | None:
        row = await self._row("SELECT * FROM users WHERE email_norm = ?", (email.casefold(),))
        return _user(row) if row else None

    async def select_board(self, board_id: str) -> Board | None:
        row = await self._row("SELECT * FROM boards WHERE id = ?", (board_id,))
        if row is None:
            return None
        return _board(row, await self._members([board_id]))

    async def select_boards_of_user(self, user_id: str) -> list[Board]:
        rows = await self._rows(
            "SELECT b.* FROM boards b JOIN members m ON m.board_id = b.id "
            "WHERE m.user_id = ? ORDER BY b.created_at, b.id",
            (user_id,),
        )
        members = await self._members([row["id"] for row in rows])
        return [_board(row, members) for row in rows]

    async def _members(self, board_ids: list[str]) -> dict[str, list[Member]]:
        found: dict[str, list[Member]] = {board_id: [] for board_id in board_ids}
        if not board_ids:
            return found
        marks = ",".join("?" * len(board_ids))
        rows = await self._rows(
            "SELECT m.board_id, m.user_id, m.role, u.name, u.email FROM members m "
            f"JOIN users u ON u.id = m.user_id WHERE m.board_id IN ({marks}) "
            "ORDER BY m.added_at, m.user_id",
            board_ids,
        )
        for row in rows:
            found[row["board_id"]].append(
                Member(user_id=row["user_id"], name=row["name"], email=row["email"], role=row["role"])
            )
        return found

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
        return _task(row) if row else None

    async def select_tasks(self, query: TaskQuery) -> list[Task]:
        if not query.board_ids:
            return []
        marks = ",".join("?" * len(query.board_ids))
        where, params = [f"board_id IN ({marks})"], list(query.board_ids)
        for column, value in (
            ("status", query.status),
            ("assignee_id", query.assignee_id),
            ("priority", query.priority),
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
        sql = f"SELECT * FROM tasks WHERE {' AND '.join(where)} ORDER BY {order_by} LIMIT ?"
        return [_task(row) for row in await self._rows(sql, [*params, query.limit])]

    async def select_column(self, board_id: str, status: str) -> list[Task]:
        rows = await self._rows(
            "SELECT * FROM tasks WHERE board_id = ? AND status = ? ORDER BY position, id",
            (board_id, status),
        )
        return [_task(row) for row in rows]

    async def select_comment(self, comment_id: str) -> Comment | None:
        row = await self._row("SELECT * FROM comments WHERE id = ?", (comment_id,))
        return _comment(row) if row else None

    async def select_comments(
        self, task_id: str, *, limit: int, after: tuple[str, str] | None
    ) -> list[Comment]:
        sql, params = "SELECT * FROM comments WHERE task_id = ?", [task_id]
        if after is not None:
            sql += " AND (created_at > ? OR (created_at = ? AND id > ?))"
            params.extend([after[0], after[0], after[1]])
        sql += " ORDER BY created_at, id LIMIT ?"
        return [_comment(row) for row in await self._rows(sql, [*params, limit])]

    async def select_events(self, board_id: str, *, since: int, limit: int) -> list[Event]:
        rows = await self._rows(
            "SELECT * FROM events WHERE board_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (board_id, since, limit),
        )
        return [_event(row) for row in rows]

    async def select_oldest_event_seq(self, board_id: str) -> int | None:
        row = await self._row("SELECT MIN(seq) AS seq FROM events WHERE board_id = ?", (board_id,))
        return row["seq"] if row and row["seq"] is not None else None

    async def compute_stats(self, board_ids: Sequence[str], now: datetime) -> Stats:
        if not board_ids:
            return Stats(0, {"todo": 0, "in_progress": 0, "done": 0}, 0, 0, 0)
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
        return Stats(
            total=row["total"],
            by_status={"todo": row["todo"], "in_progress": row["in_progress"], "done": row["done"]},
            overdue=row["overdue"],
            due_soon=row["due_soon"],
            completed_last_7_days=row["completed"],
        )

    async def select_attachment(self, attachment_id: str) -> Attachment | None:
        row = await self._row("SELECT * FROM attachments WHERE id = ?", (attachment_id,))
        return _attachment(row) if row else None

    async def select_attachments(self, task_id: str) -> list[Attachment]:
        rows = await self._rows(
            "SELECT * FROM attachments WHERE task_id = ? ORDER BY created_at, id", (task_id,))
        return [_attachment(row) for row in rows]

    async def select_attachments_of_board(self, board_id: str) -> list[Attachment]:
        rows = await self._rows("SELECT * FROM attachments WHERE board_id = ?", (board_id,))
        return [_attachment(row) for row in rows]

    async def select_stale_pending_attachments(self, before: datetime) -> list[Attachment]:
        rows = await self._rows(
            "SELECT * FROM attachments WHERE pending = 1 AND created_at < ?", (to_ts(before),))
        return [_attachment(row) for row in rows]

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


class SqliteTransaction(_Queries):
    """Writes inside one BEGIN IMMEDIATE transaction."""

    def __init__(self, conn: aiosqlite.Connection, *, events_kept: int = EVENTS_KEPT) -> None:
        super().__init__(conn)
        self._events_kept = events_kept

    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        with _transient_as_unavailable():
            cursor = await self._conn.execute(sql, params)
        return cursor.rowcount

    async def insert_user(self, user: User) -> None:
        try:
            await self._exec(
                "INSERT INTO users (id, email, email_norm, name, password_hash,"
                " credentials_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user.id, user.email, user.email.casefold(), user.name, user.password_hash,
                 user.credentials_version, to_ts(user.created_at)),
            )
        except sqlite3.IntegrityError:
            raise Conflict("That email is already registered") from None

    async def update_user(self, user: User) -> None:
        try:
            await self._exec(
                "UPDATE users SET email = ?, email_norm = ?, name = ?, password_hash = ?,"
                " credentials_version = ? WHERE id = ?",
                (user.email, user.email.casefold(), user.name, user.password_hash,
                 user.credentials_version, user.id),
            )
        except sqlite3.IntegrityError:
            raise Conflict("That email is already registered") from None

    async def insert_board(self, board: Board) -> None:
        await self._exec(
            "INSERT INTO boards (id, name, description, owner_id, seq, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (board.id, board.name, board.description, board.owner_id, board.seq,
             to_ts(board.created_at), to_ts(board.updated_at)),
        )
        for member in board.members:
            await self.insert_member(board.id, member, added_at=board.created_at)

    async def update_board(
        self, board_id: str, *, name: str, description: str, updated_at: datetime
    ) -> None:
        await self._exec(
            "UPDATE boards SET name = ?, description = ?, updated_at = ? WHERE id = ?",
            (name, description, to_ts(updated_at), board_id),
        )

    async def delete_board(self, board_id: str, *, seq: int, at: datetime) -> None:
        await self._exec("DELETE FROM attachments WHERE board_id = ?", (board_id,))
        await self._exec("DELETE FROM comments WHERE board_id = ?", (board_id,))
        await self._exec("DELETE FROM tasks WHERE board_id = ?", (board_id,))
        await self._exec("DELETE FROM members WHERE board_id = ?", (board_id,))
        await self._exec("DELETE FROM boards WHERE id = ?", (board_id,))
        await self._exec("INSERT INTO deleted_boards (board_id, seq, deleted_at) VALUES (?, ?, ?)",
                         (board_id, seq, to_ts(at)))

    async def purge_deleted_boards(self, before: datetime) -> int:
        rows = await self._rows(
            "DELETE FROM deleted_boards WHERE deleted_at < ? RETURNING board_id", (to_ts(before),))
        for row in rows:
            await self._exec("DELETE FROM events WHERE board_id = ?", (row["board_id"],))
        return len(rows)

    async def insert_member(self, board_id: str, member: Member, *, added_at: datetime) -> None:
        stamp = to_ts(added_at)
        try:
            await self._exec(
                "INSERT INTO members (board_id, user_id, role, added_at) VALUES (?, ?, ?, ?)",
                (board_id, member.user_id, member.role, stamp),
            )
        except sqlite3.IntegrityError:
            raise Conflict("That user is already a member of this board") from None

    async def update_member(self, board_id: str, user_id: str, role: Role) -> None:
        await self._exec(
            "UPDATE members SET role = ? WHERE board_id = ? AND user_id = ?", (role, board_id, user_id)
        )

    async def delete_member(self, board_id: str, user_id: str) -> None:
        await self._exec("DELETE FROM members WHERE board_id = ? AND user_id = ?", (board_id, user_id))

    async def insert_task(self, task: Task) -> None:
        await self._exec(
            "INSERT INTO tasks (id, board_id, title, description, status, priority, priority_rank,"
            " due_date, assignee_id, tags, position, created_by, created_at, updated_at,"
            " completed_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (task.id, task.board_id, task.title, task.description, task.status, task.priority,
             PRIORITY_RANK[task.priority], _opt_ts(task.due_date), task.assignee_id,
             json.dumps(list(task.tags)), task.position, task.created_by, to_ts(task.created_at),
             to_ts(task.updated_at), _opt_ts(task.completed_at), task.version),
        )

    async def update_task(self, task: Task) -> None:
        await self._exec(
            "UPDATE tasks SET title = ?, description = ?, status = ?, priority = ?,"
            " priority_rank = ?, due_date = ?, assignee_id = ?, tags = ?, position = ?,"
            " updated_at = ?, completed_at = ?, version = ? WHERE id = ?",
            (task.title, task.description, task.status, task.priority,
             PRIORITY_RANK[task.priority], _opt_ts(task.due_date), task.assignee_id,
             json.dumps(list(task.tags)), task.position, to_ts(task.updated_at),
             _opt_ts(task.completed_at), task.version, task.id),
        )

    async def delete_task(self, task_id: str) -> None:
        await self._exec("DELETE FROM attachments WHERE task_id = ?", (task_id,))
        await self._exec("DELETE FROM comments WHERE task_id = ?", (task_id,))
        await self._exec("DELETE FROM tasks WHERE id = ?", (task_id,))

    async def insert_comment(self, comment: Comment) -> None:
        await self._exec(
            "INSERT INTO comments (id, task_id, board_id, author_id, body, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (comment.id, comment.task_id, comment.board_id, comment.author_id, comment.body,
             to_ts(comment.created_at)),
        )

    async def delete_comment(self, comment_id: str) -> None:
        await self._exec("DELETE FROM comments WHERE id = ?", (comment_id,))

    async def insert_attachment(self, attachment: Attachment) -> None:
        a = attachment
        await self._exec(
            "INSERT INTO attachments (id, task_id, board_id, filename, content_type, size,"
            " created_by, created_at, storage_key, pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (a.id, a.task_id, a.board_id, a.filename, a.content_type, a.size, a.created_by,
             to_ts(a.created_at), a.storage_key, int(a.pending)),
        )

    async def confirm_attachment(self, attachment_id: str, *, size: int, at: datetime) -> None:
        await self._exec(
            "UPDATE attachments SET pending = 0, size = ?, created_at = ? WHERE id = ?",
            (size, to_ts(at), attachment_id),
        )

    async def delete_attachment(self, attachment_id: str) -> None:
        await self._exec("DELETE FROM attachments WHERE id = ?", (attachment_id,))

    async def next_event_seq(self, board_id: str) -> int:
        row = await self._row(
            "UPDATE boards SET seq = seq + 1 WHERE id = ? RETURNING seq", (board_id,)
        )
        if row is None:
            raise LookupError(f"board {board_id} does not exist")
        return int(row["seq"])

    async def append_event(
        self, board_id: str, *, type: str, actor_id: str, at: datetime, data: dict[str, Any]
    ) -> Event:
        seq = await self.next_event_seq(board_id)
        await self._exec(
            "INSERT INTO events (board_id, seq, type, actor_id, at, data) VALUES (?, ?, ?, ?, ?, ?)",
            (board_id, seq, type, actor_id, to_ts(at), json.dumps(data, separators=(",", ":"))),
        )
        if seq % min(_PRUNE_EVERY, self._events_kept) == 0 and seq > self._events_kept:
            await self._exec(
                "DELETE FROM events WHERE board_id = ? AND seq <= ?",
                (board_id, seq - self._events_kept),
            )
        return Event(seq=seq, board_id=board_id, type=type, actor_id=actor_id, at=at, data=data)

    async def insert_login(self, login: Login) -> None:
        await self._exec(
            "INSERT INTO logins (id, user_id, created_at, revoked_at, credentials_version)"
            " VALUES (?, ?, ?, ?, ?)",
            (login.id, login.user_id, to_ts(login.created_at), _opt_ts(login.revoked_at),
             login.credentials_version),
        )

    async def revoke_login(self, login_id: str, at: datetime) -> None:
        await self._exec(
            "UPDATE logins SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (to_ts(at), login_id),
        )

    async def revoke_logins_of_user(self, user_id: str, at: datetime) -> list[str]:
        rows = await self._rows(
            "UPDATE logins SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL RETURNING id",
            (to_ts(at), user_id),
        )
        return [row["id"] for row in rows]

    async def insert_refresh_token(self, token: RefreshToken) -> None:
        await self._exec(
            "INSERT INTO refresh_tokens (token_hash, login_id, user_id, expires_at, used_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (token.token_hash, token.login_id, token.user_id, to_ts(token.expires_at),
             _opt_ts(token.used_at)),
        )

    async def spend_refresh_token(self, token_hash: str, at: datetime) -> bool:
        changed = await self._exec(
            "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
            (to_ts(at), token_hash),
        )
        return changed == 1


class SqliteStore(_Queries):
    """The store on one SQLite file; safe to share between processes on one machine."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, *,
                 events_kept: int = EVENTS_KEPT, busy_timeout_ms: int = 10_000) -> None:
        super().__init__(reader)
        self._busy_timeout = busy_timeout_ms / 1000
        self._writer = writer
        self._write_lock = asyncio.Lock()
        self.events_kept = events_kept

    @classmethod
    async def open(cls, path: Path, *, events_kept: int = EVENTS_KEPT,
                   busy_timeout_ms: int = 10_000) -> SqliteStore:
        """Open (creating if needed) the database file and bring its schema up to date.

        `events_kept`: the newest events of each board that are never pruned."""
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path, busy_timeout_ms)
        try:
            await _migrate(writer)
            reader = await _connect(path, busy_timeout_ms)
        except BaseException:
            await writer.close()
            raise
        return cls(writer, reader, events_kept=events_kept, busy_timeout_ms=busy_timeout_ms)

    async def transact(self, work: Callable[[SqliteTransaction], Awaitable[T]]) -> T:
        # Shielded: a request cancelled mid-way (its client hung up) must not leave the writer
        # connection inside a transaction; the transaction ends, committed or rolled back.
        return await asyncio.shield(self._transact(work))

    async def _transact(self, work: Callable[[SqliteTransaction], Awaitable[T]]) -> T:
        # One deadline for the in-process queue and SQLite's lock together: the k-th of k
        # waiting writers gives up after one busy timeout, not k of them.
        deadline = time.monotonic() + self._busy_timeout
        try:
            async with asyncio.timeout(self._busy_timeout):
                await self._write_lock.acquire()
        except TimeoutError:
            raise ServiceUnavailable("The database is busy; retry shortly") from None
        try:
            left_ms = max(1, int((deadline - time.monotonic()) * 1000))
            await self._writer.execute(f"PRAGMA busy_timeout = {left_ms}")
            with _transient_as_unavailable():
                await self._writer.execute("BEGIN IMMEDIATE")
            try:
                result = await work(SqliteTransaction(self._writer, events_kept=self.events_kept))
                with _transient_as_unavailable():
                    await self._writer.execute("COMMIT")
            except BaseException:
                if self._writer.in_transaction:
                    await self._writer.execute("ROLLBACK")
                raise
            return result
        finally:
            self._write_lock.release()

    async def ping(self) -> None:
        await self._conn.execute_fetchall("SELECT 1")

    async def close(self) -> None:
        await self._conn.close()
        await self._writer.close()


@contextmanager
def _transient_as_unavailable() -> Iterator[None]:
    """A database still locked after busy_timeout, or a failing disk, is a 503 to clients:
    the request may succeed if retried; nothing was written."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        message = str(exc).lower()
        if any(word in message for word in ("locked", "busy", "disk i/o", "disk is full")):
            raise ServiceUnavailable("The database is busy; retry shortly") from exc
        raise


async def _connect(path: Path, busy_timeout_ms: int = 10_000) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    # WAL lets readers run beside the one writer; FULL makes a commit survive power loss,
    # not just a killed process.
    for pragma in ("journal_mode = WAL", "synchronous = FULL", f"busy_timeout = {busy_timeout_ms}",
                   "foreign_keys = ON"):
        await conn.execute(f"PRAGMA {pragma}")
    return conn


async def _migrate(conn: aiosqlite.Connection) -> None:
    await conn.execute("BEGIN IMMEDIATE")
    try:
        rows = list(await conn.execute_fetchall("PRAGMA user_version"))
        version = int(rows[0][0])
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


def _opt_ts(value: datetime | None) -> str | None:
    return to_ts(value) if value is not None else None


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        password_hash=row["password_hash"],
        created_at=from_ts(row["created_at"]),
        credentials_version=row["credentials_version"],
    )


def _board(row: sqlite3.Row, members: dict[str, list[Member]]) -> Board:
    return Board(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        owner_id=row["owner_id"],
        seq=row["seq"],
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
        members=tuple(members.get(row["id"], ())),
    )


def _task(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"],
        board_id=row["board_id"],
        title=row["title"],
        description=row["description"],
        status=row["status"],
        priority=row["priority"],
        due_date=from_ts(row["due_date"]) if row["due_date"] else None,
        assignee_id=row["assignee_id"],
        tags=tuple(json.loads(row["tags"])),
        position=row["position"],
        created_by=row["created_by"],
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
        completed_at=from_ts(row["completed_at"]) if row["completed_at"] else None,
        version=row["version"],
    )


def _comment(row: sqlite3.Row) -> Comment:
    return Comment(
        id=row["id"],
        task_id=row["task_id"],
        board_id=row["board_id"],
        author_id=row["author_id"],
        body=row["body"],
        created_at=from_ts(row["created_at"]),
    )


def _attachment(row: sqlite3.Row) -> Attachment:
    return Attachment(
        id=row["id"],
        task_id=row["task_id"],
        board_id=row["board_id"],
        filename=row["filename"],
        content_type=row["content_type"],
        size=row["size"],
        created_by=row["created_by"],
        created_at=from_ts(row["created_at"]),
        storage_key=row["storage_key"],
        pending=bool(row["pending"]),
    )


def _event(row: sqlite3.Row) -> Event:
    return Event(
        seq=row["seq"],
        board_id=row["board_id"],
        type=row["type"],
        actor_id=row["actor_id"],
        at=from_ts(row["at"]),
        data=json.loads(row["data"]),
    )
