"""Personal access tokens through the real app: create, list, revoke, scopes, expiry, and a
token never outliving its user's access (password change, member removal)."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from quart import Quart

from taskflow.config import Settings
from taskflow.services.scopes import ROUTE_SCOPES, route_scope
from tests.support.api import Account, make_board, make_task, problem, register
from tests.test_ratelimit import assert_limited, limits, running

TOKENS = "/api/v1/users/me/tokens"


async def _token(client: Any, who: Account, scopes: list[str], days: int = 30,
                 name: str = "ci") -> dict[str, Any]:
    r = await client.post(TOKENS, headers=who.headers,
                          json={"name": name, "scopes": scopes, "expires_in_days": days})
    assert r.status_code == 201, await r.get_data(as_text=True)
    body: dict[str, Any] = await r.get_json()
    return body


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _db(app: Quart) -> sqlite3.Connection:
    return sqlite3.connect(app.extensions["taskflow"].settings.data_dir / "taskflow.db")


async def test_create_shows_secret_once_lists_without_it_and_revokes(client: Any, app: Quart) -> None:
    ada = await register(client, name="Ada")
    made = await _token(client, ada, ["read", "write"], days=7, name="deploy bot")
    secret = made["token"]
    assert re.fullmatch(r"tfp_[A-Za-z0-9_-]{43}", secret), secret
    assert made["scopes"] == ["read", "write"] and made["name"] == "deploy bot"
    assert made["last_used_at"] is None
    # The secret works as a bearer token; the listing never shows it.
    me = await client.get("/api/v1/users/me", headers=_bearer(secret))
    assert me.status_code == 200 and (await me.get_json())["id"] == ada.id
    listed = await client.get(TOKENS, headers=ada.headers)
    body = await listed.get_json()
    assert [t["id"] for t in body["items"]] == [made["id"]]
    assert "token" not in body["items"][0] and secret not in await listed.get_data(as_text=True)
    assert body["items"][0]["last_used_at"] is not None  # the GET /users/me above
    # At rest: the SHA-256 only, never the secret.
    with _db(app) as db:
        rows = db.execute("SELECT * FROM personal_tokens").fetchall()
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0])
    assert secret not in stored and secret[4:] not in stored
    assert hashlib.sha256(secret.encode()).hexdigest() in stored
    # Revoked: refused at once.
    r = await client.delete(f"{TOKENS}/{made['id']}", headers=ada.headers)
    assert r.status_code == 204
    await problem(await client.get("/api/v1/users/me", headers=_bearer(secret)), 401)
    assert (await (await client.get(TOKENS, headers=ada.headers)).get_json())["items"] == []
    await problem(await client.delete(f"{TOKENS}/{made['id']}", headers=ada.headers), 404)


async def test_tokens_are_private_and_paginated(client: Any) -> None:
    ada, bob = await register(client, name="Ada"), await register(client, name="Bob")
    made = [await _token(client, ada, ["read"], name=f"t{i}") for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = f"?limit=2{'&cursor=' + cursor if cursor else ''}"
        page = await (await client.get(TOKENS + query, headers=ada.headers)).get_json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [t["id"] for t in made]
    assert (await (await client.get(TOKENS, headers=bob.headers)).get_json())["items"] == []
    # Bob can't revoke Ada's token: 404, and it still works.
    await problem(await client.delete(f"{TOKENS}/{made[0]['id']}", headers=bob.headers), 404)
    assert (await client.get("/api/v1/users/me", headers=_bearer(made[0]["token"]))).status_code == 200


@pytest.mark.parametrize("body", [
    {"name": "x", "scopes": ["read"], "expires_in_days": 0},
    {"name": "x", "scopes": ["read"], "expires_in_days": 366},
    {"name": "x", "scopes": ["read"]},
    {"name": "x", "scopes": [], "expires_in_days": 1},
    {"name": "x", "scopes": ["root"], "expires_in_days": 1},
    {"name": "", "scopes": ["read"], "expires_in_days": 1},
    {"name": "x", "scopes": ["read"], "expires_in_days": 1, "token": "tfp_mine"},
])
async def test_bad_token_requests_are_422(client: Any, body: dict[str, Any]) -> None:
    ada = await register(client, name="Ada")
    await problem(await client.post(TOKENS, headers=ada.headers, json=body), 422,
                  "validation_failed")


def test_every_route_has_a_scope_by_the_rule(app: Quart) -> None:
    """The real route map: GET needs read unless declared; every other method admin unless
    declared write (or session); every declared route exists."""
    rules = {f"{m} {r.rule}" for r in app.url_map.iter_rules()
             for m in r.methods or () if m not in ("OPTIONS", "HEAD")}
    assert set(ROUTE_SCOPES) <= rules, set(ROUTE_SCOPES) - rules
    for key in rules:
        method, rule = key.split(" ", 1)
        needed = route_scope(method, rule)
        if key in ROUTE_SCOPES:
            assert needed == ROUTE_SCOPES[key]
        else:
            assert needed == ("read" if method == "GET" else "admin"), key
    # Webhooks are admin's, reads included; export is a read, import an admin write.
    assert route_scope("POST", "/api/v1/boards/<board_id>/webhooks") == "admin"
    assert route_scope("GET", "/api/v1/boards/<board_id>/webhooks/<webhook_id>/deliveries") \
        == "admin"
    assert route_scope("GET", "/api/v1/boards/<board_id>/export") == "read"
    assert route_scope("POST", "/api/v1/boards/import") == "admin"


async def test_scopes_allow_and_refuse_by_kind_of_route(client: Any) -> None:
    ada = await register(client, name="Ada")
    board = await make_board(client, ada)
    task = await make_task(client, ada, board["id"])
    tokens = {s: (await _token(client, ada, [s]))["token"] for s in ("read", "write", "admin")}
    # (method, path, body, the lowest scope that may) for each kind of route.
    calls: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("GET", f"/api/v1/boards/{board['id']}", None, "read"),
        ("GET", "/api/v1/tasks", None, "read"),
        ("PATCH", f"/api/v1/tasks/{task['id']}", {"title": "renamed"}, "write"),
        ("POST", f"/api/v1/tasks/{task['id']}/comments", {"body": "hi"}, "write"),
        ("POST", f"/api/v1/tasks/{task['id']}/checklist", {"text": "step"}, "write"),
        ("PATCH", f"/api/v1/boards/{board['id']}", {"description": "d"}, "admin"),
        ("POST", "/api/v1/boards", {"name": "New"}, "admin"),
        ("GET", TOKENS, None, "admin"),
        ("POST", TOKENS, {"name": "n", "scopes": ["read"], "expires_in_days": 1}, "admin"),
    ]
    rank = {"read": 0, "write": 1, "admin": 2}
    for method, path, body, lowest in calls:
        for scope, secret in tokens.items():
            r = await client.open(path, method=method, json=body, headers=_bearer(secret))
            if rank[scope] >= rank[lowest]:
                assert r.status_code < 300, (method, path, scope, await r.get_data(as_text=True))
            else:
                refused = await problem(r, 403, "insufficient_scope")
                assert refused["required_scope"] == lowest, (method, path, refused)
        # The password login keeps full rights.
        r = await client.open(path, method=method, json=body, headers=ada.headers)
        assert r.status_code < 300, (method, path)


async def test_a_token_cant_log_out_or_refresh(client: Any) -> None:
    ada = await register(client, name="Ada")
    secret = (await _token(client, ada, ["admin"]))["token"]
    r = await client.post("/api/v1/auth/logout", headers=_bearer(secret),
                          json={"refresh_token": ada.refresh_token})
    assert (await problem(r, 403, "insufficient_scope"))["required_scope"] == "session"
    await problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": secret}), 401)
    # Ada's login is untouched.
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": ada.refresh_token})
    assert r.status_code == 200


async def test_expired_tokens_are_refused_then_purged(client: Any, app: Quart) -> None:
    ada = await register(client, name="Ada")
    made = await _token(client, ada, ["read"])
    with _db(app) as db:  # as if 30 days had passed
        db.execute("UPDATE personal_tokens SET expires_at = '2020-01-01T00:00:00.000000Z'")
    r = await client.get("/api/v1/users/me", headers=_bearer(made["token"]))
    assert (await problem(r, 401))["reason"] == "token_expired"
    from datetime import UTC, datetime

    purged = await app.extensions["taskflow"].services.personal_tokens.purge(datetime.now(UTC))
    assert purged == 1
    assert (await (await client.get(TOKENS, headers=ada.headers)).get_json())["items"] == []


async def test_password_change_revokes_every_token(client: Any) -> None:
    ada = await register(client, name="Ada")
    secrets_ = [(await _token(client, ada, [s]))["token"] for s in ("read", "admin")]
    r = await client.patch("/api/v1/users/me", headers=ada.headers,
                           json={"password": "another long one", "current_password": ada.password})
    assert r.status_code == 200
    for secret in secrets_:
        await problem(await client.get("/api/v1/users/me", headers=_bearer(secret)), 401)


async def test_member_removal_takes_the_board_from_the_token_at_once(client: Any) -> None:
    ada, bob = await register(client, name="Ada"), await register(client, name="Bob")
    board = await make_board(client, ada, members={"b": bob})
    secret = (await _token(client, bob, ["write"]))["token"]
    assert (await client.get(f"/api/v1/boards/{board['id']}", headers=_bearer(secret))).status_code == 200
    r = await client.delete(f"/api/v1/boards/{board['id']}/members/{bob.id}", headers=ada.headers)
    assert r.status_code == 204
    await problem(await client.get(f"/api/v1/boards/{board['id']}", headers=_bearer(secret)), 404)
    await problem(await client.post("/api/v1/tasks", headers=_bearer(secret),
                                    json={"board_id": board["id"], "title": "x"}), 404)
    # The token itself still works for what Bob still has.
    assert (await client.get("/api/v1/users/me", headers=_bearer(secret))).status_code == 200


async def test_unknown_and_malformed_tokens_are_401(client: Any) -> None:
    for secret in ("tfp_", "tfp_" + "A" * 43, "tfp_\u00e9"):
        await problem(await client.get("/api/v1/users/me", headers=_bearer(secret)), 401)


async def test_openapi_documents_both_kinds_of_bearer_token(client: Any) -> None:
    doc = await (await client.get("/openapi.json")).get_json()
    schemes = doc["components"]["securitySchemes"]
    assert {schemes[name]["bearerFormat"] for name in ("bearerAuth", "personalToken")} == {
        "JWT", "tfp_"}
    assert {"bearerAuth", "personalToken"} <= {n for r in doc["security"] for n in r}
    created = doc["paths"]["/api/v1/users/me/tokens"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]


async def test_token_requests_count_against_the_users_api_limit(
        make_settings: Callable[..., Settings]) -> None:
    async with running(make_settings(rate_limits=limits(api_per_user="4/minute"))) as client:
        ada = await register(client, name="Ada")
        secret = (await _token(client, ada, ["read"]))["token"]  # 1 of Ada's 4
        for headers in (_bearer(secret), ada.headers, _bearer(secret)):
            assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
        # One bucket for the user, whichever credential spends it.
        await assert_limited(await client.get("/api/v1/users/me", headers=_bearer(secret)), 60)
        await assert_limited(await client.get("/api/v1/users/me", headers=ada.headers), 60)


async def test_token_creation_is_limited_like_the_auth_routes(
        make_settings: Callable[..., Settings]) -> None:
    async with running(make_settings(rate_limits=limits(auth_per_address="3/minute"))) as client:
        ada = await register(client, name="Ada")  # 1 of the address's 3
        for _ in range(2):
            await _token(client, ada, ["read"])
        body = {"name": "x", "scopes": ["read"], "expires_in_days": 1}
        await assert_limited(await client.post(TOKENS, headers=ada.headers, json=body), 60)
