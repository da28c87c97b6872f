"""The MongoDB store's webhooks and their deliveries (collections `webhooks`,
`webhook_deliveries`).

A lease is taken and a webhook's state advanced by one conditional update_one of the
webhook's document, atomic on every deployment. Both collections stay unsharded (few, small
documents, read by board and by the dispatcher's scan of active webhooks).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from taskflow.domain import Delivery, Webhook
from taskflow.storage.mongo_queries import MongoQueries
from taskflow.storage.mongo_records import Doc
from taskflow.timefmt import from_ts

DELIVERIES_KEPT = 100


def webhook_doc(w: Webhook) -> Doc:
    return {"_id": w.id, "board_id": w.board_id, "url": w.url, "events": list(w.events),
            "secret": w.secret, "active": w.active, "created_by": w.created_by,
            "created_at": w.created_at, "updated_at": w.updated_at, "cursor": w.cursor,
            "disabled_reason": w.disabled_reason, "lease_owner": w.lease_owner,
            "lease_until": w.lease_until, "attempt": w.attempt,
            "next_attempt_at": w.next_attempt_at, "failing_since": w.failing_since}


def webhook(doc: Doc) -> Webhook:
    return Webhook(id=doc["_id"], board_id=doc["board_id"], url=doc["url"],
                   events=tuple(doc["events"]), secret=doc["secret"], active=doc["active"],
                   created_by=doc["created_by"], created_at=doc["created_at"],
                   updated_at=doc["updated_at"], cursor=int(doc["cursor"]),
                   disabled_reason=doc.get("disabled_reason"),
                   lease_owner=doc.get("lease_owner"), lease_until=doc.get("lease_until"),
                   attempt=int(doc.get("attempt", 0)),
                   next_attempt_at=doc.get("next_attempt_at"),
                   failing_since=doc.get("failing_since"))


def delivery_doc(d: Delivery) -> Doc:
    return {"_id": d.id, "webhook_id": d.webhook_id, "board_id": d.board_id, "seq": d.seq,
            "event_type": d.event_type, "message_id": d.message_id, "status": d.status,
            "response_code": d.response_code, "duration_ms": d.duration_ms,
            "attempt": d.attempt, "error": d.error, "at": d.at}


def delivery(doc: Doc) -> Delivery:
    return Delivery(id=doc["_id"], webhook_id=doc["webhook_id"], board_id=doc["board_id"],
                    seq=doc["seq"], event_type=doc["event_type"], message_id=doc["message_id"],
                    status=doc["status"], response_code=doc.get("response_code"),
                    duration_ms=doc["duration_ms"], attempt=doc["attempt"],
                    error=doc.get("error"), at=doc["at"])


class MongoWebhookQueries(MongoQueries):
    async def select_webhook(self, board_id: str, webhook_id: str) -> Webhook | None:
        doc = await self._one("webhooks", {"_id": webhook_id, "board_id": board_id})
        return webhook(doc) if doc else None

    async def select_webhooks(self, board_id: str, *, limit: int,
                              after: tuple[str, str] | None) -> list[Webhook]:
        # Two plain ranges rather than an `$or` (see mongo_notify.py).
        ranges: list[Doc] = [{}]
        if after is not None:
            created = _from_key(after[0])
            ranges = [{"created_at": created, "_id": {"$gt": after[1]}},
                      {"created_at": {"$gt": created}}]
        found: list[Webhook] = []
        for extra in ranges:
            docs = await self._all("webhooks", {"board_id": board_id, **extra},
                                   sort=[("created_at", 1), ("_id", 1)], limit=limit - len(found))
            found += [webhook(doc) for doc in docs]
            if len(found) >= limit:
                break
        return found

    async def select_active_webhooks(self, *, limit: int) -> list[Webhook]:
        docs = await self._all("webhooks", {"active": True}, sort=[("_id", 1)], limit=limit)
        return [webhook(doc) for doc in docs]

    async def select_deliveries(self, board_id: str, webhook_id: str, *, limit: int,
                                after: tuple[str, str] | None) -> list[Delivery]:
        ranges: list[Doc] = [{}]
        if after is not None:
            at = _from_key(after[0])
            ranges = [{"at": at, "_id": {"$lt": after[1]}}, {"at": {"$lt": at}}]
        found: list[Delivery] = []
        for extra in ranges:
            docs = await self._all("webhook_deliveries",
                                   {"webhook_id": webhook_id, "board_id": board_id, **extra},
                                   sort=[("at", -1), ("_id", -1)], limit=limit - len(found))
            found += [delivery(doc) for doc in docs]
            if len(found) >= limit:
                break
        return found


def _from_key(text: str) -> datetime:
    return from_ts(text)


class MongoWebhookWrites(MongoWebhookQueries):
    async def insert_webhook(self, webhook: Webhook) -> None:
        await self._db["webhooks"].insert_one(webhook_doc(webhook), session=self._session)

    async def update_webhook_settings(self, board_id: str, webhook_id: str, *, url: str,
                                      events: Sequence[str], active: bool,
                                      disabled_reason: str | None, updated_at: datetime,
                                      reset_retries: bool) -> None:
        changes: Doc = {"url": url, "events": list(events), "active": active,
                        "disabled_reason": disabled_reason, "updated_at": updated_at}
        if reset_retries:
            changes.update(attempt=0, next_attempt_at=None, failing_since=None)
        await self._db["webhooks"].update_one({"_id": webhook_id, "board_id": board_id},
                                              {"$set": changes}, session=self._session)

    async def delete_webhook(self, board_id: str, webhook_id: str) -> None:
        await self._db["webhook_deliveries"].delete_many(
            {"webhook_id": webhook_id, "board_id": board_id}, session=self._session)
        await self._db["webhooks"].delete_one({"_id": webhook_id, "board_id": board_id},
                                              session=self._session)

    async def delete_webhooks_of_board(self, board_id: str) -> None:
        await self._db["webhook_deliveries"].delete_many({"board_id": board_id},
                                                         session=self._session)
        await self._db["webhooks"].delete_many({"board_id": board_id}, session=self._session)

    async def claim_webhook(self, board_id: str, webhook_id: str, *, owner: str, now: datetime,
                            until: datetime) -> bool:
        # Three attempts with one plain condition each rather than an `$or`.
        for free in ({"lease_owner": None}, {"lease_owner": owner},
                     {"lease_until": {"$lt": now}}):
            result = await self._db["webhooks"].update_one(
                {"_id": webhook_id, "board_id": board_id, "active": True, **free},
                {"$set": {"lease_owner": owner, "lease_until": until}}, session=self._session)
            if result.matched_count == 1:
                return True
        return False

    async def settle_webhook(self, board_id: str, webhook_id: str, *, owner: str, now: datetime,
                             settings_at: datetime, cursor: int, attempt: int,
                             next_attempt_at: datetime | None, failing_since: datetime | None,
                             lease_until: datetime | None, active: bool,
                             disabled_reason: str | None) -> bool:
        changes: Doc = {"cursor": cursor, "attempt": attempt, "next_attempt_at": next_attempt_at,
                        "failing_since": failing_since, "lease_until": lease_until,
                        "lease_owner": owner if lease_until is not None else None,
                        "active": active, "disabled_reason": disabled_reason}
        if not active:
            changes["updated_at"] = now
        result = await self._db["webhooks"].update_one(
            {"_id": webhook_id, "board_id": board_id, "lease_owner": owner,
             "lease_until": {"$gte": now}, "active": True, "updated_at": settings_at},
            {"$set": changes}, session=self._session)
        return result.matched_count == 1

    async def insert_delivery(self, delivery: Delivery) -> None:
        collection = self._db["webhook_deliveries"]
        await collection.insert_one(delivery_doc(delivery), session=self._session)
        old = await self._all("webhook_deliveries", {"webhook_id": delivery.webhook_id},
                              sort=[("at", -1), ("_id", -1)], skip=DELIVERIES_KEPT,
                              projection={"_id": 1})
        if old:
            await collection.delete_many({"_id": {"$in": [doc["_id"] for doc in old]}},
                                         session=self._session)

    async def undelivered_seq(self, board_id: str) -> int | None:
        """The lowest cursor of the board's active webhooks (prune_events keeps what's after)."""
        docs = await self._all("webhooks", {"board_id": board_id, "active": True},
                               sort=[("cursor", 1)], limit=1, projection={"cursor": 1})
        return int(docs[0]["cursor"]) if docs else None
