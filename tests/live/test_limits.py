"""Connections that stop reading, and tokens that run out, on real server processes."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from tests.support.liveclient import LiveClient
from tests.support.processes import METRICS_AUTH, TaskflowServer, serving


class StalledClient:
    """A websocket Socket.IO client on a raw socket that joins a board, then never reads."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        # A small receive window: the server notices a reader that stopped sooner.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.ws = WSConnection(ConnectionType.CLIENT)
        self._send(Request(host=f"127.0.0.1:{port}", target="/socket.io/?EIO=4&transport=websocket"))
        self._pending: list[str] = []

    def _send(self, event: object) -> None:
        self.sock.sendall(self.ws.send(event))  # type: ignore[arg-type]

    def _next_text(self) -> str:
        while not self._pending:
            self.ws.receive_data(self.sock.recv(65536))
            for event in self.ws.events():
                if isinstance(event, TextMessage):
                    self._pending.append(event.data)
                elif not isinstance(event, AcceptConnection):
                    raise AssertionError(f"unexpected websocket event {event!r}")
        return self._pending.pop(0)

    def handshake(self, token: str, board_id: str) -> None:
        assert self._next_text().startswith("0{")           # engine.io open
        self._send(TextMessage(data="40" + json.dumps({"token": token})))
        assert self._next_text().startswith("40{")          # socket.io connected
        self._send(TextMessage(data="420" + json.dumps(["board:join", {"board_id": board_id}])))
        while True:                                          # until the join ack
            text = self._next_text()
            if re.match(r"^430\[", text):
                assert json.loads(text[3:])[0]["ok"] is True
                return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskflowServer]:
    workdir: Path = tmp_path_factory.mktemp("limits")
    env = {
        "JWT_SECRET": secrets.token_urlsafe(48),
        "TASKFLOW_DATA_DIR": str(workdir / "data"),
        "TASKFLOW_LIVE_MAX_QUEUE": "20",
        # Long pings: it must be the queue limit, not a missed pong, that ends the reader.
        "TASKFLOW_LIVE_PING_INTERVAL": "120",
        "TASKFLOW_ACCESS_TOKEN_TTL": "12",
    }
    with serving(env, workdir) as running:
        yield running


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def _session(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    r = await http.post("/api/v1/auth/register", json={
        "email": f"{name}-{secrets.token_hex(4)}@example.com", "password": "live password",
        "name": name})
    assert r.status_code == 201
    return {"token": r.json()["access_token"]}


async def test_a_client_that_stops_reading_is_cut_off(strict_server: TaskflowServer) -> None:
    async with httpx.AsyncClient(base_url=strict_server.url, timeout=10) as http:
        session = await _session(http, "Writer")
        headers = {"Authorization": f"Bearer {session['token']}"}
        board = (await http.post("/api/v1/boards", json={"name": "firehose"}, headers=headers)).json()
        stalled = StalledClient(strict_server.port)
        stalled.handshake(session["token"], board["id"])
        healthy = await LiveClient(strict_server.url, session["token"]).connect()
        await healthy.join(board["id"])
        metrics = (await http.get("/metrics", headers=METRICS_AUTH)).text
        before = _metric(metrics, "taskflow_live_slow_consumers_total")
        bulky = "x" * 9000  # ~9 kB per event fills the socket buffers in a few hundred events
        sent = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = await http.post("/api/v1/tasks", headers=headers,
                                json={"board_id": board["id"], "title": f"t{sent}",
                                      "description": bulky})
            assert r.status_code == 201
            sent += 1
            metrics = (await http.get("/metrics", headers=METRICS_AUTH)).text
            if _metric(metrics, "taskflow_live_slow_consumers_total") > before:
                break
        else:
            raise AssertionError(f"the stalled client was never cut off after {sent} events")
        assert _metric(metrics, "taskflow_live_connections") == 1  # only the healthy one left
        # The client that reads got everything, in order.
        await healthy.wait_until(lambda: len(healthy.board_events(board["id"])) == sent, 15)
        assert [e["seq"] for e in healthy.board_events(board["id"])] == list(range(1, sent + 1))
        stalled.close()
        await healthy.close()


async def test_expired_token_gets_a_warning_then_the_door(strict_server: TaskflowServer) -> None:
    async with httpx.AsyncClient(base_url=strict_server.url, timeout=10) as http:
        session = await _session(http, "Shorty")
    live = await LiveClient(strict_server.url, session["token"]).connect()
    try:
        await live.wait_until(lambda: bool(live.named("auth:expiring")), 10)
        await asyncio.wait_for(live.disconnected.wait(), 25)
        assert live.named("auth:expired") == [{"reason": "token_expired"}]
    finally:
        await live.close()
