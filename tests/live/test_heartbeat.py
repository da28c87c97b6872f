"""The engine's heartbeat on a real server process: one PING per interval to every socket,
and a peer that stops answering is closed (its transport too) after the ping timeout.

realtime/engine.py sends every PING from one heartbeat instead of a task per socket, and
reads the websocket without a timer per message, so nothing else would notice a dead peer.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.support.liveclient import LiveClient
from tests.support.processes import METRICS_AUTH, TaskflowServer, serving

INTERVAL, TIMEOUT = 1, 2  # seconds: TASKFLOW_LIVE_PING_INTERVAL / _TIMEOUT


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskflowServer]:
    workdir: Path = tmp_path_factory.mktemp("heartbeat")
    env = {
        "JWT_SECRET": secrets.token_urlsafe(48),
        "TASKFLOW_DATA_DIR": str(workdir / "data"),
        "TASKFLOW_LIVE_PING_INTERVAL": str(INTERVAL),
        "TASKFLOW_LIVE_PING_TIMEOUT": str(TIMEOUT),
    }
    with serving(env, workdir) as running:
        yield running


async def _token(server: TaskflowServer) -> str:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        r = await http.post("/api/v1/auth/register", json={
            "email": f"beat-{secrets.token_hex(4)}@example.com", "password": "live password",
            "name": "Beat"})
        assert r.status_code == 201
        token: str = r.json()["access_token"]
        return token


async def _sockets_gauge(server: TaskflowServer) -> float:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        text = (await http.get("/metrics", headers=METRICS_AUTH)).text
    match = re.search(r"^taskflow_live_sockets ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, "taskflow_live_sockets is missing from /metrics"
    return float(match.group(1))


async def _until(condition: Callable[[], Awaitable[bool]], timeout: float) -> None:
    async def probe() -> None:
        # Polling /metrics: the server publishes no event to wait on.
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.1)

    await asyncio.wait_for(probe(), timeout)


class RawPeer:
    """A Socket.IO client on a raw websocket that decides itself whether to answer PINGs."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, server: TaskflowServer,
                      token: str) -> RawPeer:
        ws = await session.ws_connect(
            f"{server.url}/socket.io/?EIO=4&transport=websocket", autoping=False)
        peer = cls(ws)
        opened = await peer.text(5)
        assert opened is not None and opened.startswith("0{"), opened
        assert json.loads(opened[1:])["pingInterval"] >= INTERVAL * 1000
        await ws.send_str("40" + json.dumps({"token": token}))
        connected = await peer.text(5)
        assert connected is not None and connected.startswith("40{"), connected
        return peer

    async def text(self, timeout: float) -> str | None:
        """The next text frame, or None when the server closed the websocket."""
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            data: str = msg.data
            return data
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                            aiohttp.WSMsgType.CLOSED), msg
        return None


async def test_a_peer_that_stops_answering_pings_is_closed(server: TaskflowServer) -> None:
    token = await _token(server)
    before = await _sockets_gauge(server)
    async with aiohttp.ClientSession() as session:
        peer = await RawPeer.connect(session, server, token)
        assert await _sockets_gauge(server) == before + 1
        # The first PING comes one interval after the connect; it is never answered.
        first = await peer.text(INTERVAL + 3)
        assert first == "2", first
        pinged = time.monotonic()
        frames: list[str] = []
        while (text := await peer.text(TIMEOUT + 5)) is not None:
            frames.append(text)
        waited = time.monotonic() - pinged
        await peer.ws.close()  # releases aiohttp's connection (the server already closed)
        assert "2" not in frames, f"pinged again while a PONG was overdue: {frames}"
        assert TIMEOUT - 0.5 <= waited <= TIMEOUT + 2.5, f"closed {waited:.2f} s after the PING"
        await _until(lambda: _gone(server, before), 5)


async def _gone(server: TaskflowServer, before: float) -> bool:
    return await _sockets_gauge(server) == before


async def test_a_peer_that_answers_stays_for_many_intervals(server: TaskflowServer) -> None:
    token = await _token(server)
    async with aiohttp.ClientSession() as session:
        peer = await RawPeer.connect(session, server, token)
        started = time.monotonic()
        pings = 0
        while pings < 4:
            text = await peer.text(INTERVAL + 3)
            assert text is not None, f"closed after {pings} answered PINGs"
            if text == "2":
                pings += 1
                await peer.ws.send_str("3")
        elapsed = time.monotonic() - started
        # One PING per interval after each PONG (the heartbeat looks once a second).
        assert 4 * INTERVAL - 0.5 <= elapsed <= 4 * (INTERVAL + 1) + 1.5, elapsed
        assert not peer.ws.closed
        await peer.ws.close()


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_the_official_client_stays_connected_across_heartbeats(
        server: TaskflowServer, transport: str) -> None:
    token = await _token(server)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        headers = {"Authorization": f"Bearer {token}"}
        board = (await http.post("/api/v1/boards", json={"name": "beat"}, headers=headers)).json()
        live = await LiveClient(server.url, token, transports=[transport]).connect()
        try:
            await live.join(board["id"])
            # Longer than the client's own wait for a PING (interval + timeout) and than the
            # server's for a PONG: a heartbeat missed either way would have ended it by then.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(live.disconnected.wait(), 3 * INTERVAL + TIMEOUT + 1)
            r = await http.post("/api/v1/tasks", headers=headers,
                                json={"board_id": board["id"], "title": "still here"})
            assert r.status_code == 201
            await live.wait_until(lambda: len(live.board_events(board["id"])) == 1, 5)
        finally:
            await live.close()


async def test_opening_a_websocket_logs_no_line_per_connection(server: TaskflowServer) -> None:
    # Uvicorn logs "[accepted]" and "connection open" before it answers the handshake, so
    # they would be in the log by the time the client is connected.
    token = await _token(server)
    async with aiohttp.ClientSession() as session:
        peer = await RawPeer.connect(session, server, token)
        log = server.log()
        await peer.ws.close()
    assert "serving on uvicorn" in log  # the log is the server's, and it is written
    assert '"WebSocket /socket.io/' not in log and "connection open" not in log, log[-2000:]
