"""Rate limits through the real app: per account on login, per address on the auth routes,
per user on the API; shared through Redis across instances; off when switched off."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
from redis.asyncio import Redis

from taskflow.app import create_app
from taskflow.config import RateLimits, Settings
from tests.support.api import PASSWORD, Account, problem, register, unique_email
from tests.support.processes import free_port

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol

REDIS_URL = "redis://127.0.0.1:6379/0"
PROXY = ("127.0.0.1", 40000)  # the test client has no peer address unless we give it one
BOGUS_REFRESH = {"refresh_token": "not-a-token"}  # 401 without bcrypt: a cheap auth request


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[TestClientProtocol]:
    app = create_app(settings)
    async with app.test_app():
        yield app.test_client()


def limits(**overrides: Any) -> RateLimits:
    base = {"login_per_account": "100/minute", "auth_per_address": "100/minute",
            "api_per_user": "100/minute"}
    return RateLimits(enabled=overrides.pop("enabled", True), **{**base, **overrides})


def doc_ip() -> str:
    """An address of the IPv6 documentation range no other test (or run) will use."""
    return f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::{secrets.token_hex(2)}"


async def post(client: TestClientProtocol, path: str, body: dict[str, Any], *,
               peer: tuple[str, int] = PROXY, xff: str | None = None) -> Any:
    headers = {"X-Forwarded-For": xff} if xff else {}
    return await client.post(path, json=body, headers=headers, scope_base={"client": peer})


async def assert_limited(response: Any, window_seconds: int) -> None:
    await problem(response, 429, "rate_limited")
    retry_after = response.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= window_seconds


async def login(client: TestClientProtocol, email: str, password: str = PASSWORD,
                **kwargs: Any) -> Any:
    return await post(client, "/api/v1/auth/login", {"email": email, "password": password},
                      **kwargs)


async def test_login_is_limited_per_account(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(rate_limits=limits(login_per_account="2/minute"))
    async with running(settings) as client:
        ada = await register(client, name="Ada")
        bob = await register(client, name="Bob")
        assert (await login(client, ada.email, "wrong password 1")).status_code == 401
        assert (await login(client, ada.email, "wrong password 2")).status_code == 401
        await assert_limited(await login(client, ada.email), 60)  # even the right password
        # One account's bucket: other spellings of the same email count against it...
        await assert_limited(await login(client, ada.email.upper()), 60)
        # ...and from another address too; another account is untouched.
        await assert_limited(await login(client, ada.email, peer=("198.51.100.1", 1)), 60)
        assert (await login(client, bob.email)).status_code == 200


async def test_auth_routes_are_limited_per_address(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(rate_limits=limits(auth_per_address="2/minute"))
    async with running(settings) as client:
        here = doc_ip()
        for _ in range(2):
            response = await post(client, "/api/v1/auth/register",
                                  {"email": unique_email(), "password": PASSWORD, "name": "N"},
                                  xff=here)
            assert response.status_code == 201
        await assert_limited(await post(client, "/api/v1/auth/register",
                                        {"email": unique_email(), "password": PASSWORD,
                                         "name": "N"}, xff=here), 60)
        # One bucket for every auth route of an address.
        await assert_limited(await post(client, "/api/v1/auth/refresh", BOGUS_REFRESH, xff=here), 60)
        await assert_limited(await login(client, unique_email(), xff=here), 60)
        # Another address still registers.
        response = await post(client, "/api/v1/auth/register",
                              {"email": unique_email(), "password": PASSWORD, "name": "N"},
                              xff=doc_ip())
        assert response.status_code == 201


async def _spend(client: TestClientProtocol, count: int, **kwargs: Any) -> list[int]:
    return [(await post(client, "/api/v1/auth/refresh", BOGUS_REFRESH, **kwargs)).status_code
            for _ in range(count)]


async def test_forwarded_for_from_a_trusted_proxy_is_the_client(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(rate_limits=limits(auth_per_address="2/minute"))
    async with running(settings) as client:
        first, second = doc_ip(), doc_ip()
        assert await _spend(client, 3, xff=first) == [401, 401, 429]
        assert await _spend(client, 2, xff=second) == [401, 401]
        # A client-supplied hop in front of what the proxy appended changes nothing: the
        # rightmost untrusted hop is the client.
        assert await _spend(client, 1, xff=f"{doc_ip()}, {first}") == [429]
        # Hops that are themselves trusted proxies are skipped.
        assert await _spend(client, 1, xff=f"{second}, 127.0.0.1") == [429]


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(rate_limits=limits(auth_per_address="2/minute"))
    async with running(settings) as client:
        peer = ("203.0.113.7", 5555)
        statuses = [(await post(client, "/api/v1/auth/refresh", BOGUS_REFRESH, peer=peer,
                                xff=doc_ip())).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
        # Its bucket is its own address, not 127.0.0.1's.
        assert await _spend(client, 1, xff=doc_ip()) == [401]


async def test_no_trusted_proxies_means_forwarded_for_is_ignored(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(rate_limits=limits(auth_per_address="2/minute"), trusted_proxies=())
    async with running(settings) as client:
        statuses = [(await post(client, "/api/v1/auth/refresh", BOGUS_REFRESH, xff=doc_ip())
                     ).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]


async def test_api_is_limited_per_user(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(rate_limits=limits(api_per_user="3/minute"))
    async with running(settings) as client:
        ada = await register(client, name="Ada")
        bob = await register(client, name="Bob")
        statuses = [(await client.get("/api/v1/users/me", headers=ada.headers)).status_code
                    for _ in range(3)]
        assert statuses == [200, 200, 200]
        await assert_limited(await client.get("/api/v1/boards", headers=ada.headers), 60)
        assert (await client.get("/api/v1/users/me", headers=bob.headers)).status_code == 200


async def test_rate_limits_off_never_answer_429(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(rate_limits=limits(enabled=False, login_per_account="1/minute",
                                                auth_per_address="1/minute",
                                                api_per_user="1/minute"))
    async with running(settings) as client:
        ada = await register(client, name="Ada")
        assert (await post(client, "/api/v1/auth/register",
                           {"email": unique_email(), "password": PASSWORD, "name": "N"})
                ).status_code == 201
        assert await _spend(client, 3) == [401, 401, 401]
        statuses = [(await client.get("/api/v1/users/me", headers=ada.headers)).status_code
                    for _ in range(3)]
        assert statuses == [200, 200, 200]
        assert (await login(client, ada.email)).status_code == 200


# --- through Redis ----------------------------------------------------------------------
@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def _me(client: TestClientProtocol, account: Account) -> int:
    return int((await client.get("/api/v1/users/me", headers=account.headers)).status_code)


async def test_limits_hold_across_instances_through_redis(
        make_settings: Callable[..., Settings], redis: Redis) -> None:
    settings = make_settings(redis_url=REDIS_URL, rate_limits=limits(api_per_user="3/minute"))
    async with running(settings) as one, running(settings) as two:
        ada = await register(one, name="Ada")
        assert [await _me(one, ada), await _me(two, ada), await _me(one, ada)] == [200, 200, 200]
        await assert_limited(await two.get("/api/v1/users/me", headers=ada.headers), 60)
        await assert_limited(await one.get("/api/v1/users/me", headers=ada.headers), 60)

        keys = [key async for key in redis.scan_iter(match=f"taskflow:rl*{ada.id}*")]
        try:
            assert keys, "the API limit of this user is counted in Redis"
            for key in keys:
                ttl = await redis.ttl(key)
                assert 0 < ttl <= 120, (key, ttl)  # two windows of a minute at most
        finally:
            if keys:
                await redis.delete(*keys)


async def test_login_failures_count_across_instances(
        make_settings: Callable[..., Settings], redis: Redis) -> None:
    settings = make_settings(redis_url=REDIS_URL, rate_limits=limits(login_per_account="2/minute"))
    email = unique_email("nobody")
    async with running(settings) as one, running(settings) as two:
        assert (await login(one, email)).status_code == 401
        assert (await login(two, email)).status_code == 401
        await assert_limited(await login(one, email), 60)
    keys = [key async for key in redis.scan_iter(match=f"taskflow:rl*{email}*")]
    assert keys
    ttls = [await redis.ttl(key) for key in keys]
    assert all(0 < ttl <= 120 for ttl in ttls), ttls
    await redis.delete(*keys)


async def test_redis_outage_lets_requests_through(make_settings: Callable[..., Settings]) -> None:
    """The limiter fails open: an outage of Redis must not take the API down with it."""
    closed = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(redis_url=closed, rate_limits=limits(api_per_user="1/minute"))
    async with running(settings) as client:
        ada = await register(client, name="Ada")
        assert [await _me(client, ada) for _ in range(3)] == [200, 200, 200]


async def test_current_password_checks_are_limited_like_logins(
        make_settings: Callable[..., Settings]) -> None:
    """PATCH and DELETE /users/me with current_password guess at the password: a stolen
    access token gets the login limit's few tries, not the API's 600 a minute."""
    settings = make_settings(rate_limits=limits(login_per_account="3/minute"))
    async with running(settings) as client:
        ada = await register(client, name="Ada")
        bob = await register(client, name="Bob")
        guesses = [
            await client.patch("/api/v1/users/me", headers=ada.headers,
                               json={"password": "a new one 123", "current_password": "guess 1"}),
            await client.delete("/api/v1/users/me", headers=ada.headers,
                                json={"current_password": "guess 2"}),
            await client.patch("/api/v1/users/me", headers=ada.headers,
                               json={"email": "x@example.com", "current_password": "guess 3"}),
        ]
        assert [r.status_code for r in guesses] == [403, 403, 403]
        await assert_limited(await client.delete("/api/v1/users/me", headers=ada.headers,
                                                 json={"current_password": PASSWORD}), 60)
        # A name change checks no password; another user is untouched.
        r = await client.patch("/api/v1/users/me", headers=ada.headers, json={"name": "Ada L."})
        assert r.status_code == 200, await r.get_data(as_text=True)
        r = await client.patch("/api/v1/users/me", headers=bob.headers,
                               json={"password": "a new one 123", "current_password": "wrong"})
        assert r.status_code == 403
