"""A client sending packets Socket.IO can't decode: it is disconnected at the first one (as
socket.io's own server does), the log gets a bounded number of lines and no traceback, and
everyone else is served as before. A real server process, its real log."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.support.processes import TaskflowServer
from tests.support.rawsocket import RawHub
from tests.support.spine import gauges

PASSWORD = "malformed packets password"
PACKETS = 10_000
BURST = 500  # malformed packets sent on one connection before waiting for it to be closed
GARBAGE = (
    "4garbage{{{",  # a Socket.IO packet type that isn't a number
    '42["task:editing",',  # JSON cut short
    '42{"not": "a list"}',  # an event that isn't a list
    "42[]",  # an event without a name
    "47[]",  # no such packet type
    "44{}",  # CONNECT_ERROR: only servers send it
    '451-["upload",{"_placeholder":true,"num":0}]',  # binary: TaskFlow's events are JSON
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TaskflowServer]:
    srv = TaskflowServer(env={"TASKFLOW_DATA_DIR": str(tmp_path / "data")}, workdir=tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


async def _flood(url: str, session: aiohttp.ClientSession, token: str | None) -> int:
    """One connection: BURST malformed packets (after a Socket.IO connect when `token` is
    given); returns how many were sent once the server has closed the connection."""
    ws = await session.ws_connect(url.replace("http", "ws", 1)
                                  + "/socket.io/?EIO=4&transport=websocket", autoping=False)
    opened = await ws.receive(timeout=10)
    assert opened.type == aiohttp.WSMsgType.TEXT and opened.data.startswith("0{"), opened
    if token is not None:
        await ws.send_str("40" + json.dumps({"token": token}))
        connected = await ws.receive(timeout=10)
        assert connected.type == aiohttp.WSMsgType.TEXT and connected.data.startswith("40"), \
            connected
    sent = 0
    for n in range(BURST):
        try:
            await ws.send_str(GARBAGE[n % len(GARBAGE)])
        except ConnectionError:
            break  # the server closed it already
        sent += 1
    # The server ends the session: nothing but a close (or a last packet before it) comes.
    deadline = time.monotonic() + 10
    while not ws.closed:
        left = deadline - time.monotonic()
        assert left > 0, "the server did not close a connection that sent malformed packets"
        message = await ws.receive(timeout=left)
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
            break
    await ws.close()
    return sent


async def test_a_flood_of_malformed_packets_is_cut_off_and_costs_a_bounded_log(
        server: TaskflowServer) -> None:
    session = server.post("/api/v1/auth/register", json={
        "email": "honest@example.com", "password": PASSWORD, "name": "Honest"})
    assert session.status == 201, session.body
    token = session.json()["access_token"]
    board = server.post("/api/v1/boards", json={"name": "Busy"}, token=token)
    assert board.status == 201, board.body
    board_id = board.json()["id"]

    hub = RawHub(server.url)
    try:
        honest = await hub.open(token, "honest")
        assert (await honest.join(board_id, since=0))["ok"] is True

        async def flood() -> int:
            sent, n = 0, 0
            async with aiohttp.ClientSession() as attacker:
                while sent < PACKETS:
                    # Every other connection signs in first: both states are refused alike.
                    sent += await _flood(server.url, attacker, token if n % 2 else None)
                    n += 1
            return n

        async def work() -> list[float]:
            """Meanwhile, the honest user writes; each answer's latency is kept."""
            took = []
            async with aiohttp.ClientSession(base_url=server.url) as http:
                for i in range(20):
                    start = time.monotonic()
                    async with http.post("/api/v1/tasks", json={"board_id": board_id,
                                                                "title": f"t{i}"},
                                         headers={"Authorization": f"Bearer {token}"}) as r:
                        assert r.status == 201, await r.text()
                    took.append(time.monotonic() - start)
            return took

        connections, took = await asyncio.gather(flood(), work())
        # Every write reached the honest socket, in order.
        await hub.until(lambda: honest.seqs(board_id) == list(range(1, 21)), timeout=10,
                        what=lambda: f"seqs {honest.seqs(board_id)}")
        assert max(took) < 2.0, took
    finally:
        await hub.close()

    log = server.log()
    lines = [line for line in log.splitlines() if "malformed packet" in line]
    assert 1 <= len(lines) <= 10, (len(lines), lines[:3])  # LogQuota: 10 a minute
    assert "Traceback" not in log, log[log.index("Traceback"):][:2000]
    async with httpx.AsyncClient(base_url=server.url) as http_client:
        refused = (await gauges(http_client))["taskflow_live_malformed_packets_total"]
    assert refused >= connections, (refused, connections)
    print(f"\n{PACKETS:,} malformed packets over {connections} connections: {len(lines)} log "
          f"lines, {refused:.0f} packets refused before the disconnects took effect; the "
          f"honest user's slowest write took {max(took) * 1000:.0f} ms")
