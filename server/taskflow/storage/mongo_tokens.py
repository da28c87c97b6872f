"""The MongoDB store's personal access tokens (collection `personal_tokens`).

A token's `_id` is its id; the secret's SHA-256 has a unique index, through which every
request made with the token finds it. The collection stays unsharded (on the database's
primary shard): it is read by hash and listed by user, and no one shard key serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from taskflow.domain import PersonalToken
from taskflow.storage.mongo_queries import MongoQueries
from taskflow.storage.mongo_records import Doc
from taskflow.timefmt import from_ts


def personal_token_doc(t: PersonalToken) -> Doc:
    return {"_id": t.id, "user_id": t.user_id, "name": t.name, "scopes": list(t.scopes),
            "token_hash": t.token_hash, "created_at": t.created_at, "expires_at": t.expires_at,
            "last_used_at": t.last_used_at}


def personal_token(doc: Doc) -> PersonalToken:
    return PersonalToken(id=doc["_id"], user_id=doc["user_id"], name=doc["name"],
                         scopes=tuple(doc["scopes"]), token_hash=doc["token_hash"],
                         created_at=doc["created_at"], expires_at=doc["expires_at"],
                         last_used_at=doc.get("last_used_at"))


class MongoTokenQueries(MongoQueries):
    async def select_personal_token(self, token_hash: str) -> PersonalToken | None:
        doc = await self._one("personal_tokens", {"token_hash": token_hash})
        return personal_token(doc) if doc else None

    async def select_personal_tokens(self, user_id: str, *, limit: int,
                                     after: tuple[str, str] | None) -> list[PersonalToken]:
        # Two plain ranges rather than an `$or` (see mongo_notify.select_notifications).
        ranges: list[Doc] = [{}]
        if after is not None:
            created = from_ts(after[0])
            ranges = [{"created_at": created, "_id": {"$gt": after[1]}},
                      {"created_at": {"$gt": created}}]
        found: list[PersonalToken] = []
        for extra in ranges:
            docs = await self._all("personal_tokens", {"user_id": user_id, **extra},
                                   sort=[("created_at", 1), ("_id", 1)], limit=limit - len(found))
            found += [personal_token(doc) for doc in docs]
            if len(found) >= limit:
                break
        return found

    async def select_live_personal_tokens(self, token_ids: Sequence[str],
                                          now: datetime) -> list[str]:
        docs = await self._all("personal_tokens",
                               {"_id": {"$in": list(token_ids)}, "expires_at": {"$gt": now}},
                               projection={"_id": 1})
        return [doc["_id"] for doc in docs]


class MongoTokenWrites(MongoTokenQueries):
    async def insert_personal_token(self, token: PersonalToken) -> None:
        await self._db["personal_tokens"].insert_one(personal_token_doc(token),
                                                     session=self._session)

    async def touch_personal_token(self, token_id: str, at: datetime,
                                   unless_since: datetime) -> None:
        await self._db["personal_tokens"].update_one(
            {"_id": token_id, "$or": [{"last_used_at": None},
                                      {"last_used_at": {"$lt": unless_since}}]},
            {"$set": {"last_used_at": at}}, session=self._session)

    async def delete_personal_token(self, user_id: str, token_id: str) -> bool:
        result = await self._db["personal_tokens"].delete_one(
            {"_id": token_id, "user_id": user_id}, session=self._session)
        return int(result.deleted_count) == 1

    async def delete_personal_tokens_of_user(self, user_id: str) -> list[str]:
        ids = [doc["_id"] for doc in await self._all("personal_tokens", {"user_id": user_id},
                                                     projection={"_id": 1})]
        if ids:
            await self._db["personal_tokens"].delete_many(
                {"user_id": user_id, "_id": {"$in": ids}}, session=self._session)
        return ids

    async def purge_personal_tokens(self, before: datetime) -> int:
        result = await self._db["personal_tokens"].delete_many(
            {"expires_at": {"$lt": before}}, session=self._session)
        return int(result.deleted_count)
