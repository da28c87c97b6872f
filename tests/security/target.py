"""Helpers of the security suite: people on a real server, problem checks, forged tokens.

Everything goes through the server's real surface (HTTP with httpx, Socket.IO with
python-socketio); nothing here reaches into the server's code.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from tests.support.processes import TaskflowServer

PASSWORD = "security suite password"
_names = itertools.count(1)


def unique_email(prefix: str) -> str:
    return f"{prefix}-{next(_names)}-{secrets.token_hex(3)}@example.com"


def doc_ip() -> str:
    """A fresh address of the IPv6 documentation range: its own rate-limit bucket.

    The server trusts X-Forwarded-For from 127.0.0.1 (its default trusted proxy), so a test
    that sends this header is, to the limiter, a client of its own."""
    return f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::{secrets.token_hex(2)}"


@dataclass
class Person:
    """A registered user and the session it got at registration."""

    id: str
    email: str
    name: str
    token: str
    refresh_token: str
    password: str = PASSWORD

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(http: httpx.Client, name: str, *, password: str = PASSWORD) -> Person:
    email = unique_email(name.lower())
    r = http.post("/api/v1/auth/register", json={"email": email, "password": password, "name": name})
    assert r.status_code == 201, r.text
    body = r.json()
    return Person(id=body["user"]["id"], email=email, name=name, token=body["access_token"],
                  refresh_token=body["refresh_token"], password=password)


class Api:
    """The REST API as one person (or nobody) sees it."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def call(self, method: str, path: str, who: Person | None = None, *, json: Any = None,
             headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        sent = {**(who.headers if who else {}), **(headers or {})}
        return self.http.request(method, f"/api/v1{path}", json=json, headers=sent, **kwargs)

    def ok(self, method: str, path: str, who: Person, *, json: Any = None,
           **kwargs: Any) -> Any:
        r = self.call(method, path, who, json=json, **kwargs)
        assert r.status_code in (200, 201, 204), (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def board(self, owner: Person, name: str = "Board", **members: tuple[Person, str]) -> dict[str, Any]:
        """A board owned by `owner`; `members` maps a label to (person, role)."""
        board: dict[str, Any] = self.ok("POST", "/boards", owner, json={"name": name})
        for person, role in members.values():
            self.ok("POST", f"/boards/{board['id']}/members", owner,
                    json={"email": person.email, "role": role})
        return board

    def task(self, who: Person, board_id: str, **fields: Any) -> dict[str, Any]:
        task: dict[str, Any] = self.ok("POST", "/tasks", who,
                                       json={"board_id": board_id, "title": "A task", **fields})
        return task

    def comment(self, who: Person, task_id: str, body: str = "A comment") -> dict[str, Any]:
        comment: dict[str, Any] = self.ok("POST", f"/tasks/{task_id}/comments", who,
                                          json={"body": body})
        return comment

    def attachment(self, who: Person, task_id: str, data: bytes = b"hello") -> dict[str, Any]:
        r = self.call("POST", f"/tasks/{task_id}/attachments", who,
                      files={"file": ("notes.txt", data, "text/plain")})
        assert r.status_code == 201, r.text
        attachment: dict[str, Any] = r.json()
        return attachment


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """A problem+json response with this status (and code), without internals."""
    text = response.text
    assert response.status_code == status, (response.request.method, response.request.url,
                                            response.status_code, text)
    assert response.headers["content-type"].startswith("application/problem+json"), text
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), body
    assert body["status"] == status, body
    if code is not None:
        assert body["code"] == code, body
    assert "Traceback" not in text and ".py" not in text, text
    return body


def claims(**overrides: Any) -> dict[str, Any]:
    """Access-token claims as the server issues them; `overrides` change or (None) drop one."""
    now = int(time.time())
    base: dict[str, Any] = {"sub": "u", "sid": "s", "iss": "taskflow", "aud": "taskflow-api",
                            "iat": now, "exp": now + 600, "jti": secrets.token_hex(8),
                            "typ": "access"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def unsigned(payload: dict[str, Any], alg: str = "none") -> str:
    """A JWT with `alg` in its header and no signature (the alg=none attack)."""
    def part(data: dict[str, Any]) -> str:
        return jwt.utils.base64url_encode(json.dumps(data).encode()).decode()

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(payload)}."


async def assert_still_serving(target: TaskflowServer, live: Any, who: Person,
                               board_id: str) -> None:
    """The server answers HTTP and a fresh live client joins a board: others are unaffected."""
    async with httpx.AsyncClient(base_url=target.url, timeout=10) as client:
        assert (await client.get("/api/v1/health")).status_code == 200
        me = await client.get("/api/v1/users/me", headers=who.headers)
        assert me.status_code == 200, me.text
    canary = await live(who.token)
    ack = await canary.join(board_id)
    assert ack["ok"] is True, ack
