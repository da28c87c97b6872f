"""The refresh cookie: browsers get the refresh token in an HttpOnly cookie as well, so a new
tab can resume the session; REST clients keep using the JSON body (the v1 contract)."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from quart import Quart

from tests.support.api import PASSWORD, problem, unique_email

COOKIE = "taskflow_refresh"


def _cookie(response: Any) -> Any:
    """The refresh cookie a response sets (a Morsel), or None."""
    for header in response.headers.getlist("Set-Cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if COOKIE in jar:
            return jar[COOKIE]
    return None


def _with_cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={token}"}


async def test_login_register_and_refresh_set_a_locked_down_cookie(app: Quart) -> None:
    client = app.test_client(use_cookies=False)
    email = unique_email()
    registered = await client.post("/api/v1/auth/register",
                                   json={"email": email, "password": PASSWORD, "name": "Cy"})
    body = await registered.get_json()
    morsel = _cookie(registered)
    assert morsel is not None and morsel.value == body["refresh_token"]
    assert morsel["httponly"] and morsel["secure"]
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/api/v1/auth"
    assert int(morsel["max-age"]) > 0
    logged_in = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert _cookie(logged_in).value == (await logged_in.get_json())["refresh_token"]


async def test_refresh_from_the_cookie_rotates_it_and_the_body_still_works(app: Quart) -> None:
    client = app.test_client(use_cookies=False)
    registered = await client.post("/api/v1/auth/register", json={
        "email": unique_email(), "password": PASSWORD, "name": "Cy"})
    first = _cookie(registered).value
    by_cookie = await client.post("/api/v1/auth/refresh", json={}, headers=_with_cookie(first))
    assert by_cookie.status_code == 200
    second = _cookie(by_cookie).value
    assert second == (await by_cookie.get_json())["refresh_token"] != first
    # The JSON body, as REST clients send it, works as before (and wins over a cookie).
    by_body = await client.post("/api/v1/auth/refresh", json={"refresh_token": second},
                                headers=_with_cookie("stale"))
    assert by_body.status_code == 200
    third = (await by_body.get_json())["refresh_token"]
    # Reusing a spent one through the cookie is a reuse like any other: 401, cookie cleared.
    reused = await client.post("/api/v1/auth/refresh", json={}, headers=_with_cookie(first))
    await problem(reused, 401, "refresh_token_reused")
    cleared = _cookie(reused)
    assert cleared is not None and cleared.value == "" and cleared["max-age"] in ("0", 0)
    await problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": third}),
                  401, "unauthorized")  # the whole login was revoked by the reuse


async def test_refresh_without_token_or_cookie_is_401(app: Quart) -> None:
    client = app.test_client(use_cookies=False)
    await problem(await client.post("/api/v1/auth/refresh", json={}), 401, "unauthorized")


async def test_logout_takes_the_cookie_and_clears_it(app: Quart) -> None:
    client = app.test_client(use_cookies=False)
    registered = await client.post("/api/v1/auth/register", json={
        "email": unique_email(), "password": PASSWORD, "name": "Cy"})
    body = await registered.get_json()
    token = _cookie(registered).value
    out = await client.post("/api/v1/auth/logout", json={},
                            headers={**_with_cookie(token),
                                     "Authorization": f"Bearer {body['access_token']}"})
    assert out.status_code == 204
    assert _cookie(out).value == ""
    await problem(await client.post("/api/v1/auth/refresh", json={}, headers=_with_cookie(token)),
                  401, "unauthorized")
