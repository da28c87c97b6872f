"""Who is viewing each board: distinct users across instances, with expiry.

Each instance records its own viewers under its id; entries expire unless refreshed, so
the viewers of an instance that died disappear within `ttl` seconds.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Protocol

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

Viewer = dict[str, str]


class PresenceStore(Protocol):
    async def add(self, board_id: str, user_id: str, name: str) -> None: ...
    async def remove(self, board_id: str, user_id: str) -> None: ...
    async def viewers(self, board_id: str) -> list[Viewer]: ...
    async def refresh(self, entries: dict[str, dict[str, str]]) -> None:
        """Extends this instance's entries: board -> user_id -> name."""
        ...


def _distinct(entries: list[tuple[str, str]]) -> list[Viewer]:
    seen: dict[str, str] = {}
    for user_id, name in entries:
        seen.setdefault(user_id, name)
    return [{"user_id": u, "name": n} for u, n in sorted(seen.items(), key=lambda i: i[1])]


class MemoryPresence:
    def __init__(self) -> None:
        self._boards: dict[str, dict[str, str]] = defaultdict(dict)

    async def add(self, board_id: str, user_id: str, name: str) -> None:
        self._boards[board_id][user_id] = name

    async def remove(self, board_id: str, user_id: str) -> None:
        self._boards[board_id].pop(user_id, None)
        if not self._boards[board_id]:
            del self._boards[board_id]

    async def viewers(self, board_id: str) -> list[Viewer]:
        return _distinct(list(self._boards.get(board_id, {}).items()))

    async def refresh(self, entries: dict[str, dict[str, str]]) -> None:
        return None


class RedisPresence:
    """A sorted set per board; members name (user, instance), scores are expiry times."""

    def __init__(self, redis: Redis, *, instance_id: str, ttl: int = 45) -> None:
        self._redis = redis
        self._instance = instance_id
        self._ttl = ttl

    def _key(self, board_id: str) -> str:
        return f"taskflow:presence:{board_id}"

    def _member(self, user_id: str, name: str) -> str:
        return json.dumps([user_id, name, self._instance])

    async def add(self, board_id: str, user_id: str, name: str) -> None:
        try:
            key = self._key(board_id)
            await self._redis.zadd(key, {self._member(user_id, name): time.time() + self._ttl})
            await self._redis.expire(key, self._ttl * 2)
        except RedisError as exc:
            logger.warning("presence add failed: {}", exc)

    async def remove(self, board_id: str, user_id: str) -> None:
        try:
            key = self._key(board_id)
            members: list[bytes] = await self._redis.zrange(key, 0, -1)  # type: ignore[assignment]
            for member in members:
                user, _, instance = json.loads(member)
                if user == user_id and instance == self._instance:
                    await self._redis.zrem(key, member)
        except RedisError as exc:
            logger.warning("presence remove failed: {}", exc)

    async def viewers(self, board_id: str) -> list[Viewer]:
        try:
            members: list[bytes] = await self._redis.zrangebyscore(  # type: ignore[assignment]
                self._key(board_id), time.time(), "+inf")
        except RedisError as exc:
            logger.warning("presence read failed: {}", exc)
            return []
        decoded = [json.loads(m) for m in members]
        return _distinct([(d[0], d[1]) for d in decoded])

    async def refresh(self, entries: dict[str, dict[str, str]]) -> None:
        expiry = time.time() + self._ttl
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for board_id, users in entries.items():
                    key = self._key(board_id)
                    pipe.zremrangebyscore(key, "-inf", time.time())
                    if users:
                        pipe.zadd(key, {self._member(u, n): expiry for u, n in users.items()})
                        pipe.expire(key, self._ttl * 2)
                await pipe.execute()
        except RedisError as exc:
            logger.warning("presence refresh failed: {}", exc)
