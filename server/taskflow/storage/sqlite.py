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
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from taskflow.domain import (
    PRIORITY_RANK,
    Attachment,
    Board,
    Column,
    Comment,
    Event,
    Login,
    Member,
    RefreshToken,
    Role,
    Task,
    User,
    checklist_data,
    task_id_of_event,
)
from taskflow.errors import Conflict, ServiceUnavailable
from taskflow.storage import sqlite_search
from taskflow.storage.sqlite_idempotency import IdempotencyKeys
from taskflow.storage.sqlite_notify import NotifyQueries, NotifyWrites
from taskflow.storage.sqlite_queries import members_of
from taskflow.storage.sqlite_rows import board_of, columns_json, opt_ts, task_of
from taskflow.storage.sqlite_schema import MIGRATIONS
from taskflow.storage.sqlite_thread import SqliteThread
from taskflow.storage.sqlite_tokens import TokenQueries, TokenWrites
from taskflow.storage.sqlite_webhooks import DELETE_BOARD, UNDELIVERED, WebhookQueries, WebhookWrites
from taskflow.timefmt import to_ts

T = TypeVar("T")
SCHEMA_VERSION = len(MIGRATIONS)
EVENTS_KEPT = 10_000


class SqliteTransaction(WebhookWrites, NotifyWrites, TokenWrites):
    """Writes inside one BEGIN IMMEDIATE transaction, in as few trips to the SQLite thread as
    the calls allow: BEGIN goes with the first statement, writes whose result nobody waits
    for (a task inserted or updated) go with the next statement or with COMMIT, and a task's
    board comes with the task (the board is what authorizes the next call)."""

    def __init__(self, conn: SqliteThread, *, events_kept: int = EVENTS_KEPT,
                 begin: Sequence[str] = ("BEGIN IMMEDIATE",)) -> None:
        super().__init__(conn)
        self._events_kept = events_kept
        self._begin: Sequence[str] | None = begin
        self._pending: list[tuple[str, Sequence[Any]]] = []
        # Boards read along with a task, until the transaction writes anything.
        self._boards: dict[str, Board | None] = {}

    @property
    def begun(self) -> bool:
        return self._begin is None

    async def _run(self, function: Callable[[sqlite3.Connection], T]) -> T:
        begin, pending = self._begin or (), self._pending
        if not begin and not pending:
            return await super()._run(function)
        self._begin, self._pending = None, []

        def first(conn: sqlite3.Connection) -> T:
            for statement in begin:
                conn.execute(statement)
            for sql, params in pending:
                conn.execute(sql, params)
            return function(conn)

        return await super()._run(first)

    def _later(self, sql: str, params: Sequence[Any]) -> None:
        """A write sent with the next statement (or COMMIT): its errors surface there, still
        inside this transaction, which then rolls back."""
        self._boards.clear()
        self._pending.append((sql, params))

    async def commit(self) -> None:
        """Sends what is still pending, and COMMIT (nothing when nothing was sent)."""
        if self._begin is not None and not self._pending:
            return
        await self._run(_commit)

    async def select_task(self, task_id: str) -> Task | None:
        def read(conn: sqlite3.Connection) -> tuple[Task | None, Board | None]:
            row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                return None, None
            board_id = row["board_id"]
            board = conn.execute("SELECT * FROM boards WHERE id = ?", (board_id,)).fetchone()
            return task_of(row), (board_of(board, members_of(conn, [board_id])) if board else None)

        task, board = await self._run(read)
        if task is not None:
            self._boards = {task.board_id: board}
        return task

    async def select_board(self, board_id: str) -> Board | None:
        if board_id in self._boards:
            return self._boards[board_id]
        return await super().select_board(board_id)

    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._boards.clear()
        return await self._run(lambda conn: conn.execute(sql, params).rowcount)

    async def _exec_all(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        self._boards.clear()

        def run(conn: sqlite3.Connection) -> None:
            for sql, params in statements:
                conn.execute(sql, params)

        await self._run(run)

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
        stamp = to_ts(board.created_at)
        await self._exec_all([
            ("INSERT INTO boards (id, name, description, owner_id, seq, created_at, updated_at,"
             " columns_json, epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
             (board.id, board.name, board.description, board.owner_id, board.seq,
              stamp, to_ts(board.updated_at), columns_json(board.columns), board.epoch)),
            *[("INSERT INTO members (board_id, user_id, role, added_at) VALUES (?, ?, ?, ?)",
               (board.id, member.user_id, member.role, stamp)) for member in board.members],
        ])

    async def set_board_epoch(self, board_id: str, epoch: str) -> None:
        await self._exec("UPDATE boards SET epoch = ? WHERE id = ?", (epoch, board_id))

    async def update_board(
        self, board_id: str, *, name: str, description: str, updated_at: datetime
    ) -> None:
        await self._exec(
            "UPDATE boards SET name = ?, description = ?, updated_at = ? WHERE id = ?",
            (name, description, to_ts(updated_at), board_id),
        )

    async def update_board_columns(self, board_id: str, columns: Sequence[Column], *,
                                   updated_at: datetime) -> None:
        await self._exec(
            "UPDATE boards SET columns_json = ?, updated_at = ? WHERE id = ?",
            (columns_json(tuple(columns)), to_ts(updated_at), board_id),
        )

    async def delete_board(self, board_id: str, *, seq: int, at: datetime) -> None:
        await self._exec_all([
            *sqlite_search.unindex_board(board_id),
            *[(f"DELETE FROM {table} WHERE board_id = ?", (board_id,))
              for table in ("attachments", "comments", "tasks", "members")],
            ("DELETE FROM boards WHERE id = ?", (board_id,)),
            *[(sql, (board_id,)) for sql in DELETE_BOARD],
            ("INSERT INTO deleted_boards (board_id, seq, deleted_at) VALUES (?, ?, ?)",
             (board_id, seq, to_ts(at))),
        ])

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
        self._later(
            "INSERT INTO tasks (id, board_id, title, description, status, priority, priority_rank,"
            " due_date, assignee_id, tags, position, created_by, created_at, updated_at,"
            " completed_at, version, column_id, checklist)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (task.id, task.board_id, task.title, task.description, task.status, task.priority,
             PRIORITY_RANK[task.priority], opt_ts(task.due_date), task.assignee_id,
             json.dumps(list(task.tags)), task.position, task.created_by, to_ts(task.created_at),
             to_ts(task.updated_at), opt_ts(task.completed_at), task.version, task.column_id,
             _checklist_json(task)),
        )
        for sql, params in sqlite_search.index_task(task.id, task.board_id, task.title,
                                                    task.description):
            self._later(sql, params)

    async def update_task(self, task: Task) -> None:
        self._later(
            "UPDATE tasks SET title = ?, description = ?, status = ?, priority = ?,"
            " priority_rank = ?, due_date = ?, assignee_id = ?, tags = ?, position = ?,"
            " updated_at = ?, completed_at = ?, version = ?, column_id = ?, checklist = ?"
            " WHERE id = ?",
            (task.title, task.description, task.status, task.priority,
             PRIORITY_RANK[task.priority], opt_ts(task.due_date), task.assignee_id,
             json.dumps(list(task.tags)), task.position, to_ts(task.updated_at),
             opt_ts(task.completed_at), task.version, task.column_id, _checklist_json(task),
             task.id),
        )
        self._later(*sqlite_search.reindex_task(task.id, task.title, task.description))

    async def delete_task(self, board_id: str, task_id: str) -> None:
        key = (board_id, task_id)
        await self._exec_all([
            ("DELETE FROM attachments WHERE board_id = ? AND task_id = ?", key),
            ("DELETE FROM comments WHERE board_id = ? AND task_id = ?", key),
            ("DELETE FROM tasks WHERE board_id = ? AND id = ?", key),
            *sqlite_search.unindex_task(task_id),
        ])

    async def insert_comment(self, comment: Comment) -> None:
        self._boards.clear()

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO comments (id, task_id, board_id, author_id, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (comment.id, comment.task_id, comment.board_id, comment.author_id, comment.body,
                 to_ts(comment.created_at)),
            )
            sqlite_search.reindex_comments(conn, comment.task_id)

        await self._run(insert)

    async def delete_comment(self, board_id: str, comment_id: str) -> None:
        self._boards.clear()

        def delete(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "DELETE FROM comments WHERE board_id = ? AND id = ? RETURNING task_id",
                               (board_id, comment_id)).fetchall()
            for found in row:
                sqlite_search.reindex_comments(conn, found["task_id"])

        await self._run(delete)

    async def insert_attachment(self, attachment: Attachment) -> None:
        a = attachment
        await self._exec(
            "INSERT INTO attachments (id, task_id, board_id, filename, content_type, size,"
            " created_by, created_at, storage_key, pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (a.id, a.task_id, a.board_id, a.filename, a.content_type, a.size, a.created_by,
             to_ts(a.created_at), a.storage_key, int(a.pending)),
        )

    async def confirm_attachment(self, board_id: str, attachment_id: str, *, size: int,
                                 at: datetime) -> None:
        await self._exec(
            "UPDATE attachments SET pending = 0, size = ?, created_at = ?"
            " WHERE board_id = ? AND id = ?",
            (size, to_ts(at), board_id, attachment_id),
        )

    async def delete_attachment(self, board_id: str, attachment_id: str) -> None:
        await self._exec("DELETE FROM attachments WHERE board_id = ? AND id = ?",
                         (board_id, attachment_id))

    async def next_event_seq(self, board_id: str) -> int:
        self._boards.clear()
        return await self._run(partial(_next_seq, board_id=board_id))

    async def append_event(
        self, board_id: str, *, type: str, actor_id: str, at: datetime, data: dict[str, Any]
    ) -> Event:
        self._boards.clear()
        stamp, text = to_ts(at), json.dumps(data, separators=(",", ":"))
        task_id = task_id_of_event(type, data)

        def append(conn: sqlite3.Connection) -> int:
            seq = _next_seq(conn, board_id=board_id)
            conn.execute(
                "INSERT INTO events (board_id, seq, type, actor_id, at, data, task_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (board_id, seq, type, actor_id, stamp, text, task_id))
            return seq

        seq = await self._run(append)
        return Event(seq=seq, board_id=board_id, type=type, actor_id=actor_id, at=at, data=data)

    async def prune_events(self, board_id: str, *, before: datetime) -> int:
        self._boards.clear()
        kept, cut = self._events_kept, to_ts(before)

        def prune(conn: sqlite3.Connection) -> int:
            board = conn.execute("SELECT seq FROM boards WHERE id = ?", (board_id,)).fetchone()
            last = int(board[0]) - kept if board is not None else 0
            if last < 1:
                return 0
            # The log is in time order: walk the primary key from the oldest event to the first
            # one that stays, so a prune reads what it deletes (plus one), not the whole year.
            stays = conn.execute(
                "SELECT seq FROM events WHERE board_id = ? AND seq <= ? AND at >= ?"
                " ORDER BY seq LIMIT 1", (board_id, last, cut)).fetchone()
            bound = int(stays[0]) - 1 if stays is not None else last
            # Nothing an active webhook has still to deliver goes (services/webhooks.py).
            undelivered = conn.execute(UNDELIVERED, (board_id,)).fetchone()[0]
            if undelivered is not None:
                bound = min(bound, int(undelivered))
            return int(conn.execute("DELETE FROM events WHERE board_id = ? AND seq <= ?",
                                    (board_id, bound)).rowcount)

        return await self._run(prune)

    async def insert_login(self, login: Login) -> None:
        await self._exec(
            "INSERT INTO logins (id, user_id, created_at, revoked_at, credentials_version)"
            " VALUES (?, ?, ?, ?, ?)",
            (login.id, login.user_id, to_ts(login.created_at), opt_ts(login.revoked_at),
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
             opt_ts(token.used_at)),
        )

    async def spend_refresh_token(self, token_hash: str, at: datetime) -> bool:
        changed = await self._exec(
            "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
            (to_ts(at), token_hash),
        )
        return changed == 1

    async def insert_import(self, board_id: str, user_id: str, started_at: datetime) -> None:
        try:
            await self._exec("INSERT INTO imports (board_id, user_id, started_at)"
                             " VALUES (?, ?, ?)", (board_id, user_id, to_ts(started_at)))
        except sqlite3.IntegrityError:
            raise Conflict("That import already exists") from None

    async def delete_import(self, board_id: str) -> None:
        await self._exec("DELETE FROM imports WHERE board_id = ?", (board_id,))


class SqliteStore(WebhookQueries, NotifyQueries, IdempotencyKeys, TokenQueries):
    """The store on one SQLite file; safe to share between processes on one machine."""

    def __init__(self, writer: SqliteThread, reader: SqliteThread, *,
                 events_kept: int = EVENTS_KEPT, busy_timeout_ms: int = 10_000) -> None:
        super().__init__(reader)
        self._busy_timeout_ms = busy_timeout_ms
        self._writer_busy_ms = busy_timeout_ms  # what the writer connection is set to now
        self._writer = writer
        self._write_lock = asyncio.Lock()
        self.events_kept = events_kept

    @classmethod
    async def open(cls, path: Path, *, events_kept: int = EVENTS_KEPT,
                   busy_timeout_ms: int = 10_000, migrate: bool = False) -> SqliteStore:
        """Open (creating if needed) the database file.

        A new (empty) file gets the latest schema. A file at an older schema version is
        upgraded only with `migrate` (`taskflow db migrate`); otherwise StoreOutdated.
        `events_kept`: the newest events of each board, never pruned however old."""
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path, busy_timeout_ms)
        try:
            await writer.run(partial(_migrate_now, path=path, upgrade=migrate))
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
        full = self._busy_timeout_ms
        deadline = time.monotonic() + full / 1000
        try:
            async with asyncio.timeout(full / 1000):
                await self._write_lock.acquire()
        except TimeoutError:
            raise ServiceUnavailable("The database is busy; retry shortly") from None
        try:
            left_ms = max(1, int((deadline - time.monotonic()) * 1000))
            # busy_timeout is set once per connection; it is lowered (in the same trip as
            # BEGIN) only for a writer that already waited here noticeably, and restored after.
            wanted = full if left_ms > full - 50 else left_ms
            begin = ["BEGIN IMMEDIATE"]
            if wanted != self._writer_busy_ms:
                begin.insert(0, f"PRAGMA busy_timeout = {wanted}")
                self._writer_busy_ms = wanted
            tx = SqliteTransaction(self._writer, events_kept=self.events_kept, begin=begin)
            try:
                result = await work(tx)
                await tx.commit()
            except BaseException:
                await self._writer.run(_rollback)
                raise
            return result
        finally:
            self._write_lock.release()

    async def ping(self) -> None:
        await self._conn.execute("SELECT 1")

    async def close(self) -> None:
        await self._conn.close()
        await self._writer.close()


def _checklist_json(task: Task) -> str:
    return json.dumps(checklist_data(task.checklist), separators=(",", ":"))


def _next_seq(conn: sqlite3.Connection, *, board_id: str) -> int:
    row = conn.execute("UPDATE boards SET seq = seq + 1 WHERE id = ? RETURNING seq",
                       (board_id,)).fetchone()
    if row is None:
        raise LookupError(f"board {board_id} does not exist")
    return int(row["seq"])


def _commit(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


async def _connect(path: Path, busy_timeout_ms: int = 10_000) -> SqliteThread:
    conn = await SqliteThread.open(path)
    try:
        # busy_timeout first, so that every lock taken from here on waits for another
        # instance starting beside this one rather than failing "database is locked".
        await conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        await _use_wal(conn, busy_timeout_ms)
        # FULL: a commit is on disk (the WAL fsynced) before it is acknowledged, so it
        # survives power loss, not just a killed process.
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        await conn.close()
        raise
    return conn


async def _use_wal(conn: SqliteThread, busy_timeout_ms: int) -> None:
    """WAL lets readers run beside the one writer. Switching a new file to it needs an
    exclusive lock, and SQLite refuses that at once, without its busy handler, while another
    connection (an instance starting at the same moment) holds a shared one: retried here
    until the busy timeout."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.005)  # back-off before asking for the lock again


class StoreOutdated(Exception):
    """The database's schema is older than this TaskFlow's; the message is one line that
    names the command to run."""


def _migrate_now(conn: sqlite3.Connection, *, path: Path, upgrade: bool) -> None:
    # The write lock is taken before user_version is read, so of several instances starting
    # together one migrates and the others, waiting on the lock, then find nothing left to do.
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        # Version 0 is a new file: it holds nothing to upgrade, so it is built at once (the
        # README's first run works). Data at an older version waits for an operator's
        # `db migrate`: every instance on the old code must be stopped first.
        if 0 < version < SCHEMA_VERSION and not upgrade:
            raise StoreOutdated(
                f"the database at {path} is at schema version {version}, this TaskFlow needs "
                f"{SCHEMA_VERSION}: run `taskflow db migrate`")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")

