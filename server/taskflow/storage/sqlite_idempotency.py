"""The SQLite store's Idempotency-Key ledger (table from the `idempotency_keys` migration),
used when no Redis is configured. Each call is one write transaction on the writer connection,
so instances sharing the file see one claim per key."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from taskflow.storage.sqlite import SqliteTransaction

T = TypeVar("T")


def _claim(conn: sqlite3.Connection, *, scope: str, owner: str, now: float,
           expires_at: float) -> tuple[str | None, str | None]:
    # Inserts a claim, or takes over a row whose lease or response has expired.
    row = conn.execute(
        "INSERT INTO idempotency_keys (scope, owner, record, expires_at) VALUES (?, ?, NULL, ?)"
        " ON CONFLICT (scope) DO UPDATE SET owner = excluded.owner, record = NULL,"
        " expires_at = excluded.expires_at WHERE idempotency_keys.expires_at <= ?"
        " RETURNING owner", (scope, owner, expires_at, now)).fetchone()
    if row is not None:
        return None, None
    held = conn.execute("SELECT owner, record FROM idempotency_keys WHERE scope = ?",
                        (scope,)).fetchone()
    if held is None:  # can't happen inside the transaction; answered as "running" to be safe
        return "", None
    return (None if held["record"] is not None else str(held["owner"])), held["record"]


class IdempotencyKeys:
    """Mixed into SqliteStore."""

    if TYPE_CHECKING:
        async def transact(self, work: Callable[[SqliteTransaction], Awaitable[T]]) -> T: ...

    async def _write(self, function: Callable[[sqlite3.Connection], T]) -> T:
        async def work(tx: SqliteTransaction) -> T:
            return await tx._run(function)

        return await self.transact(work)

    async def claim_idempotency_key(self, scope: str, owner: str, *, now: float,
                                    expires_at: float) -> tuple[str | None, str | None]:
        return await self._write(lambda conn: _claim(conn, scope=scope, owner=owner, now=now,
                                                      expires_at=expires_at))

    async def renew_idempotency_key(self, scope: str, owner: str, *, expires_at: float) -> bool:
        def renew(conn: sqlite3.Connection) -> bool:
            return conn.execute(
                "UPDATE idempotency_keys SET expires_at = ? WHERE scope = ? AND owner = ?"
                " AND record IS NULL", (expires_at, scope, owner)).rowcount == 1

        return await self._write(renew)

    async def complete_idempotency_key(self, scope: str, owner: str, record: str, *,
                                       expires_at: float) -> None:
        def complete(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE idempotency_keys SET owner = NULL, record = ?, expires_at = ?"
                         " WHERE scope = ? AND owner = ? AND record IS NULL",
                         (record, expires_at, scope, owner))

        await self._write(complete)

    async def release_idempotency_key(self, scope: str, owner: str) -> None:
        def release(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM idempotency_keys WHERE scope = ? AND owner = ?"
                         " AND record IS NULL", (scope, owner))

        await self._write(release)

    async def purge_idempotency_keys(self, *, now: float) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?",
                                (now,)).rowcount

        return await self._write(purge)
