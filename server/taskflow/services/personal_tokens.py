"""Personal access tokens: long-lived, scoped credentials for scripts and integrations.

A token is shown once, at creation (`tfp_` + 256 random bits); only its SHA-256 is stored.
Each request made with one looks it up in the store (one indexed read), so a revoked token
fails on every instance as soon as its deletion commits: there is no per-instance cache to
invalidate. On the live channel a token is a login named `pat:<id>`, so revoking it closes
its sockets everywhere through the same `end_logins` path as a logout.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from loguru import logger

from taskflow.domain import PersonalToken
from taskflow.errors import NotFound, ServiceUnavailable, Unauthorized
from taskflow.ids import new_id
from taskflow.security.tokens import hash_refresh_token
from taskflow.services.access import Actor, active_user
from taskflow.services.cursors import decode_time_cursor, encode_time_cursor
from taskflow.services.ports import Clock, Publisher, Store, Transaction

PREFIX = "tfp_"
LOGIN_PREFIX = "pat:"
MAX_DAYS = 365
# Expired tokens stay listed (and refused) this long before the housekeeping drops them.
EXPIRED_KEPT = timedelta(days=7)
USE_RESOLUTION = timedelta(minutes=1)


def is_personal_token(token: str) -> bool:
    return token.startswith(PREFIX)


def login_of(token_id: str) -> str:
    """The login id a token's requests and sockets run under."""
    return LOGIN_PREFIX + token_id


def token_of_login(login_id: str) -> str | None:
    return login_id[len(LOGIN_PREFIX):] if login_id.startswith(LOGIN_PREFIX) else None


@dataclass(frozen=True, slots=True)
class TokenPage:
    items: list[PersonalToken]
    next_cursor: str | None


class PersonalTokenService:
    def __init__(self, *, store: Store, publisher: Publisher, clock: Clock) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock

    async def create(self, actor: Actor, *, name: str, scopes: Sequence[str],
                     expires_in_days: int) -> tuple[PersonalToken, str]:
        """A new token of the caller and its secret (the only time the secret is seen)."""
        secret = PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        token = PersonalToken(
            id=new_id(), user_id=actor.user_id, name=name, scopes=tuple(dict.fromkeys(scopes)),
            token_hash=hash_refresh_token(secret), created_at=now,
            expires_at=now + timedelta(days=expires_in_days))

        async def work(tx: Transaction) -> None:
            active_user(await tx.select_user(actor.user_id))
            await tx.insert_personal_token(token)

        await self._store.transact(work)
        return token, secret

    async def list(self, actor: Actor, *, limit: int, cursor: str | None) -> TokenPage:
        """The caller's tokens, oldest first (never their secrets)."""
        after = decode_time_cursor(cursor) if cursor else None
        rows = await self._store.select_personal_tokens(actor.user_id, limit=limit + 1,
                                                        after=after)
        more = len(rows) > limit
        items = rows[:limit]
        next_cursor = encode_time_cursor(items[-1].created_at, items[-1].id) if more else None
        return TokenPage(items=items, next_cursor=next_cursor)

    async def revoke(self, actor: Actor, token_id: str) -> None:
        """Deletes the token; its sockets are closed on every instance."""
        deleted = await self._store.transact(
            lambda tx: tx.delete_personal_token(actor.user_id, token_id))
        if not deleted:
            raise NotFound("Token not found")
        await self._publisher.end_logins(actor.user_id, [login_of(token_id)])

    async def authenticate(self, secret: str) -> tuple[Actor, PersonalToken]:
        """The caller a token speaks for; Unauthorized when unknown, revoked or expired."""
        token = await self._store.select_personal_token(hash_refresh_token(secret))
        if token is None:
            raise Unauthorized("Unknown or revoked access token")
        if token.expires_at <= self._clock.now():
            raise Unauthorized("Access token expired", reason="token_expired")
        await self._touch(token)
        actor = Actor(user_id=token.user_id, login_id=login_of(token.id), scopes=token.scopes)
        return actor, token

    async def _touch(self, token: PersonalToken) -> None:
        """Keeps last_used_at to the minute: at most one small write per token per minute,
        and none at all when the stored value is recent. Best effort: a store too busy to
        take it doesn't fail the request."""
        now = self._clock.now()
        since = now - USE_RESOLUTION
        if token.last_used_at is not None and token.last_used_at >= since:
            return
        try:
            await self._store.transact(
                lambda tx: tx.touch_personal_token(token.id, now, unless_since=since))
        except ServiceUnavailable as exc:
            logger.warning("last_used_at of token {} not recorded: {}", token.id, exc)

    async def live(self, token_ids: Sequence[str]) -> set[str]:
        """Those of `token_ids` that still exist and have not expired."""
        if not token_ids:
            return set()
        return set(await self._store.select_live_personal_tokens(token_ids, self._clock.now()))

    async def purge(self, now: datetime) -> int:
        """Tokens expired for a week (housekeeping)."""
        return await self._store.transact(
            lambda tx: tx.purge_personal_tokens(now - EXPIRED_KEPT))
