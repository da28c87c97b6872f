"""One real server process for the live-channel tests of this package."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.liveclient import LiveClient
from tests.support.processes import TaskflowServer, serving
from tests.support.rawsocket import RawHub

LIVE_ENV = {
    "JWT_SECRET": secrets.token_urlsafe(48),
    "TASKFLOW_ENV": "test",
    # Small enough to test the per-connection limits without sending megabytes.
    "TASKFLOW_LIVE_EVENT_RATE": "20/second",
    "TASKFLOW_LIVE_MAX_MESSAGE_BYTES": "8192",
    "TASKFLOW_LIVE_SWEEP_MS": "500",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskflowServer]:
    workdir: Path = tmp_path_factory.mktemp("live")
    with serving({**LIVE_ENV, "TASKFLOW_DATA_DIR": str(workdir / "data")}, workdir) as running:
        yield running


@pytest.fixture
async def http(server: TaskflowServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


class Person:
    """A registered user of the live tests, with REST helpers."""

    def __init__(self, http: httpx.AsyncClient, session: dict[str, Any]) -> None:
        self.http = http
        self.id: str = session["user"]["id"]
        self.email: str = session["user"]["email"]
        self.token: str = session["access_token"]
        self.refresh_token: str = session["refresh_token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.http.post(f"/api/v1{path}", json=body, headers=self.headers)
        assert r.status_code in (200, 201), r.text
        data: dict[str, Any] = r.json()
        return data

    async def board(self, name: str = "Live") -> dict[str, Any]:
        return await self.post("/boards", {"name": name})

    async def add(self, board: dict[str, Any], other: Person, role: str = "editor") -> None:
        await self.post(f"/boards/{board['id']}/members", {"email": other.email, "role": role})

    async def task(self, board: dict[str, Any], title: str = "t") -> dict[str, Any]:
        return await self.post("/tasks", {"board_id": board["id"], "title": title})


@pytest.fixture
def person(http: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    async def make(name: str = "Ada") -> Person:
        email = f"{name.lower()}-{secrets.token_hex(4)}@example.com"
        r = await http.post("/api/v1/auth/register",
                            json={"email": email, "password": "live password", "name": name})
        assert r.status_code == 201, r.text
        return Person(http, r.json())

    return make


@pytest.fixture
async def clients(server: TaskflowServer) -> AsyncIterator[Any]:
    opened: list[LiveClient] = []

    async def connect(token: str, **kwargs: Any) -> LiveClient:
        client = LiveClient(server.url, token, **kwargs)
        opened.append(client)
        return await client.connect()

    yield connect
    for client in opened:
        await client.close()


@pytest.fixture
async def hub(server: TaskflowServer) -> AsyncIterator[RawHub]:
    """Raw Socket.IO sockets (every frame recorded in order) on the module's server."""
    raw = RawHub(server.url)
    yield raw
    await raw.close()
