"""The cache: in-process by default, Redis when REDIS_URL is set. A failure is a miss."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from loguru import logger

from taskflow.redisconn import REDIS_ERRORS, RedisClient


class _Counted:
    """Counts hits and misses; `on_lookup(hit)` also feeds the metrics when given."""

    def __init__(self, on_lookup: Callable[[bool], None] | None = None) -> None:
        self.hits = 0
        self.misses = 0
        self._on_lookup = on_lookup

    def _count(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        if self._on_lookup is not None:
            self._on_lookup(hit)


class MemoryCache(_Counted):
    """A bounded LRU with expiry, for one process."""

    def __init__(self, max_entries: int = 10_000,
                 on_lookup: Callable[[bool], None] | None = None) -> None:
        super().__init__(on_lookup)
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            self._entries.pop(key, None)
            self._count(False)
            return None
        self._entries.move_to_end(key)
        self._count(True)
        return entry[1]

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)


class RedisCache(_Counted):
    """Shared by every instance; keys are prefixed so one Redis can serve several apps.

    No hash tags: each entry lives on its own slot of a cluster, and `delete` of several
    keys is split per slot by the cluster client (an invalidation needs no atomicity)."""

    def __init__(self, redis: RedisClient, prefix: str = "taskflow:cache:",
                 on_lookup: Callable[[bool], None] | None = None) -> None:
        super().__init__(on_lookup)
        self._redis = redis
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(self._prefix + key)
        except REDIS_ERRORS as exc:
            logger.warning("cache get failed, treating as a miss: {}", exc)
            value = None
        if not isinstance(value, bytes):
            value = None
        self._count(value is not None)
        return value

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        try:
            await self._redis.set(self._prefix + key, value, ex=ttl)
        except REDIS_ERRORS as exc:
            logger.warning("cache set failed: {}", exc)

    async def delete(self, *keys: str) -> None:
        if not keys:
            return
        try:
            await self._redis.delete(*(self._prefix + key for key in keys))
        except REDIS_ERRORS as exc:
            logger.warning("cache delete failed: {}", exc)
