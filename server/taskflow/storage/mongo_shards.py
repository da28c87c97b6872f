"""The sharded layout: each collection's shard key, and `taskflow db init` on a sharded cluster.

Everything that belongs to a board is keyed by `board_id` first, so that a board's tasks,
comments, attachments, members and event log each sit in one contiguous key range and
every query of one board goes to the shard(s) owning that range. Keys are ranged, not
hashed: ids are 96 random bits (`ids.new_id`), so ranges of them spread over the shards as
evenly as hashes would; a ranged key keeps a board contiguous and lets `(board_id, seq)` be
the events' shard key *and* their unique index (MongoDB enforces a unique index on a sharded
collection only when it starts with the shard key, and a hashed index can't be unique, so a
hashed `board_id` could not back that index). The second field of each key lets the
balancer split one big board.

Documents found by their own id alone are keyed by that id: users, boards, logins, refresh
tokens, and two lookups whose `_id` is what the caller knows: `user_emails` (a casefolded
email -> user id; its `_id` being the shard key is what keeps emails unique across shards)
and `task_boards` (a task id -> its board id: `GET /tasks/{id}` knows nothing else).
`deleted_boards` (short-lived tombstones, scanned by time) and `imports` (board imports under
way, as short-lived and scanned by time too) stay unsharded, on the
database's primary shard, and so do `notifications` and `watches` (read by user, deleted by
board: no one key serves both; see mongo_notify.py), `idempotency_keys` (used only without
Redis; small, short-lived, deleted by its TTL index; see mongo_idempotency.py), `webhooks`
(few; scanned by the dispatcher across boards), `webhook_deliveries` (at most 100 per
webhook; see mongo_webhooks.py) and `personal_tokens` (found by the secret's hash, listed by
user; see mongo_tokens.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from loguru import logger
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Key = tuple[tuple[str, int], ...]

SHARD_KEYS: dict[str, Key] = {
    "users": (("_id", 1),),
    "user_emails": (("_id", 1),),
    "boards": (("_id", 1),),
    "members": (("board_id", 1), ("user_id", 1)),
    "tasks": (("board_id", 1), ("_id", 1)),
    "task_boards": (("_id", 1),),
    "comments": (("board_id", 1), ("task_id", 1)),
    "attachments": (("board_id", 1), ("task_id", 1)),
    # A board's log is one range ordered by seq: `since` reads and appends stay in it.
    "events": (("board_id", 1), ("seq", 1)),
    "logins": (("_id", 1),),
    "refresh_tokens": (("_id", 1),),
}


class ShardingError(Exception):
    """The cluster's sharding can't be made what TaskFlow needs; the message is one line."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """What `hello` and `buildInfo` said about the server behind the URI."""

    sharded: bool
    version: tuple[int, ...]


async def deployment(client: AsyncMongoClient[dict[str, Any]]) -> Deployment:
    """A mongos answers `hello` with msg "isdbgrid"; anything else is no sharded cluster."""
    hello = await client.admin.command("hello")
    if hello.get("msg") != "isdbgrid":
        return Deployment(sharded=False, version=())
    info = await client.admin.command("buildInfo")
    return Deployment(sharded=True, version=tuple(int(part) for part in info["versionArray"][:3]))


def shard_key_served(key: Key, index_keys: list[Key]) -> bool:
    """Whether one of the indexes starts with the shard key (what shardCollection needs)."""
    return any(index[:len(key)] == key for index in index_keys)


def normalized_key(key: dict[str, Any]) -> Key | None:
    """A key document as ((field, 1|-1), ...); None when hashed (TaskFlow never uses that)."""
    fields: list[tuple[str, int]] = []
    for name, way in key.items():
        if isinstance(way, str):
            return None
        fields.append((name, 1 if way > 0 else -1))
    return tuple(fields)


def describe(key: Key | dict[str, Any]) -> str:
    pairs = key.items() if isinstance(key, dict) else key
    return "{" + ", ".join(f"{name}: {way!r}" for name, way in pairs) + "}"


async def shard_collections(client: AsyncMongoClient[dict[str, Any]],
                            db: AsyncDatabase[dict[str, Any]], version: tuple[int, ...]) -> int:
    """Shards each collection of SHARD_KEYS by its key; returns how many it sharded now.

    Idempotent: a collection already sharded by the same key is left alone; one sharded by
    another key raises ShardingError (resharding is an operator's decision). The
    collections and their other indexes must exist already (`ensure_indexes`).
    """
    if version < (6, 0):  # since 6.0 every database may hold sharded collections
        await client.admin.command("enableSharding", db.name)
    current = await _sharded_keys(client, db.name)
    done = 0
    for name, key in SHARD_KEYS.items():
        namespace = f"{db.name}.{name}"
        if namespace in current:
            have = current[namespace]
            if normalized_key(have) != key:
                raise ShardingError(f"{namespace} is already sharded by {describe(have)}, not "
                                    f"{describe(key)}: reshard it (reshardCollection) or use "
                                    "another database")
            continue
        existing = [normalized_key(spec["key"]) or ()
                    async for spec in await db[name].list_indexes()]
        if not shard_key_served(key, existing):
            # shardCollection builds it on an empty collection only.
            await db[name].create_index(list(key), name=f"{name}_shard_key")
        await client.admin.command("shardCollection", namespace, key=dict(key))
        logger.info("sharded {} by {}", namespace, describe(key))
        done += 1
    return done


async def _sharded_keys(client: AsyncMongoClient[dict[str, Any]],
                        database: str) -> dict[str, dict[str, Any]]:
    """Namespace -> shard key of the database's sharded collections (from config.collections).

    MongoDB 8 lists unsharded collections there too, marked `unsplittable`.
    """
    found: dict[str, dict[str, Any]] = {}
    cursor = client["config"]["collections"].find(
        {"_id": {"$regex": f"^{re.escape(database)}\\."}, "dropped": {"$ne": True}})
    async for doc in cursor:
        if not doc.get("unsplittable") and "key" in doc:
            found[doc["_id"]] = dict(doc["key"])
    return found

