"""The MongoDB store's Idempotency-Key ledger (collection `idempotency_keys`), used when no
Redis is configured. One document per (user, key), `_id` the scope; single-document writes,
atomic without a transaction. `expires_at` is the claim's lease end, then the response's end;
a TTL index deletes expired documents (within about a minute: MongoDB's TTL monitor), and a
claim takes over an expired one that is still there. Unsharded, like `notifications`."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from taskflow.storage.mongo_queries import MongoQueries

COLLECTION = "idempotency_keys"


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class MongoIdempotencyKeys(MongoQueries):
    async def claim_idempotency_key(self, scope: str, owner: str, *, now: float,
                                    expires_at: float) -> tuple[str | None, str | None]:
        keys = self._db[COLLECTION]
        claim = {"owner": owner, "record": None, "expires_at": _at(expires_at)}
        for _ in range(3):  # the holder may expire (or be deleted) between the steps
            try:
                await keys.insert_one({"_id": scope, **claim})
                return None, None
            except DuplicateKeyError:
                pass
            taken = await keys.find_one_and_update(
                {"_id": scope, "expires_at": {"$lte": _at(now)}}, {"$set": claim},
                return_document=ReturnDocument.AFTER)
            if taken is not None:
                return None, None
            held = await keys.find_one({"_id": scope})
            if held is not None:
                record = held.get("record")
                return (None if record is not None else str(held.get("owner"))), record
        return "", None

    async def renew_idempotency_key(self, scope: str, owner: str, *, expires_at: float) -> bool:
        result = await self._db[COLLECTION].update_one(
            {"_id": scope, "owner": owner, "record": None},
            {"$set": {"expires_at": _at(expires_at)}})
        return result.matched_count == 1

    async def complete_idempotency_key(self, scope: str, owner: str, record: str, *,
                                       expires_at: float) -> None:
        await self._db[COLLECTION].update_one(
            {"_id": scope, "owner": owner, "record": None},
            {"$set": {"owner": None, "record": record, "expires_at": _at(expires_at)}})

    async def release_idempotency_key(self, scope: str, owner: str) -> None:
        await self._db[COLLECTION].delete_one({"_id": scope, "owner": owner, "record": None})

    async def purge_idempotency_keys(self, *, now: float) -> int:
        result = await self._db[COLLECTION].delete_many({"expires_at": {"$lte": _at(now)}})
        return result.deleted_count
