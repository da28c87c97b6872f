"""Access tokens (pyjwt, HS256 pinned) and opaque refresh tokens stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from taskflow.errors import Unauthorized

_ALGORITHM = "HS256"
# Verified tokens remembered, newest last. A client sends the same access token on every
# request for up to its lifetime; verifying it again (base64, JSON, HMAC, claim checks) was a
# tenth of a small request's CPU. Entries end with the token's `exp`, like the token itself.
_VERIFIED_KEPT = 4096


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    login_id: str
    expires_at: datetime
    exp: int = 0  # expires_at as a POSIX timestamp
    scopes: tuple[str, ...] | None = None  # a personal access token's; None: a password login


class TokenIssuer:
    """Signs with the current secret; also accepts the previous one during a rotation."""

    def __init__(self, *, secret: str, previous_secret: str | None, issuer: str, audience: str,
                 access_ttl: int, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._keys = [secret] + ([previous_secret] if previous_secret else [])
        self._issuer = issuer
        self._audience = audience
        self.access_ttl = access_ttl
        self._clock = clock
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()

    def issue_access(self, *, user_id: str, login_id: str, now: datetime) -> str:
        claims = {
            "sub": user_id,
            "sid": login_id,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.access_ttl)).timestamp()),
            "jti": secrets.token_hex(8),
            "typ": "access",
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def decode_access(self, token: str) -> AccessClaims:
        """The claims of a valid access token; Unauthorized for anything else.

        A token verified before is looked up, not verified again, until it expires. That
        changes nothing about revocation: an access token stays valid until its `exp`
        whatever happens to its login (the contract's 15 minutes at most), and what checks
        the login itself (a live connection's start, refresh) reads the store every time."""
        claims = self._verified.get(token)
        if claims is not None:
            if self._clock() < claims.exp:
                self._verified.move_to_end(token)
                return claims
            del self._verified[token]
            raise Unauthorized("Access token expired", reason="token_expired")
        claims = self._verify(token)
        self._verified[token] = claims
        if len(self._verified) > _VERIFIED_KEPT:
            self._verified.popitem(last=False)
        return claims

    def _verify(self, token: str) -> AccessClaims:
        for key in self._keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[_ALGORITHM],
                    audience=self._audience,
                    issuer=self._issuer,
                    options={"require": ["exp", "iat", "iss", "aud", "sub", "sid"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise Unauthorized("Access token expired", reason="token_expired") from None
            except jwt.PyJWTError:
                break
            if claims.get("typ") != "access":
                break
            exp = int(claims["exp"])
            return AccessClaims(
                user_id=str(claims["sub"]),
                login_id=str(claims["sid"]),
                expires_at=datetime.fromtimestamp(exp).astimezone(),
                exp=exp,
            )
        raise Unauthorized("Invalid access token")


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """Refresh tokens are stored as SHA-256 digests: a database leak grants no session."""
    return hashlib.sha256(token.encode()).hexdigest()
