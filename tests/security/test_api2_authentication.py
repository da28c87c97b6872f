"""API2:2023 Broken Authentication.

Forged, expired and misdirected access tokens are refused by both doors (HTTP and the live
channel); a spent refresh token revokes its login everywhere; guessing passwords is cut off
per account; credentials travel only in the Authorization header.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
import socketio

from tests.security.conftest import TARGET_SECRET, World
from tests.security.target import (
    Api,
    Person,
    assert_problem,
    claims,
    doc_ip,
    register,
    unsigned,
)
from tests.support.liveclient import LiveClient
from tests.support.processes import TaskflowServer

OTHER_SECRET = "another secret that is long enough to sign things"


def _forged(kind: str, victim: Person, login: str) -> str:
    """A token that tries to pass as `victim` (whose login id is `login`)."""
    real = {"sub": victim.id, "sid": login}
    if kind == "expired":
        past = int(time.time()) - 60
        return jwt.encode(claims(**real, iat=past - 600, exp=past), TARGET_SECRET, algorithm="HS256")
    if kind == "tampered":
        header, _, signature = victim.token.split(".")
        payload = jwt.utils.base64url_encode(
            json.dumps(claims(**real, exp=int(time.time()) + 86400)).encode()).decode()
        return f"{header}.{payload}.{signature}"
    if kind.lower().startswith("alg-none"):
        return unsigned(claims(**real), alg=kind.removeprefix("alg-"))
    if kind == "wrong-secret":
        return jwt.encode(claims(**real), OTHER_SECRET, algorithm="HS256")
    if kind == "alg-hs512":
        return jwt.encode(claims(**real), TARGET_SECRET, algorithm="HS512")
    if kind == "audience":
        return jwt.encode(claims(**real, aud="another-api"), TARGET_SECRET, algorithm="HS256")
    if kind == "issuer":
        return jwt.encode(claims(**real, iss="someone-else"), TARGET_SECRET, algorithm="HS256")
    if kind == "not-access":
        return jwt.encode(claims(**real, typ="refresh"), TARGET_SECRET, algorithm="HS256")
    if kind == "no-expiry":
        return jwt.encode(claims(**real, exp=None), TARGET_SECRET, algorithm="HS256")
    if kind == "no-login":
        return jwt.encode(claims(sub=victim.id, sid=None), TARGET_SECRET, algorithm="HS256")
    if kind == "refresh-token":
        return victim.refresh_token
    raise AssertionError(kind)


KINDS = ["expired", "tampered", "alg-none", "alg-None", "alg-NONE", "wrong-secret", "alg-hs512",
         "audience", "issuer", "not-access", "no-expiry", "no-login", "refresh-token"]


def _login_id(victim: Person) -> str:
    return str(jwt.decode(victim.token, options={"verify_signature": False})["sid"])


@pytest.mark.parametrize("kind", KINDS)
async def test_forged_tokens_are_refused_on_http_and_live(
        target: TaskflowServer, api: Api, world: World, kind: str) -> None:
    token = _forged(kind, world.ada, _login_id(world.ada))
    for path in ("/users/me", f"/boards/{world.board_a['id']}"):
        assert_problem(api.call("GET", path, headers={"Authorization": f"Bearer {token}"}), 401,
                       "unauthorized")
    client = LiveClient(target.url, token, headers={"X-Forwarded-For": doc_ip()})
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect()
    assert client.connect_error == {"message": "unauthorized"}


@pytest.mark.parametrize("header", [
    "Basic YWRhOnBhc3N3b3Jk", "Bearer", "Token {token}", "{token}",
    "Bearer {token}.", "Bearer {token} extra",
])
def test_only_a_bearer_header_authenticates(api: Api, world: World, header: str) -> None:
    sent = header.format(token=world.eve.token)
    assert_problem(api.call("GET", "/users/me", headers={"Authorization": sent}), 401)


def test_credentials_never_travel_in_the_url_or_cookies(http: httpx.Client, world: World) -> None:
    token = world.eve.token
    for params in ({"access_token": token}, {"token": token}):
        assert_problem(http.get("/api/v1/users/me", params=params), 401)
    assert_problem(http.get("/api/v1/users/me", headers={"Cookie": f"access_token={token}"}), 401)
    login = http.post("/api/v1/auth/login", json={"email": world.eve.email,
                                                  "password": world.eve.password})
    assert login.status_code == 200
    # The one cookie is the refresh token's, for browsers: out of script's reach, never sent
    # cross-site or outside /api/v1/auth, and it authenticates nothing but a refresh.
    (cookie,) = login.headers.get_list("set-cookie")
    name, _, value = cookie.split(";", 1)[0].partition("=")
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert name == "taskflow_refresh" and value == login.json()["refresh_token"]
    assert {"httponly", "secure", "samesite", "path"} <= set(attributes)
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/api/v1/auth"
    assert_problem(http.get("/api/v1/users/me", headers={"Cookie": f"taskflow_refresh={value}"}), 401)


async def test_spent_refresh_token_revokes_the_login_on_every_door(
        http: httpx.Client, api: Api, live: Any) -> None:
    mallory = register(http, "Mallory")
    connection = await live(mallory.token)
    rotated = api.ok("POST", "/auth/refresh", mallory, json={"refresh_token": mallory.refresh_token})
    # Someone replays the spent token (a stolen copy): the whole login ends.
    replay = api.call("POST", "/auth/refresh", json={"refresh_token": mallory.refresh_token})
    assert_problem(replay, 401, "refresh_token_reused")
    assert_problem(api.call("POST", "/auth/refresh",
                            json={"refresh_token": rotated["refresh_token"]}), 401)
    await connection.wait_until(lambda: connection.disconnected.is_set())
    assert connection.named("auth:revoked"), connection.received
    for token in (mallory.token, rotated["access_token"]):
        refused = LiveClient(connection.url, token, headers={"X-Forwarded-For": doc_ip()})
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect()
        assert refused.connect_error == {"message": "unauthorized"}


async def test_a_logged_out_token_opens_no_live_connection(http: httpx.Client, api: Api,
                                                           target: TaskflowServer) -> None:
    oscar = register(http, "Oscar")
    assert api.call("POST", "/auth/logout", oscar,
                    json={"refresh_token": oscar.refresh_token}).status_code == 204
    late = LiveClient(target.url, oscar.token, headers={"X-Forwarded-For": doc_ip()})
    with pytest.raises(socketio.exceptions.ConnectionError):
        await late.connect()
    assert late.connect_error == {"message": "unauthorized"}


def test_password_guessing_is_cut_off_per_account(http: httpx.Client, api: Api) -> None:
    """The production default (10/minute per account), from any number of addresses."""
    victim = register(http, "Guessed")
    statuses = []
    for attempt in range(12):
        r = api.call("POST", "/auth/login", json={"email": victim.email,
                                                  "password": f"guess number {attempt}"},
                     headers={"X-Forwarded-For": doc_ip()})
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
        assert_problem(r, 401, "invalid_credentials")
    # Ten guesses a minute; an eleventh or, when the guesses straddle the limiter's window
    # boundary (it weighs the previous window), a twelfth is refused.
    assert statuses[:10] == [401] * 10 and statuses[-1] == 429, statuses
    for email in (victim.email, victim.email.upper()):
        # Even the right password, from a fresh address: the guesser learns nothing more.
        r = api.call("POST", "/auth/login", json={"email": email, "password": victim.password},
                     headers={"X-Forwarded-For": doc_ip()})
        assert_problem(r, 429, "rate_limited")
        assert 1 <= int(r.headers["retry-after"]) <= 60
    # The account's owner still has its sessions: a locked login is not a locked account.
    assert api.call("GET", "/users/me", victim).status_code == 200
