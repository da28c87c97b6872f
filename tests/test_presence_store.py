"""RedisPresence on a real Redis: the periodic refresh extends entries, never re-adds one.

The refresh extends what the instance listed a moment before; the worker's `put` writes
the current state. A refresh whose snapshot was taken before a socket left must not list
that user again after the worker removed them (a fresh join on another instance would see
a viewer who is gone until the entry expires). Entries the store lost (a Redis restart)
are reported, for the worker to write again.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from taskflow.realtime.presence import RedisPresence

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def test_a_refresh_never_lists_a_viewer_the_worker_removed(redis: Redis) -> None:
    presence = RedisPresence(redis, instance_id=f"i-{secrets.token_hex(4)}", ttl=30)
    board = f"b-{secrets.token_hex(6)}"
    try:
        await presence.put(board, {"ada": "Ada", "bob": "Bob"})
        snapshot = {board: {"ada": "Ada", "bob": "Bob"}}  # what the refresh read, then Bob left
        await presence.put(board, {"ada": "Ada"})  # the worker writes Bob's leave first
        # Bob's entry is missing, so the board is reported: the worker then writes the
        # local state as it is by then (without Bob), which is harmless.
        assert await presence.refresh(snapshot) == {board}
        assert [v["user_id"] for v in await presence.viewers(board)] == ["ada"]
    finally:
        await redis.delete(f"taskflow:presence:{{{board}}}")


async def test_a_refresh_extends_entries_and_reports_lost_ones(redis: Redis) -> None:
    presence = RedisPresence(redis, instance_id=f"i-{secrets.token_hex(4)}", ttl=30)
    kept, lost = f"b-{secrets.token_hex(6)}", f"b-{secrets.token_hex(6)}"
    keys = [f"taskflow:presence:{{{b}}}" for b in (kept, lost)]
    try:
        for board in (kept, lost):
            await presence.put(board, {"ada": "Ada"})
        member = next(iter(await redis.zrange(keys[0], 0, -1)))
        before = await redis.zscore(keys[0], member)
        await redis.delete(keys[1])  # as after a Redis restart
        longer = RedisPresence(redis, instance_id=presence._instance, ttl=60)
        missing = await longer.refresh({kept: {"ada": "Ada"}, lost: {"ada": "Ada"}})
        assert missing == {lost}
        after = await redis.zscore(keys[0], member)
        assert before is not None and after is not None and after > before + 20
        assert await redis.exists(keys[1]) == 0  # re-adding is the worker's job, not refresh's
    finally:
        await redis.delete(*keys)
