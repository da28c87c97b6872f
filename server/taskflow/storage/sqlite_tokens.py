"""The SQLite store's personal access tokens (table from the `personal_tokens` migration)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from taskflow.domain import PersonalToken
from taskflow.storage.sqlite_queries import SqliteQueries
from taskflow.timefmt import from_ts, to_ts


def personal_token_of(row: sqlite3.Row) -> PersonalToken:
    return PersonalToken(
        id=row["id"], user_id=row["user_id"], name=row["name"],
        scopes=tuple(json.loads(row["scopes"])), token_hash=row["token_hash"],
        created_at=from_ts(row["created_at"]), expires_at=from_ts(row["expires_at"]),
        last_used_at=from_ts(row["last_used_at"]) if row["last_used_at"] else None,
    )


class TokenQueries(SqliteQueries):
    async def select_personal_token(self, token_hash: str) -> PersonalToken | None:
        row = await self._row("SELECT * FROM personal_tokens WHERE token_hash = ?", (token_hash,))
        return personal_token_of(row) if row else None

    async def select_personal_tokens(self, user_id: str, *, limit: int,
                                     after: tuple[str, str] | None) -> list[PersonalToken]:
        where, params = "user_id = ?", [user_id]
        if after is not None:
            where += " AND (created_at > ? OR (created_at = ? AND id > ?))"
            params += [after[0], after[0], after[1]]
        rows = await self._rows(f"SELECT * FROM personal_tokens WHERE {where}"
                                " ORDER BY created_at, id LIMIT ?", [*params, limit])
        return [personal_token_of(row) for row in rows]

    async def select_live_personal_tokens(self, token_ids: Sequence[str],
                                          now: datetime) -> list[str]:
        found: list[str] = []
        for start in range(0, len(token_ids), 500):
            chunk = list(token_ids[start:start + 500])
            marks = ", ".join("?" * len(chunk))
            rows = await self._rows(f"SELECT id FROM personal_tokens WHERE id IN ({marks})"
                                    " AND expires_at > ?", [*chunk, to_ts(now)])
            found += [row["id"] for row in rows]
        return found


class TokenWrites(TokenQueries):
    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        raise NotImplementedError  # the transaction's

    async def insert_personal_token(self, token: PersonalToken) -> None:
        await self._exec(
            "INSERT INTO personal_tokens (id, user_id, name, scopes, token_hash, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (token.id, token.user_id, token.name, json.dumps(list(token.scopes)),
             token.token_hash, to_ts(token.created_at), to_ts(token.expires_at)))

    async def touch_personal_token(self, token_id: str, at: datetime,
                                   unless_since: datetime) -> None:
        await self._exec("UPDATE personal_tokens SET last_used_at = ? WHERE id = ?"
                         " AND (last_used_at IS NULL OR last_used_at < ?)",
                         (to_ts(at), token_id, to_ts(unless_since)))

    async def delete_personal_token(self, user_id: str, token_id: str) -> bool:
        return await self._exec("DELETE FROM personal_tokens WHERE id = ? AND user_id = ?",
                                (token_id, user_id)) == 1

    async def delete_personal_tokens_of_user(self, user_id: str) -> list[str]:
        rows = await self._rows("DELETE FROM personal_tokens WHERE user_id = ? RETURNING id",
                                (user_id,))
        return [row["id"] for row in rows]

    async def purge_personal_tokens(self, before: datetime) -> int:
        return await self._exec("DELETE FROM personal_tokens WHERE expires_at < ?",
                                (to_ts(before),))
