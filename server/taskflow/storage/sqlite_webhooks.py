"""The SQLite store's webhooks and their deliveries (tables from the `webhooks` migration).

A lease is taken and a webhook's state advanced by conditional UPDATEs: the write lock of
BEGIN IMMEDIATE makes each one atomic across every process sharing the file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from taskflow.domain import Delivery, Webhook
from taskflow.storage.sqlite_queries import SqliteQueries
from taskflow.storage.sqlite_rows import opt_ts
from taskflow.timefmt import from_ts, to_ts

DELIVERIES_KEPT = 100


def _opt(value: str | None) -> datetime | None:
    return from_ts(value) if value else None


def webhook_of(row: sqlite3.Row) -> Webhook:
    return Webhook(
        id=row["id"], board_id=row["board_id"], url=row["url"],
        events=tuple(json.loads(row["events"])), secret=row["secret"],
        active=bool(row["active"]), created_by=row["created_by"],
        created_at=from_ts(row["created_at"]), updated_at=from_ts(row["updated_at"]),
        cursor=int(row["cursor"]), disabled_reason=row["disabled_reason"],
        lease_owner=row["lease_owner"], lease_until=_opt(row["lease_until"]),
        attempt=int(row["attempt"]), next_attempt_at=_opt(row["next_attempt_at"]),
        failing_since=_opt(row["failing_since"]))


def delivery_of(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=row["id"], webhook_id=row["webhook_id"], board_id=row["board_id"], seq=row["seq"],
        event_type=row["event_type"], message_id=row["message_id"], status=row["status"],
        response_code=row["response_code"], duration_ms=row["duration_ms"],
        attempt=row["attempt"], error=row["error"], at=from_ts(row["at"]))


class WebhookQueries(SqliteQueries):
    async def select_webhook(self, board_id: str, webhook_id: str) -> Webhook | None:
        row = await self._row("SELECT * FROM webhooks WHERE board_id = ? AND id = ?",
                              (board_id, webhook_id))
        return webhook_of(row) if row else None

    async def select_webhooks(self, board_id: str, *, limit: int,
                              after: tuple[str, str] | None) -> list[Webhook]:
        sql, params = "SELECT * FROM webhooks WHERE board_id = ?", [board_id]
        if after is not None:
            sql += " AND (created_at > ? OR (created_at = ? AND id > ?))"
            params += [after[0], after[0], after[1]]
        rows = await self._rows(sql + " ORDER BY created_at, id LIMIT ?", [*params, limit])
        return [webhook_of(row) for row in rows]

    async def select_active_webhooks(self, *, limit: int) -> list[Webhook]:
        rows = await self._rows("SELECT * FROM webhooks WHERE active = 1 ORDER BY id LIMIT ?",
                                (limit,))
        return [webhook_of(row) for row in rows]

    async def select_deliveries(self, board_id: str, webhook_id: str, *, limit: int,
                                after: tuple[str, str] | None) -> list[Delivery]:
        sql = "SELECT * FROM webhook_deliveries WHERE board_id = ? AND webhook_id = ?"
        params: list[Any] = [board_id, webhook_id]
        if after is not None:
            sql += " AND (at < ? OR (at = ? AND id < ?))"
            params += [after[0], after[0], after[1]]
        rows = await self._rows(sql + " ORDER BY at DESC, id DESC LIMIT ?", [*params, limit])
        return [delivery_of(row) for row in rows]


class WebhookWrites(WebhookQueries):
    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        raise NotImplementedError  # the transaction's

    async def insert_webhook(self, webhook: Webhook) -> None:
        w = webhook
        await self._exec(
            "INSERT INTO webhooks (id, board_id, url, events, secret, active, created_by,"
            " created_at, updated_at, cursor, disabled_reason, attempt)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (w.id, w.board_id, w.url, json.dumps(list(w.events)), w.secret, int(w.active),
             w.created_by, to_ts(w.created_at), to_ts(w.updated_at), w.cursor,
             w.disabled_reason))

    async def update_webhook_settings(self, board_id: str, webhook_id: str, *, url: str,
                                      events: Sequence[str], active: bool,
                                      disabled_reason: str | None, updated_at: datetime,
                                      reset_retries: bool) -> None:
        sql = ("UPDATE webhooks SET url = ?, events = ?, active = ?, disabled_reason = ?,"
               " updated_at = ?")
        if reset_retries:
            sql += ", attempt = 0, next_attempt_at = NULL, failing_since = NULL"
        await self._exec(sql + " WHERE board_id = ? AND id = ?",
                         (url, json.dumps(list(events)), int(active), disabled_reason,
                          to_ts(updated_at), board_id, webhook_id))

    async def delete_webhook(self, board_id: str, webhook_id: str) -> None:
        await self._exec("DELETE FROM webhook_deliveries WHERE board_id = ? AND webhook_id = ?",
                         (board_id, webhook_id))
        await self._exec("DELETE FROM webhooks WHERE board_id = ? AND id = ?",
                         (board_id, webhook_id))

    async def claim_webhook(self, board_id: str, webhook_id: str, *, owner: str, now: datetime,
                            until: datetime) -> bool:
        stamp = to_ts(now)
        changed = await self._exec(
            "UPDATE webhooks SET lease_owner = ?, lease_until = ? WHERE board_id = ? AND id = ?"
            " AND active = 1 AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
            (owner, to_ts(until), board_id, webhook_id, owner, stamp))
        return changed == 1

    async def settle_webhook(self, board_id: str, webhook_id: str, *, owner: str, now: datetime,
                             settings_at: datetime, cursor: int, attempt: int,
                             next_attempt_at: datetime | None, failing_since: datetime | None,
                             lease_until: datetime | None, active: bool,
                             disabled_reason: str | None) -> bool:
        changed = await self._exec(
            "UPDATE webhooks SET cursor = ?, attempt = ?, next_attempt_at = ?,"
            " failing_since = ?, lease_owner = ?, lease_until = ?, active = ?,"
            " disabled_reason = ?, updated_at = CASE WHEN ? THEN updated_at ELSE ? END"
            " WHERE board_id = ? AND id = ? AND lease_owner = ? AND lease_until >= ?"
            " AND active = 1 AND updated_at = ?",
            (cursor, attempt, opt_ts(next_attempt_at), opt_ts(failing_since),
             owner if lease_until is not None else None, opt_ts(lease_until), int(active),
             disabled_reason, int(active), to_ts(now), board_id, webhook_id, owner,
             to_ts(now), to_ts(settings_at)))
        return changed == 1

    async def insert_delivery(self, delivery: Delivery) -> None:
        d = delivery
        await self._exec(
            "INSERT INTO webhook_deliveries (id, webhook_id, board_id, seq, event_type,"
            " message_id, status, response_code, duration_ms, attempt, error, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (d.id, d.webhook_id, d.board_id, d.seq, d.event_type, d.message_id, d.status,
             d.response_code, d.duration_ms, d.attempt, d.error, to_ts(d.at)))
        await self._exec(
            "DELETE FROM webhook_deliveries WHERE webhook_id = ? AND id IN ("
            " SELECT id FROM webhook_deliveries WHERE webhook_id = ?"
            " ORDER BY at DESC, id DESC LIMIT -1 OFFSET ?)",
            (d.webhook_id, d.webhook_id, DELIVERIES_KEPT))


# Statements of delete_board and the bound of prune_events (sqlite.py).
DELETE_BOARD = (("DELETE FROM webhook_deliveries WHERE board_id = ?"),
                ("DELETE FROM webhooks WHERE board_id = ?"))
UNDELIVERED = "SELECT min(cursor) FROM webhooks WHERE board_id = ? AND active = 1"

