"""Accounts, logins and their tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from taskflow.domain import Board, Login, Member, RefreshToken, User, default_columns
from taskflow.errors import Forbidden, InvalidCredentials, TokenReused, Unauthorized, field_error
from taskflow.ids import new_id
from taskflow.security.passwords import password_too_long
from taskflow.security.tokens import AccessClaims, TokenIssuer, hash_refresh_token, new_refresh_token
from taskflow.services.access import Actor, active_user
from taskflow.services.personal_tokens import (
    PersonalTokenService,
    is_personal_token,
    login_of,
    token_of_login,
)
from taskflow.services.ports import Clock, PasswordHasher, Publisher, Store, Transaction
from taskflow.services.views import user_view

MIN_PASSWORD_CHARS = 8


@dataclass(frozen=True, slots=True)
class Session:
    """What register, login and refresh hand back."""

    user: User
    access_token: str
    refresh_token: str
    expires_in: int

    def view(self) -> dict[str, Any]:
        return {
            "user": user_view(self.user),
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
        }


@dataclass(frozen=True, slots=True)
class LiveIdentity:
    user: User
    login_id: str
    expires_at: datetime
    scopes: tuple[str, ...] | None = None


def check_password(password: str, field: str = "password") -> None:
    """The password rules: at least 8 characters, at most 72 bytes (bcrypt's limit)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise field_error(field, f"must be at least {MIN_PASSWORD_CHARS} characters")
    if password_too_long(password):
        raise field_error(field, "must be at most 72 bytes in UTF-8 (bcrypt's limit)")


async def check_current_password(hasher: PasswordHasher, user: User, password: str) -> None:
    """403 wrong_password unless `password` is the user's (profile changes, deletion)."""
    if not await hasher.verify(password, user.password_hash):
        raise Forbidden("The current password is wrong", reason="wrong_password")


async def end_every_login(tx: Transaction, user_id: str, at: datetime) -> list[str]:
    """Revokes every login of the user and deletes their personal access tokens, in this
    transaction; answers the login ids to end on the live channel after the commit."""
    tokens = await tx.delete_personal_tokens_of_user(user_id)
    return [*await tx.revoke_logins_of_user(user_id, at), *(login_of(token_id) for token_id in tokens)]


class AuthService:
    def __init__(self, *, store: Store, hasher: PasswordHasher, tokens: TokenIssuer,
                 publisher: Publisher, clock: Clock, refresh_ttl: int,
                 personal_tokens: PersonalTokenService) -> None:
        self._store = store
        self._personal = personal_tokens
        self._hasher = hasher
        self._tokens = tokens
        self._publisher = publisher
        self._clock = clock
        self._refresh_ttl = timedelta(seconds=refresh_ttl)

    async def register(self, *, email: str, password: str, name: str) -> Session:
        """Creates the account, its personal board and a first login."""
        check_password(password)
        password_hash = await self._hasher.hash(password)
        now = self._clock.now()
        user = User(id=new_id(), email=email, name=name, password_hash=password_hash,
                    created_at=now)
        board = Board(
            id=new_id(), name=f"{name}'s board", description="", owner_id=user.id, seq=0,
            created_at=now, updated_at=now,
            members=(Member(user_id=user.id, name=name, email=email, role="owner"),),
            columns=default_columns(new_id),
        )
        async def work(tx: Transaction) -> Session:
            await tx.insert_user(user)
            await tx.insert_board(board)
            return await self._open_login(tx, user)

        return await self._store.transact(work)

    async def login(self, *, email: str, password: str) -> Session:
        user = await self._store.select_user_by_email(email)
        matched = await self._hasher.verify(password, user.password_hash if user else None)
        if user is None or not matched:
            raise InvalidCredentials()
        return await self._store.transact(lambda tx: self._open_login(tx, user))

    async def refresh(self, refresh_token: str) -> Session:
        """Rotates the refresh token; a reused one revokes its whole login."""
        now = self._clock.now()
        token_hash = hash_refresh_token(refresh_token)

        async def work(tx: Transaction) -> Session | Login:
            """A new session, or the login revoked for reusing a spent token."""
            token = await tx.select_refresh_token(token_hash)
            login = await tx.select_login(token.login_id) if token else None
            user = await tx.select_user(token.user_id) if token else None
            if token is None or login is None or user is None:
                raise Unauthorized("Unknown refresh token")
            if login.revoked_at is not None or login.credentials_version != user.credentials_version:
                raise Unauthorized("This login has ended; sign in again")
            if token.expires_at <= now:
                raise Unauthorized("Refresh token expired")
            if not await tx.spend_refresh_token(token_hash, now):
                await tx.revoke_login(login.id, now)
                return login
            return await self._issue(tx, user, login.id)

        outcome = await self._store.transact(work)
        if isinstance(outcome, Login):  # committed the revocation; now refuse
            await self._publisher.end_logins(outcome.user_id, [outcome.id])
            raise TokenReused()
        return outcome

    async def logout(self, actor: Actor, refresh_token: str) -> None:
        """Ends the login of the refresh token (which must be the caller's)."""
        token = await self._store.select_refresh_token(hash_refresh_token(refresh_token))
        if token is None or token.user_id != actor.user_id:
            raise Unauthorized("Unknown refresh token")
        # Both logins end: the one of the refresh token and the caller's own (they differ
        # when a client logs out another of its sessions); what is closed is also revoked,
        # so neither can reconnect or refresh.
        ended = sorted({token.login_id, actor.login_id})

        async def work(tx: Transaction) -> None:
            now = self._clock.now()
            for login_id in ended:
                await tx.revoke_login(login_id, now)

        await self._store.transact(work)
        await self._publisher.end_logins(actor.user_id, ended)

    def live_claims(self, token: str, *, of_user: str | None = None) -> AccessClaims:
        """The claims of a valid access token, checked without I/O (the first half of
        `live_identity`). `of_user`: the token must be that user's."""
        claims = self._tokens.decode_access(token)
        if of_user is not None and claims.user_id != of_user:
            raise Unauthorized("That token belongs to someone else")
        return claims

    async def live_token(self, token: str) -> AccessClaims:
        """live_claims for either kind of token: a personal access token (`tfp_`) is looked
        up in the store, its login being `pat:<id>` and its expiry the token's."""
        if not is_personal_token(token):
            return self.live_claims(token)
        actor, pat = await self._personal.authenticate(token)
        return AccessClaims(user_id=actor.user_id, login_id=actor.login_id,
                            expires_at=pat.expires_at, exp=int(pat.expires_at.timestamp()),
                            scopes=pat.scopes)

    async def live_identity(self, claims: AccessClaims) -> LiveIdentity:
        """Who an access token speaks for on the live channel, where a connection outlasts
        a request: its login must still be live (not logged out, no password change since;
        a personal access token not revoked, not expired)."""
        token_id = token_of_login(claims.login_id)
        if token_id is not None:
            user = await self._store.select_user(claims.user_id)
            if user is None or not await self._personal.live([token_id]):
                raise Unauthorized("This token was revoked", reason="login_revoked")
            return LiveIdentity(user=user, login_id=claims.login_id,
                                expires_at=claims.expires_at, scopes=claims.scopes)
        login = await self._store.select_login(claims.login_id)
        user = await self._store.select_user(claims.user_id)
        if (login is None or user is None or login.revoked_at is not None
                or login.credentials_version != user.credentials_version):
            raise Unauthorized("This login has ended; sign in again", reason="login_revoked")
        return LiveIdentity(user=user, login_id=claims.login_id, expires_at=claims.expires_at)

    async def ended_logins(self, login_ids: Sequence[str]) -> set[str]:
        """Those of `login_ids` that have ended (logged out, password changed, unknown)."""
        if not login_ids:
            return set()
        tokens = {login_id: token_id for login_id in login_ids
                  if (token_id := token_of_login(login_id)) is not None}
        logins = [login_id for login_id in login_ids if login_id not in tokens]
        live = set(await self._store.select_live_logins(logins)) if logins else set()
        live_tokens = await self._personal.live(list(tokens.values()))
        live |= {login_id for login_id, token_id in tokens.items() if token_id in live_tokens}
        return set(login_ids) - live

    async def me(self, actor: Actor) -> User:
        return active_user(await self._store.select_user(actor.user_id))

    async def update_me(self, actor: Actor, *, name: str | None = None, email: str | None = None,
                        password: str | None = None, current_password: str | None = None) -> User:
        """Changes the profile; email and password need the current password."""
        user = await self.me(actor)
        if email is not None or password is not None:
            if current_password is None:
                raise field_error("current_password", "is required to change email or password")
            await check_current_password(self._hasher, user, current_password)
        changed = replace(user, name=name if name is not None else user.name,
                          email=email if email is not None else user.email)
        if password is not None:
            check_password(password)
            changed = replace(changed, password_hash=await self._hasher.hash(password),
                              credentials_version=user.credentials_version + 1)

        async def work(tx: Transaction) -> list[str]:
            await tx.update_user(changed)
            if password is None:
                return []
            # A new password ends every login and every personal access token.
            return await end_every_login(tx, user.id, self._clock.now())

        ended = await self._store.transact(work)
        if ended:
            await self._publisher.end_logins(user.id, ended)
        return changed

    async def _open_login(self, tx: Transaction, user: User) -> Session:
        login = Login(id=new_id(), user_id=user.id, created_at=self._clock.now(), revoked_at=None,
                      credentials_version=user.credentials_version)
        await tx.insert_login(login)
        return await self._issue(tx, user, login.id)

    async def _issue(self, tx: Transaction, user: User, login_id: str) -> Session:
        now = self._clock.now()
        refresh = new_refresh_token()
        await tx.insert_refresh_token(RefreshToken(
            token_hash=hash_refresh_token(refresh), login_id=login_id, user_id=user.id,
            expires_at=now + self._refresh_ttl, used_at=None,
        ))
        access = self._tokens.issue_access(user_id=user.id, login_id=login_id, now=now)
        return Session(user=user, access_token=access, refresh_token=refresh,
                       expires_in=self._tokens.access_ttl)
