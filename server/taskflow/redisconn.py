"""The one Redis client of an instance: a single server, or a Redis Cluster.

TASKFLOW_REDIS_MODE=cluster makes REDIS_URL name any node of a cluster; redis-py's
`RedisCluster` learns the others from it and routes each command by its key's slot. The rest
of the code takes the client it is given and uses only what both clients do alike: one-key
commands, multi-key `delete` (split per slot by the cluster client), pipelines (a MULTI only
on keys of one slot) and scripts whose keys share a hash tag. Hash tags in use (README,
"Redis Cluster"): `taskflow:presence:{<board_id>}`, and the rate-limit counters'
`taskflow:rl:{LIMITER/...}` that `limits` writes.

Nothing connects here: both clients open their connections on the first command, so an
instance starts while Redis is down, as readiness then reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisClusterException, RedisError

if TYPE_CHECKING:  # the cache and the limiter import this module: no import of the wiring
    from taskflow.config import Settings

RedisClient: TypeAlias = Redis | RedisCluster
# What a Redis outage raises: the cluster client also raises RedisClusterException, which is
# no RedisError (RedisClusterUnreachableError when no node answers, SlotNotCoveredError).
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)


def redis_client(settings: Settings) -> RedisClient | None:
    """The client REDIS_URL and TASKFLOW_REDIS_MODE name; None without REDIS_URL."""
    if not settings.redis_url:
        return None
    if settings.redis_mode == "cluster":
        return RedisCluster.from_url(settings.redis_url)
    return Redis.from_url(settings.redis_url)


class ClusterDown(Exception):
    """The cluster answers but can't serve every slot (CLUSTER INFO says cluster_state:fail)."""


async def ping(client: RedisClient) -> None:
    """Readiness: Redis answers; a cluster must also serve every slot (asked of the node the
    client sends keyless commands to, re-chosen by the client when that node fails)."""
    if isinstance(client, RedisCluster):
        info = await client.cluster_info()
        state = info.get("cluster_state") if isinstance(info, dict) else None
        if state != "ok":
            raise ClusterDown(f"cluster_state:{state}")
        return
    await client.ping()
