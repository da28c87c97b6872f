"""Factories that go through the real HTTP surface (the Quart test client)."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from typing import Any

from quart.typing import TestClientProtocol

_counter = itertools.count()
PASSWORD = "correct horse battery"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}-{secrets.token_hex(3)}@example.com"


@dataclass
class Account:
    """A registered user and its tokens."""

    id: str
    email: str
    name: str
    access_token: str
    refresh_token: str
    password: str = PASSWORD

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register(client: TestClientProtocol, *, name: str = "Ada", email: str | None = None,
                   password: str = PASSWORD) -> Account:
    email = email or unique_email(name.lower())
    response = await client.post("/api/v1/auth/register",
                                 json={"email": email, "password": password, "name": name})
    assert response.status_code == 201, await response.get_data(as_text=True)
    body = await response.get_json()
    return Account(id=body["user"]["id"], email=email, name=name,
                   access_token=body["access_token"], refresh_token=body["refresh_token"],
                   password=password)


async def make_board(client: TestClientProtocol, owner: Account, *, name: str = "Team",
                     members: dict[str, Account] | None = None,
                     roles: dict[str, str] | None = None) -> dict[str, Any]:
    """A board owned by `owner`, with `members` added under their `roles` (default editor)."""
    response = await client.post("/api/v1/boards", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, await response.get_data(as_text=True)
    board: dict[str, Any] = await response.get_json()
    for key, account in (members or {}).items():
        role = (roles or {}).get(key, "editor")
        added = await client.post(f"/api/v1/boards/{board['id']}/members",
                                  json={"email": account.email, "role": role},
                                  headers=owner.headers)
        assert added.status_code == 201, await added.get_data(as_text=True)
    return board


async def make_task(client: TestClientProtocol, account: Account, board_id: str,
                    **fields: Any) -> dict[str, Any]:
    body = {"board_id": board_id, "title": "A task", **fields}
    response = await client.post("/api/v1/tasks", json=body, headers=account.headers)
    assert response.status_code == 201, await response.get_data(as_text=True)
    task: dict[str, Any] = await response.get_json()
    return task


async def problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Asserts a problem+json response with this status (and code) and returns its body."""
    text = await response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.headers["Content-Type"].startswith("application/problem+json"), text
    body: dict[str, Any] = await response.get_json(force=True)
    assert body["status"] == status
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    if code is not None:
        assert body["code"] == code, body
    assert "Traceback" not in text
    return body
