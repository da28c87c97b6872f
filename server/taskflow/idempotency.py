"""Idempotency-Key ledgers: one claim per (user, key), held while the first request runs, then
the response it got, kept for 24 h. Redis with REDIS_URL (shared by every instance), else the
store (SQLite table or MongoDB collection).

A claim is a lease: the instance running the request renews it (every third of the lease); a
claim of an instance that crashed lapses when the lease runs out, and a retry then runs again.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Protocol

from taskflow.clock import SystemClock
from taskflow.redisconn import RedisClient

RESPONSE_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class StoredResponse:
    """The first response to a keyed request, and the fingerprint of that request."""

    fingerprint: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def dumps(self) -> str:
        return json.dumps({"fingerprint": self.fingerprint, "status": self.status,
                           "headers": [list(h) for h in self.headers],
                           "body": base64.b64encode(self.body).decode("ascii")},
                          separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> StoredResponse:
        data = json.loads(text)
        return cls(fingerprint=data["fingerprint"], status=int(data["status"]),
                   headers=tuple((str(k), str(v)) for k, v in data["headers"]),
                   body=base64.b64decode(data["body"]))


@dataclass(frozen=True)
class Claim:
    """What claiming a key found: it is ours now, another request holds it, or it is done."""

    state: Literal["claimed", "running", "done"]
    stored: StoredResponse | None = None


class IdempotencyLedger(Protocol):
    async def claim(self, scope: str, owner: str, *, lease: timedelta) -> Claim:
        """Claims `scope` for `owner` unless a live claim or a stored response holds it."""
        ...

    async def renew(self, scope: str, owner: str, *, lease: timedelta) -> bool:
        """Extends `owner`'s claim; False when it is no longer `owner`'s."""
        ...

    async def complete(self, scope: str, owner: str, stored: StoredResponse) -> None:
        """Replaces `owner`'s claim by the response, kept for RESPONSE_TTL."""
        ...

    async def release(self, scope: str, owner: str) -> None:
        """Drops `owner`'s claim (the request may run again)."""
        ...


class IdempotencyStore(Protocol):
    """What the embedded ledger needs of the store (SQLite and MongoDB implement it);
    `expires_at` is a lease's end while running, the response's end once done."""

    async def claim_idempotency_key(self, scope: str, owner: str, *, now: float,
                                    expires_at: float) -> tuple[str | None, str | None]:
        """Claims the key when free or expired: (None, None); else (owner, record) of the
        row that holds it (record None while it runs)."""
        ...

    async def renew_idempotency_key(self, scope: str, owner: str, *, expires_at: float) -> bool: ...

    async def complete_idempotency_key(self, scope: str, owner: str, record: str, *,
                                       expires_at: float) -> None: ...

    async def release_idempotency_key(self, scope: str, owner: str) -> None: ...

    async def purge_idempotency_keys(self, *, now: float) -> int:
        """Deletes expired claims and responses; returns how many."""
        ...


_RUNNING, _DONE = "r:", "d:"
# Compare-and-set on the claim's owner, so a request whose lease lapsed (and whose key was
# claimed again by a retry) can't overwrite or drop the new owner's claim.
_RENEW = """if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"""
_COMPLETE = """if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0"""
_RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1]) end return 0"""


def _ms(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() * 1000))


class RedisLedger:
    """One key per (user, key): `r:<owner>` with the lease as its expiry while running, then
    `d:<response>` with 24 h. SET NX claims it atomically across instances."""

    def __init__(self, redis: RedisClient, prefix: str = "taskflow:idem:") -> None:
        self._redis = redis
        self._prefix = prefix

    def key(self, scope: str) -> str:
        return self._prefix + scope

    async def claim(self, scope: str, owner: str, *, lease: timedelta) -> Claim:
        key = self.key(scope)
        for _ in range(3):  # the holder may expire between SET NX and GET
            if await self._redis.set(key, _RUNNING + owner, nx=True, px=_ms(lease)):
                return Claim("claimed")
            raw = await self._redis.get(key)
            if raw is None:
                continue
            value = raw.decode() if isinstance(raw, bytes) else str(raw)
            if value.startswith(_DONE):
                return Claim("done", StoredResponse.loads(value[len(_DONE):]))
            return Claim("running")
        return Claim("running")

    async def renew(self, scope: str, owner: str, *, lease: timedelta) -> bool:
        done = await self._redis.eval(_RENEW, 1, self.key(scope), _RUNNING + owner,
                                      str(_ms(lease)))
        return bool(done)

    async def complete(self, scope: str, owner: str, stored: StoredResponse) -> None:
        await self._redis.eval(_COMPLETE, 1, self.key(scope), _RUNNING + owner,
                               _DONE + stored.dumps(), str(_ms(RESPONSE_TTL)))

    async def release(self, scope: str, owner: str) -> None:
        await self._redis.eval(_RELEASE, 1, self.key(scope), _RUNNING + owner)


class StoreLedger:
    """The ledger in the embedded store, for an instance without Redis."""

    def __init__(self, store: IdempotencyStore, clock: SystemClock) -> None:
        self._store = store
        self._clock = clock

    def _now(self) -> float:
        return self._clock.now().timestamp()

    async def claim(self, scope: str, owner: str, *, lease: timedelta) -> Claim:
        now = self._now()
        holder, record = await self._store.claim_idempotency_key(
            scope, owner, now=now, expires_at=now + lease.total_seconds())
        if holder is None and record is None:
            return Claim("claimed")
        if record is not None:
            return Claim("done", StoredResponse.loads(record))
        return Claim("running")

    async def renew(self, scope: str, owner: str, *, lease: timedelta) -> bool:
        return await self._store.renew_idempotency_key(
            scope, owner, expires_at=self._now() + lease.total_seconds())

    async def complete(self, scope: str, owner: str, stored: StoredResponse) -> None:
        await self._store.complete_idempotency_key(
            scope, owner, stored.dumps(), expires_at=self._now() + RESPONSE_TTL.total_seconds())

    async def release(self, scope: str, owner: str) -> None:
        await self._store.release_idempotency_key(scope, owner)
