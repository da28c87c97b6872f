"""What the HTTP handlers reach through the app: services, settings, limiter, metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import current_app, g, request

from taskflow.addresses import client_address as address_of
from taskflow.config import Settings
from taskflow.errors import Unauthorized
from taskflow.idempotency import IdempotencyLedger
from taskflow.observability import Metrics
from taskflow.ratelimit import RateLimiter
from taskflow.security.tokens import TokenIssuer
from taskflow.services.access import Actor
from taskflow.services.container import Services
from taskflow.services.personal_tokens import is_personal_token
from taskflow.services.ports import Cache, Store
from taskflow.services.scopes import require_scope, route_scope

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Runtime:
    """Built by app.create_app; its async parts are opened when the server starts."""

    settings: Settings
    tokens: TokenIssuer
    metrics: Metrics
    limiter: RateLimiter | None = None
    store: Store | None = None
    cache: Cache | None = None
    services_: Services | None = None
    redis_ping: Callable[[], Awaitable[Any]] | None = None
    idempotency: IdempotencyLedger | None = None

    async def limit(self, limits: str, scope: str, key: str) -> None:
        """Counts one request against a rate limit (RateLimited when spent)."""
        assert self.limiter is not None, "the limiter is built when the server starts"
        await self.limiter.hit(limits, scope, key)

    @property
    def services(self) -> Services:
        assert self.services_ is not None, "services are built when the server starts"
        return self.services_


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["taskflow"]
    return rt


def client_address() -> str:
    """The client's address (X-Forwarded-For believed only from trusted proxies)."""
    return address_of(request.remote_addr, request.headers.get("X-Forwarded-For"),
                      runtime().settings.trusted_proxies)


async def bearer_actor() -> Actor:
    """The caller of the current request, from its bearer token: a session access token
    (JWT) or a personal access token (`tfp_`, looked up in the store on every request)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send Authorization: Bearer <access_token>")
    rt = runtime()
    if is_personal_token(token):
        actor, _ = await rt.services.personal_tokens.authenticate(token)
        return actor
    claims = rt.tokens.decode_access(token)
    return Actor(user_id=claims.user_id, login_id=claims.login_id)


def authenticated(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Requires a valid access token, counts the request against the user's API limit,
    checks a personal access token's scopes against the route (services/scopes.py), and
    passes the caller as `actor`."""

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        actor = await bearer_actor()
        rt = runtime()
        await rt.limit(rt.settings.rate_limits.api_per_user, "api", actor.user_id)
        if actor.scopes is not None:
            rule = request.url_rule.rule if request.url_rule else request.path
            require_scope(actor, route_scope(request.method, rule))
        g.actor = actor
        kwargs["actor"] = actor
        return await func(*args, **kwargs)

    return wrapper
