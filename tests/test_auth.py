"""Accounts, logins, token rotation and the profile."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from tests.conftest import TEST_SECRET
from tests.support.api import PASSWORD, problem, register, unique_email


async def test_register_returns_user_and_tokens(client: Any) -> None:
    email = unique_email()
    r = await client.post("/api/v1/auth/register",
                          json={"email": email, "password": PASSWORD, "name": "Ada"})
    assert r.status_code == 201
    body = await r.get_json()
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 900
    assert body["user"]["email"] == email
    assert set(body["user"]) == {"id", "email", "name", "created_at"}
    boards = await client.get("/api/v1/boards",
                              headers={"Authorization": f"Bearer {body['access_token']}"})
    (personal,) = (await boards.get_json())["items"]
    assert personal["role"] == "owner"
    assert personal["seq"] == 0


async def test_email_is_unique_whatever_its_case(client: Any) -> None:
    email = unique_email()
    await register(client, email=email)
    r = await client.post("/api/v1/auth/register",
                          json={"email": email.upper(), "password": PASSWORD, "name": "B"})
    await problem(r, 409, "conflict")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "name": "A"}, "email"),
        ({"email": "a@example.com", "password": "short", "name": "A"}, "password"),
        ({"email": "a@example.com", "password": "é" * 40, "name": "A"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD}, "name"),
        ({"email": "a@example.com", "password": PASSWORD, "name": "A", "id": "x"}, "id"),
    ],
)
async def test_register_refuses_bad_input(client: Any, body: dict[str, Any], field: str) -> None:
    r = await client.post("/api/v1/auth/register", json=body)
    problem_body = await problem(r, 422, "validation_failed")
    assert any(error["loc"][-1] == field for error in problem_body["errors"]), problem_body


async def test_login_failures_look_the_same(client: Any) -> None:
    ada = await register(client)
    wrong = await client.post("/api/v1/auth/login",
                              json={"email": ada.email, "password": "wrong password"})
    unknown = await client.post("/api/v1/auth/login",
                                json={"email": unique_email(), "password": "wrong password"})
    assert await problem(wrong, 401, "invalid_credentials") == await problem(
        unknown, 401, "invalid_credentials")
    ok = await client.post("/api/v1/auth/login",
                           json={"email": ada.email.upper(), "password": ada.password})
    assert ok.status_code == 200


async def test_passwords_are_stored_with_bcrypt_cost_12(app: Any, client: Any) -> None:
    ada = await register(client)
    user = await app.extensions["taskflow"].store.select_user(ada.id)
    assert user.password_hash.startswith("$2b$12$")
    assert ada.password not in user.password_hash


async def test_refresh_rotates_and_reuse_revokes_the_login(client: Any) -> None:
    ada = await register(client)
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": ada.refresh_token})
    assert first.status_code == 200
    rotated = (await first.get_json())["refresh_token"]
    assert rotated != ada.refresh_token
    reuse = await client.post("/api/v1/auth/refresh", json={"refresh_token": ada.refresh_token})
    await problem(reuse, 401, "refresh_token_reused")
    after = await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated})
    await problem(after, 401, "unauthorized")


async def test_logout_ends_the_login(client: Any) -> None:
    ada = await register(client)
    r = await client.post("/api/v1/auth/logout", json={"refresh_token": ada.refresh_token},
                          headers=ada.headers)
    assert r.status_code == 204
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": ada.refresh_token})
    await problem(again, 401)


async def test_logout_with_someone_elses_refresh_token_is_refused(client: Any) -> None:
    ada, bob = await register(client), await register(client, name="Bob")
    r = await client.post("/api/v1/auth/logout", json={"refresh_token": bob.refresh_token},
                          headers=ada.headers)
    await problem(r, 401)
    still = await client.post("/api/v1/auth/refresh", json={"refresh_token": bob.refresh_token})
    assert still.status_code == 200


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "u", "sid": "s", "iss": "taskflow", "aud": "taskflow-api", "iat": now,
            "exp": now + 60, "typ": "access", **overrides}


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(_claims(exp=int(time.time()) - 10), TEST_SECRET, algorithm="HS256"),
        jwt.encode(_claims(aud="someone-else"), TEST_SECRET, algorithm="HS256"),
        jwt.encode(_claims(iss="someone-else"), TEST_SECRET, algorithm="HS256"),
        jwt.encode(_claims(typ="refresh"), TEST_SECRET, algorithm="HS256"),
        jwt.encode(_claims(), "another secret that is long enough to sign", algorithm="HS256"),
        jwt.encode(_claims(), TEST_SECRET, algorithm="HS512"),
        jwt.encode(_claims(), None, algorithm="none"),  # type: ignore[arg-type]
        "not.a.jwt",
    ],
    ids=["expired", "audience", "issuer", "type", "signature", "alg-hs512", "alg-none", "garbage"],
)
async def test_bad_access_tokens_are_refused(client: Any, token: str) -> None:
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    await problem(r, 401, "unauthorized")


async def test_tampered_token_is_refused(client: Any) -> None:
    ada = await register(client)
    header, payload, signature = ada.access_token.split(".")
    tampered = f"{header}.{payload[:-2]}AA.{signature}"
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {tampered}"})
    await problem(r, 401)


async def test_profile_read_and_rename(client: Any) -> None:
    ada = await register(client)
    me = await (await client.get("/api/v1/users/me", headers=ada.headers)).get_json()
    assert (me["id"], me["email"], me["name"]) == (ada.id, ada.email, "Ada")
    r = await client.patch("/api/v1/users/me", headers=ada.headers, json={"name": "Ada L."})
    assert (await r.get_json())["name"] == "Ada L."


async def test_email_change_needs_the_current_password(client: Any) -> None:
    ada = await register(client)
    new_email = unique_email()
    missing = await client.patch("/api/v1/users/me", headers=ada.headers, json={"email": new_email})
    await problem(missing, 422, "validation_failed")
    wrong = await client.patch("/api/v1/users/me", headers=ada.headers,
                               json={"email": new_email, "current_password": "nope nope"})
    await problem(wrong, 403, "forbidden")
    ok = await client.patch("/api/v1/users/me", headers=ada.headers,
                            json={"email": new_email, "current_password": ada.password})
    assert (await ok.get_json())["email"] == new_email


async def test_email_change_to_a_taken_email_is_409(client: Any) -> None:
    ada, bob = await register(client), await register(client, name="Bob")
    r = await client.patch("/api/v1/users/me", headers=ada.headers,
                           json={"email": bob.email.upper(), "current_password": ada.password})
    await problem(r, 409, "conflict")


async def test_new_password_revokes_every_login(client: Any) -> None:
    ada = await register(client)
    second = await client.post("/api/v1/auth/login",
                               json={"email": ada.email, "password": ada.password})
    second_refresh = (await second.get_json())["refresh_token"]
    r = await client.patch("/api/v1/users/me", headers=ada.headers,
                           json={"password": "a brand new one", "current_password": ada.password})
    assert r.status_code == 200
    for token in (ada.refresh_token, second_refresh):
        refused = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
        await problem(refused, 401)
    old = await client.post("/api/v1/auth/login", json={"email": ada.email,
                                                        "password": ada.password})
    await problem(old, 401, "invalid_credentials")
    new = await client.post("/api/v1/auth/login", json={"email": ada.email,
                                                        "password": "a brand new one"})
    assert new.status_code == 200
