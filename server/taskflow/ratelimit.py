"""Rate limits through `limits`: atomic, self-expiring counters in Redis, or in memory.

The sliding-window counter keeps two fixed-window counters per key; in Redis each hit is
one Lua script (atomic across instances) and every key carries an expiry.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from loguru import logger
from redis.asyncio import Redis

from taskflow.errors import RateLimited


class RateLimiter:
    def __init__(self, *, redis: Redis | None, enabled: bool = True) -> None:
        """Counts in `redis` (sharing its connection pool) when given, else in memory."""
        self.enabled = enabled
        storage: Storage
        if redis is not None:
            storage = RedisStorage("async+redis://", implementation="redispy",
                                   key_prefix="taskflow:rl",
                                   connection_pool=redis.connection_pool,  # type: ignore[arg-type]
                                   )
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._parsed: dict[str, list[RateLimitItem]] = {}

    async def hit(self, limits: str, scope: str, key: str) -> None:
        """Counts one request of `key` in `scope`; RateLimited once any limit is spent."""
        if not self.enabled:
            return
        items = self._parsed.setdefault(limits, parse_many(limits))
        try:
            for item in items:
                if not await self._strategy.hit(item, scope, key):
                    stats = await self._strategy.get_window_stats(item, scope, key)
                    wait = math.ceil(stats.reset_time - time.time())
                    raise RateLimited(f"Limit of {item} reached; retry later", retry_after=wait)
        except RateLimited:
            raise
        except Exception as exc:  # a limiter outage must not take the API down with it
            logger.warning("rate limiter unavailable, letting the request through: {}", exc)

    async def reset(self) -> None:
        await self._storage.reset()
