"""Task statistics, cached briefly.

Cache keys carry the `seq` of every board they count. Every write that can change a
count appends a board event, so it moves `seq`, and the next read misses the old entry:
read-your-writes across instances, with no race between a slow reader refilling the cache
and a writer clearing it. Time-dependent counts (overdue, due soon) may lag by the TTL.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from taskflow.domain import Stats
from taskflow.services.access import Actor, board_for
from taskflow.services.ports import Cache, Clock, Store


class StatsService:
    def __init__(self, *, store: Store, cache: Cache, clock: Clock, ttl: int = 60) -> None:
        self._store = store
        self._cache = cache
        self._clock = clock
        self._ttl = ttl

    async def for_board(self, actor: Actor, board_id: str) -> Stats:
        board = await board_for(self._store, board_id, actor)
        return await self._cached(f"stats:board:{board.id}:{board.seq}", [board.id])

    async def for_user(self, actor: Actor) -> Stats:
        seqs = await self._store.select_board_seqs_of_user(actor.user_id)
        digest = hashlib.sha256(json.dumps(seqs).encode()).hexdigest()[:32]
        return await self._cached(f"stats:user:{actor.user_id}:{digest}", [b for b, _ in seqs])

    async def _cached(self, key: str, board_ids: list[str]) -> Stats:
        hit = await self._cache.get(key)
        if hit is not None:
            return Stats(**json.loads(hit))
        stats = await self._store.compute_stats(board_ids, self._clock.now())
        await self._cache.set(key, json.dumps(asdict(stats)).encode(), self._ttl)
        return stats
