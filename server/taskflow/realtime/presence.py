"""Who is viewing each board: distinct users across instances, with expiry.

Presence is derived from this instance's joined connections: `enter` and `exit` change a
local count at once (no await, so no join or close can slip between a check and the
change). One worker writes what changed to the shared store, board by board, always the
current local state, so a removal can never land after the re-add that followed it; then
it tells the board's viewers on every instance. `settled` waits until the store holds a
board's state as of the call: a join or leave is acknowledged only then, so an ack means
every instance's next read of the board's viewers agrees. Each instance records its own viewers under
its id and refreshes them; entries expire, so the viewers of an instance that died
disappear within `ttl` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from loguru import logger

from taskflow.redisconn import REDIS_ERRORS, RedisClient

Viewer = dict[str, str]
Users = dict[str, str]  # user_id -> name
# (board, viewers, everywhere): to the board's sockets on every instance, or on this one only
Announce = Callable[[str, list[Viewer], bool], Awaitable[None]]


class PresenceStore(Protocol):
    async def put(self, board_id: str, users: Users) -> None:
        """Replaces this instance's viewers of the board."""
        ...

    async def viewers(self, board_id: str) -> list[Viewer]: ...

    async def refresh(self, entries: dict[str, Users]) -> set[str]:
        """Extends those of this instance's entries (board -> user_id -> name) that the store
        still holds, and never adds one (that is the worker's `put`, whose removals a refresh
        must not undo); returns the boards where some were missing (the store lost them)."""
        ...


def _distinct(entries: list[tuple[str, str]]) -> list[Viewer]:
    seen: dict[str, str] = {}
    for user_id, name in entries:
        seen.setdefault(user_id, name)
    return [{"user_id": u, "name": n} for u, n in sorted(seen.items(), key=lambda i: i[1])]


class MemoryPresence:
    def __init__(self) -> None:
        self._boards: dict[str, Users] = {}

    async def put(self, board_id: str, users: Users) -> None:
        if users:
            self._boards[board_id] = dict(users)
        else:
            self._boards.pop(board_id, None)

    async def viewers(self, board_id: str) -> list[Viewer]:
        return _distinct(list(self._boards.get(board_id, {}).items()))

    async def refresh(self, entries: dict[str, Users]) -> set[str]:
        return set()


class RedisPresence:
    """A sorted set per board; members name (user, name, instance), scores are expiry times.

    The key's hash tag is the board id: on a Redis Cluster every key of one board shares a
    slot, so `put`'s MULTI (and any later multi-key command on a board) stays on one node;
    `refresh`'s pipeline spans boards and is not a transaction (split per node)."""

    def __init__(self, redis: RedisClient, *, instance_id: str, ttl: int = 45) -> None:
        self._redis = redis
        self._instance = instance_id
        self._ttl = ttl

    def _key(self, board_id: str) -> str:
        return f"taskflow:presence:{{{board_id}}}"

    def _member(self, user_id: str, name: str) -> str:
        return json.dumps([user_id, name, self._instance])

    async def put(self, board_id: str, users: Users) -> None:
        key = self._key(board_id)
        members: list[bytes] = await self._redis.zrange(key, 0, -1)  # type: ignore[assignment]
        wanted = {self._member(u, n) for u, n in users.items()}
        stale = [m for m in members
                 if json.loads(m)[2] == self._instance and m.decode() not in wanted]
        async with self._redis.pipeline(transaction=True) as pipe:
            if stale:
                pipe.zrem(key, *stale)
            if wanted:
                pipe.zadd(key, dict.fromkeys(wanted, time.time() + self._ttl))
                pipe.expire(key, self._ttl * 2)
            await pipe.execute()

    async def viewers(self, board_id: str) -> list[Viewer]:
        members: list[bytes] = await self._redis.zrangebyscore(  # type: ignore[assignment]
            self._key(board_id), time.time(), "+inf")
        decoded = [json.loads(m) for m in members]
        return _distinct([(d[0], d[1]) for d in decoded])

    async def refresh(self, entries: dict[str, Users]) -> set[str]:
        expiry = time.time() + self._ttl
        asked: list[str] = []
        async with self._redis.pipeline(transaction=False) as pipe:
            for board_id, users in entries.items():
                key = self._key(board_id)
                pipe.zremrangebyscore(key, "-inf", time.time())
                if users:
                    members = [self._member(u, n) for u, n in users.items()]
                    # XX: extend, never add. A snapshot taken before a socket left would
                    # otherwise list its user again after the worker removed it.
                    pipe.zadd(key, dict.fromkeys(members, expiry), xx=True)
                    pipe.expire(key, self._ttl * 2)
                    pipe.zmscore(key, members)
                    asked.append(board_id)
            results = await pipe.execute()
        scores = [r for r in results if isinstance(r, list)]
        return {board_id for board_id, found in zip(asked, scores, strict=True)
                if any(score is None for score in found)}


class Presence:
    """The one owner of presence on this instance."""

    def __init__(self, store: PresenceStore, *, announce: Announce) -> None:
        self.store = store
        self._announce = announce
        self._local: dict[str, dict[str, tuple[str, int]]] = {}  # board -> user -> (name, sockets)
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._last: dict[str, list[Viewer]] = {}
        self._failed: set[str] = set()  # boards whose last update did not reach the store
        self._changes: dict[str, int] = {}  # board -> local changes so far
        self._written: dict[str, int] = {}  # board -> changes the store has seen
        self._waiters: dict[str, list[tuple[int, asyncio.Future[list[Viewer] | None]]]] = {}

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    def enter(self, board_id: str, user_id: str, name: str) -> bool:
        """Counts one more socket of the user on the board; True if that lists the user."""
        users = self._local.setdefault(board_id, {})
        sockets = users.get(user_id, (name, 0))[1] + 1
        users[user_id] = (name, sockets)
        if sockets == 1:
            self._touch(board_id)
        return sockets == 1

    def announce(self, board_id: str) -> None:
        """Tells the board's viewers on every instance, again, who is viewing it."""
        self._touch(board_id)

    def exit(self, board_id: str, user_id: str) -> None:
        users = self._local.get(board_id, {})
        if user_id not in users:
            return
        name, sockets = users[user_id]
        if sockets > 1:
            users[user_id] = (name, sockets - 1)
            return
        del users[user_id]
        if not users:
            del self._local[board_id]
        self._touch(board_id)

    async def settled(self, board_id: str) -> list[Viewer] | None:
        """Returns once the store holds this instance's viewers of the board as of now (or
        failed to take them: the refresh retries). When it had to wait, returns the board's
        viewers as read right after that write (None when it failed, or had nothing to wait
        for): a join needs no read of its own."""
        target = self._changes.get(board_id, 0)
        if self._written.get(board_id, 0) >= target:
            return None
        done: asyncio.Future[list[Viewer] | None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(board_id, []).append((target, done))
        return await done

    def local_users(self, board_id: str) -> Users:
        return {u: name for u, (name, _) in self._local.get(board_id, {}).items()}

    async def viewers(self, board_id: str) -> list[Viewer]:
        try:
            return await self.store.viewers(board_id)
        except REDIS_ERRORS as exc:
            logger.warning("presence read failed: {}", exc)
            return _distinct(list(self.local_users(board_id).items()))

    async def refresh(self) -> None:
        """Extends this instance's entries; tells viewers of boards whose set changed
        (the viewers of a dead instance expire)."""
        try:
            missing = await self.store.refresh({b: self.local_users(b) for b in self._local})
        except REDIS_ERRORS as exc:
            logger.warning("presence refresh failed: {}", exc)
            return
        # Boards the store lost entries of (a Redis restart) are written again by the worker,
        # with the local state as it is then, like those whose last write failed.
        for board_id in self._failed | missing:
            self._touch(board_id)
        self._failed.clear()
        for board_id in list(self._local):
            viewers = await self.viewers(board_id)
            if viewers != self._last.get(board_id):
                self._last[board_id] = viewers
                await self._announce(board_id, viewers, False)

    def _touch(self, board_id: str) -> None:
        self._changes[board_id] = self._changes.get(board_id, 0) + 1
        self._dirty.add(board_id)
        self._wake.set()

    def _wrote(self, board_id: str, upto: int, viewers: list[Viewer] | None) -> None:
        self._written[board_id] = upto
        waiting = self._waiters.pop(board_id, [])
        for target, done in waiting:
            if target <= upto:
                if not done.done():
                    done.set_result(viewers)
            else:
                self._waiters.setdefault(board_id, []).append((target, done))
        if board_id not in self._local and board_id not in self._waiters \
                and board_id not in self._dirty:
            self._changes.pop(board_id, None)
            self._written.pop(board_id, None)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._dirty:
                board_id = self._dirty.pop()
                upto = self._changes.get(board_id, 0)
                try:
                    await self.store.put(board_id, self.local_users(board_id))
                    viewers = await self.store.viewers(board_id)
                except REDIS_ERRORS as exc:
                    logger.warning("presence update of board {} failed: {}", board_id, exc)
                    self._failed.add(board_id)  # retried by the next refresh
                    self._wrote(board_id, upto, None)
                    continue
                self._wrote(board_id, upto, viewers)
                if board_id in self._local:
                    self._last[board_id] = viewers
                else:
                    self._last.pop(board_id, None)
                try:
                    await self._announce(board_id, viewers, True)
                except Exception:
                    logger.exception("presence announcement of board {} failed", board_id)
