"""Ending a login ends its live connections, at once and for good (one real server process).

- A logout racing a connect of the same login: no socket of the login survives the logout.
- A password change: every open socket of every login of the user gets `auth:revoked` and
  is closed.
- A logout naming another login's refresh token (same user): both logins are ended, not only
  closed: neither reconnects nor refreshes afterwards.

The Redis-outage case (an `auth:revoked` lost while Redis is down) is in
tests/cluster/test_spine_cluster.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from tests.live.conftest import LIVE_ENV, Person
from tests.support.busy import fill_board, searching
from tests.support.liveclient import LiveClient
from tests.support.processes import TaskflowServer, serving

PASSWORD = "live password"  # tests/live/conftest.py registers everyone with it
CLOSED_WITHIN = 5.0
RACE_ROUNDS = 40
RACE_BATCH = 10  # rounds run side by side, one racing user each


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskflowServer]:
    workdir: Path = tmp_path_factory.mktemp("revocation")
    env = {**LIVE_ENV, "TASKFLOW_DATA_DIR": str(workdir / "data"),
           # Limits stay on, raised for the race's fresh login per round (from 127.0.0.1).
           "TASKFLOW_RATE_LIMIT_LOGIN": "100/minute;1000/hour",
           "TASKFLOW_RATE_LIMIT_AUTH_ADDRESS": "1000/minute;10000/hour",
           "TASKFLOW_RATE_LIMIT_API": "50000/minute",
           "TASKFLOW_LIVE_CONNECT_RATE": "2000/minute"}
    with serving(env, workdir, name="revocation") as running:
        yield running


async def login(http: httpx.AsyncClient, who: Person) -> dict[str, Any]:
    """A fresh login of `who`: its session (access and refresh token)."""
    r = await http.post("/api/v1/auth/login", json={"email": who.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    session: dict[str, Any] = r.json()
    return session


async def logout(http: httpx.AsyncClient, bearer: str, refresh_token: str) -> httpx.Response:
    return await http.post("/api/v1/auth/logout", json={"refresh_token": refresh_token},
                           headers={"Authorization": f"Bearer {bearer}"})


async def closed_within(client: LiveClient, timeout: float = CLOSED_WITHIN) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(client.disconnected.wait(), timeout)
        return True
    return not client.sio.connected


async def refused_with(url: str, token: str) -> Any:
    """The connect_error of a connect with `token` (None if it connected)."""
    client = LiveClient(url, token)
    try:
        await client.connect()
    except socketio.exceptions.ConnectionError:
        return client.connect_error
    finally:
        await client.close()
    return None


class _Announcing(socketio.AsyncClient):  # type: ignore[misc]
    """Sets `sent` once its Socket.IO CONNECT packet (carrying the token) is on its way."""

    def __init__(self) -> None:
        super().__init__(reconnection=False)
        self.sent = asyncio.Event()

    async def _handle_eio_connect(self) -> None:
        await super()._handle_eio_connect()
        self.sent.set()


async def _race_round(server: TaskflowServer, http: httpx.AsyncClient,
                      session: dict[str, Any]) -> tuple[bool, bool]:
    """Connects with the login's access token and, as soon as the server has the token, logs
    the login out: (connected, closed within CLOSED_WITHIN of the logout's 204)."""
    client = LiveClient(server.url, session["access_token"])
    client.sio = announcing = _Announcing()
    client.sio.on("disconnect", client._on_disconnect)

    async def connect() -> bool:
        with contextlib.suppress(socketio.exceptions.ConnectionError):
            await client.connect()
            return True
        return False

    connecting = asyncio.create_task(connect())
    try:
        await asyncio.wait_for(announcing.sent.wait(), 10)
        out = await logout(http, session["access_token"], session["refresh_token"])
        assert out.status_code == 204, out.text
        connected = await connecting
        return connected, (await closed_within(client)) if connected else True
    finally:
        await asyncio.gather(connecting, return_exceptions=True)
        await client.close()


@contextlib.asynccontextmanager
async def busy(server: TaskflowServer, http: httpx.AsyncClient, who: Person) -> AsyncIterator[None]:
    """Other clients searching a big board meanwhile (tests/support/busy.py)."""
    board = await who.board("Big")
    await asyncio.to_thread(fill_board, server.workdir / "data" / "taskflow.db", board["id"], who.id)
    async with searching(http, f"{server.url}/api/v1", who.token, board["id"]):
        yield


async def test_logout_racing_a_connect_leaves_no_socket_of_the_login(
        server: TaskflowServer, http: httpx.AsyncClient, person: Any) -> None:
    racers = [await person(f"Racer{i}") for i in range(RACE_BATCH)]
    connected = survived = 0
    async with busy(server, http, await person("Browser")):
        for _ in range(RACE_ROUNDS // RACE_BATCH):
            sessions = await asyncio.gather(*(login(http, who) for who in racers))
            outcomes = await asyncio.gather(*(_race_round(server, http, s) for s in sessions))
            connected += sum(c for c, _ in outcomes)
            survived += sum(c and not closed for c, closed in outcomes)
    print(f"\nlogout vs connect: {connected} of {RACE_ROUNDS} sockets connected, "
          f"{survived} still open {CLOSED_WITHIN}s after the logout")
    assert survived == 0, (f"{survived} of {RACE_ROUNDS} rounds kept a socket of a logged-out "
                           f"login open ({connected} connected at all)")


async def test_a_password_change_closes_every_socket_of_every_login(
        server: TaskflowServer, http: httpx.AsyncClient, person: Any, clients: Any) -> None:
    ada = await person("Ada")
    second = await login(http, ada)
    ended = await login(http, ada)
    ended_socket = await clients(ended["access_token"])
    assert (await logout(http, ended["access_token"], ended["refresh_token"])).status_code == 204
    assert await closed_within(ended_socket), "logout left its login's socket open"

    sockets = [await clients(ada.token), await clients(ada.token),
               await clients(second["access_token"])]
    r = await http.patch("/api/v1/users/me", headers=ada.headers,
                         json={"password": "a new live password", "current_password": PASSWORD})
    assert r.status_code == 200, r.text
    closed = await asyncio.gather(*(closed_within(s) for s in sockets))
    report = [((s.token == ada.token and "first login") or "second login", c,
               [e for e, _ in s.received]) for s, c in zip(sockets, closed, strict=True)]
    assert all(closed), f"sockets left open after the password change: {report}"
    assert all(s.named("auth:revoked") for s in sockets), f"closed without auth:revoked: {report}"
    for token in (ada.token, second["access_token"], ended["access_token"]):
        assert await refused_with(server.url, token) == {"message": "unauthorized"}


async def test_logout_with_another_logins_refresh_token_ends_both_logins(
        server: TaskflowServer, http: httpx.AsyncClient, person: Any, clients: Any) -> None:
    ada = await person("Ada")
    one, two = await login(http, ada), await login(http, ada)
    sockets = [await clients(one["access_token"]), await clients(two["access_token"])]
    out = await logout(http, one["access_token"], two["refresh_token"])
    assert out.status_code == 204, out.text
    closed = await asyncio.gather(*(closed_within(s) for s in sockets))
    assert closed == [True, True], f"(login 1, login 2) sockets closed: {closed}"

    rejoined = {name: await refused_with(server.url, s["access_token"])
                for name, s in (("login 1", one), ("login 2", two))}
    refreshed = (await http.post("/api/v1/auth/refresh",
                                 json={"refresh_token": one["refresh_token"]})).status_code
    assert rejoined == {"login 1": {"message": "unauthorized"},
                        "login 2": {"message": "unauthorized"}}, \
        f"connect_error per login after the logout (None: it connected again): {rejoined}"
    assert refreshed == 401, f"login 1's refresh token still refreshes: {refreshed}"
