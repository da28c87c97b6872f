"""Rate limits through `limits`: atomic, self-expiring counters in Redis, or in memory.

The sliding-window counter keeps two fixed-window counters per key; in Redis each hit is
one Lua script (atomic across instances) and every key carries an expiry. The script reads
and renames both counters, so on a Redis Cluster they must share a slot: `limits` names them
`<prefix>:{LIMITER/<scope>/<key>/<limit>}` and `...}/-1`, a hash tag per counter. Our prefix
holds no brace, so that tag is the first one of the key: each counter's pair stays on one slot
while different counters spread over the cluster (a tag in the prefix would put every
counter of the application on one node).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from loguru import logger
from redis.asyncio import RedisCluster

from taskflow.errors import RateLimited
from taskflow.redisconn import RedisClient

KEY_PREFIX = "taskflow:rl"  # no braces: see the module's docstring


class _GivenClusterStorage(RedisClusterStorage):
    """`limits`' cluster storage on our own `RedisCluster` client: it has no option to take
    one (it builds a client from a URL), so the client is put where its redis-py bridge
    keeps the one it builds (tests/test_rediscluster.py runs it against a real cluster)."""

    def __init__(self, client: RedisCluster) -> None:
        self._client = client
        super().__init__("async+redis+cluster://", implementation="redispy",
                         key_prefix=KEY_PREFIX)

    def configure_bridge(self) -> None:
        client = self._client
        self.bridge.storage = client  # type: ignore[attr-defined]
        self.bridge.connection_getter = lambda _readonly: client  # type: ignore[attr-defined]


class RateLimiter:
    def __init__(self, *, redis: RedisClient | None, enabled: bool = True) -> None:
        """Counts in `redis` (sharing its connections) when given, else in memory."""
        self.enabled = enabled
        storage: Storage
        if isinstance(redis, RedisCluster):
            storage = _GivenClusterStorage(redis)
        elif redis is not None:
            storage = RedisStorage("async+redis://", implementation="redispy",
                                   key_prefix=KEY_PREFIX,
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
