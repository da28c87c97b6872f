"""API8:2023 Security Misconfiguration.

On real server processes: the hardening headers on every kind of response, no server
banner, CORS only for the configured origins and never with credentials, no TRACE, and in
production HSTS, no debug output, no internals in a 500 and no secrets in the logs.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import ALLOWED_ORIGIN, World
from tests.security.target import assert_problem, register
from tests.support.processes import TaskflowServer, serving


def _assorted(http: httpx.Client, world: World) -> list[httpx.Response]:
    auth = world.eve.headers
    return [
        http.get("/api/v1/health"),
        http.get("/api/v1/users/me", headers=auth),
        http.get(f"/api/v1/tasks/{world.task_e['id']}", headers=auth),
        http.get("/api/v1/users/me"),                                    # 401
        http.get("/api/v1/nope", headers=auth),                          # 404
        http.put("/api/v1/tasks", headers=auth),                         # 405
        http.post("/api/v1/tasks", json={"title": 1}, headers=auth),     # 422
        http.post("/api/v1/boards", content=b"{", headers={**auth, "Content-Type": "application/json"}),
        http.get("/docs"),
        http.get("/metrics"),
    ]


def test_hardening_headers_on_every_kind_of_response(http: httpx.Client, world: World) -> None:
    for response in _assorted(http, world):
        headers = response.headers
        where = f"{response.request.method} {response.request.url.path} {response.status_code}"
        assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), where
        assert headers.get("x-content-type-options") == "nosniff", where
        assert headers.get("x-frame-options") == "DENY", where
        assert headers.get("referrer-policy") == "no-referrer", where
        assert "server" not in headers and "x-powered-by" not in headers, (where, headers.get("server"))
        assert "strict-transport-security" not in headers, where  # HSTS: production only
        if response.request.url.path.startswith("/api/"):
            assert headers.get("cache-control") == "no-store", where
        if response.status_code >= 400:
            assert_problem(response, response.status_code)


@pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, "https://evil.example", "null",
                                    ALLOWED_ORIGIN + ".evil.example",
                                    ALLOWED_ORIGIN.replace("https", "http")])
def test_cors_names_only_configured_origins_and_never_credentials(
        http: httpx.Client, world: World, origin: str) -> None:
    preflight = http.options("/api/v1/tasks", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    actual = http.get("/api/v1/users/me", headers={"Origin": origin, **world.eve.headers})
    for response in (preflight, actual):
        allowed = response.headers.get("access-control-allow-origin")
        assert allowed == (origin if origin == ALLOWED_ORIGIN else None), (origin, allowed)
        assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PUT", "TRACK"])
def test_unused_methods_are_refused_without_an_echo(http: httpx.Client, method: str) -> None:
    response = http.request(method, "/api/v1/boards", headers={"X-Echo": "<script>"})
    assert "<script>" not in response.text
    if method == "TRACK":  # not HTTP: the HTTP parser refuses it before the app
        assert_problem(response, 400, "bad_request")
        return
    assert_problem(response, 405, "method_not_allowed")
    assert method not in response.headers["allow"]


# --- production ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskflowServer]:
    workdir: Path = tmp_path_factory.mktemp("production")
    env = {"TASKFLOW_ENV": "production", "JWT_SECRET": secrets.token_urlsafe(48),
           "TASKFLOW_DATA_DIR": str(workdir / "data")}
    with serving(env, workdir, name="production") as running:
        yield running


@pytest.fixture(scope="module")
def broken_login(production: TaskflowServer) -> tuple[httpx.Response, str]:
    """A login that fails inside the server: the stored hash is not a bcrypt hash (as after a
    bad import from another system). Returns the response and the password that was sent."""
    with httpx.Client(base_url=production.url, timeout=15) as http:
        victim = register(http, "Imported")
        with sqlite3.connect(production.workdir / "data" / "taskflow.db", timeout=10) as db:
            db.execute("UPDATE users SET password_hash = 'md5$legacy$0cc175b9' WHERE id = ?",
                       (victim.id,))
        password = f"marker-{secrets.token_hex(8)}"
        return http.post("/api/v1/auth/login", json={"email": victim.email, "password": password}), password


def test_production_answers_without_debug_output(production: TaskflowServer,
                                                 broken_login: tuple[httpx.Response, str]) -> None:
    response, password = broken_login
    body = assert_problem(response, 500, "internal_error")
    assert set(body) == {"type", "title", "status", "detail", "code"}
    assert password not in response.text
    with httpx.Client(base_url=production.url, timeout=15) as http:
        for r in (http.get("/api/v1/health"), http.get("/nope"), http.delete("/api/v1/health"), response):
            hsts = r.headers.get("strict-transport-security", "")
            match = re.search(r"max-age=(\d+)", hsts)
            assert match and int(match.group(1)) >= 180 * 24 * 3600, hsts
            assert "server" not in r.headers
            if r.status_code >= 400:
                assert_problem(r, r.status_code)


def test_secrets_never_reach_the_logs(production: TaskflowServer,
                                      broken_login: tuple[httpx.Response, str]) -> None:
    _, password = broken_login
    log = production.log_with("unhandled error")
    assert "unhandled error" in log  # the fault was logged...
    assert password not in log       # ...without what the client sent

