"""Abuse of the live channel: malformed packets, wrong types, unknown events, thousands of
rooms, forged tokens inside a connection, cross-origin connects.

Each abuse gets a clear refusal (a 4xx ack, a refused connect, or that connection closed),
never a crash, and the server keeps serving everybody else (HTTP and a fresh live client).
Sizes, rates and connection floods are in test_api4; forged tokens at connect in test_api2.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from typing import Any

import httpx
import jwt
import pytest
import socketio
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.security.conftest import ALLOWED_ORIGIN, TARGET_SECRET, World
from tests.security.target import (
    Api,
    Person,
    assert_still_serving,
    claims,
    doc_ip,
    register,
    unsigned,
)
from tests.support.liveclient import LiveClient
from tests.support.processes import TaskflowServer

LEAVE = '420["board:leave",{"board_id":"x"}]'
# Frames a broken or hostile client may send once connected (engine.io "4" = message,
# then the Socket.IO packet: "2" event, "0" connect, "5" binary event...).
FRAMES = [
    "42", "42[", "42{}", "42[1]", "42[null]", '42["board:join"', "4", "49", "9", "0", "40",
    '40{"token": 5}', '421234567890123456789012345["board:join",{}]', '42/admin,["board:join",{}]',
    '42["board:join",' + "[" * 5000 + "]" * 5000 + "]", "4" + "\u0000" * 10, "6", "5",
    '451-["board:join",{"_placeholder":true,"num":0}]', '42["connect",{}]', '42["disconnect"]',
]
# Connect packets (the first thing a client sends) with a bad auth payload.
BAD_CONNECTS = ['40"a-token"', "40[1]", '40{"token":5}', '40{"token":null}', "40{}",
                '40{"token":"' + "x" * 10_000 + '"}', "40{"]


def _ws_url(target: TaskflowServer) -> str:
    return f"ws://127.0.0.1:{target.port}/socket.io/?EIO=4&transport=websocket"


async def _outcome(ws: Any) -> str:
    """What the connection does after a bad frame: answers a valid command, is closed, or
    stays silent (e.g. waiting for the binary attachments a frame announced)."""
    try:
        await ws.send(LEAVE)
        while True:
            reply = await asyncio.wait_for(ws.recv(), 2)
            assert "Traceback" not in reply
            if reply.startswith("430"):
                return "answered"
    except ConnectionClosed:
        return "closed"
    except TimeoutError:
        return "silent"


@pytest.mark.parametrize("frame", FRAMES, ids=[repr(f)[:40] for f in FRAMES])
async def test_malformed_packets_harm_nobody(target: TaskflowServer, world: World, live: Any,
                                             frame: str) -> None:
    async with ws_connect(_ws_url(target), open_timeout=5,
                          additional_headers={"X-Forwarded-For": doc_ip()}) as ws:
        assert str(await ws.recv()).startswith("0{")
        await ws.send("40" + json.dumps({"token": world.eve.token}))
        assert str(await ws.recv()).startswith("40{")
        with contextlib.suppress(ConnectionClosed):
            await ws.send(frame)
        assert await _outcome(ws) in ("answered", "closed", "silent")
    assert target.running
    await assert_still_serving(target, live, world.eve, world.board_e["id"])


@pytest.mark.parametrize("packet", BAD_CONNECTS, ids=[p[:20] for p in BAD_CONNECTS])
async def test_connects_with_a_malformed_auth_are_refused(target: TaskflowServer, world: World,
                                                          live: Any, packet: str) -> None:
    async with ws_connect(_ws_url(target), open_timeout=5,
                          additional_headers={"X-Forwarded-For": doc_ip()}) as ws:
        assert str(await ws.recv()).startswith("0{")
        await ws.send(packet)
        reply = None
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            reply = str(await asyncio.wait_for(ws.recv(), 3))
        # A connect error, or nothing for a packet that isn't JSON; never "40" (connected).
        if packet == "40{":
            assert reply is None or reply.startswith("44"), reply
        else:
            assert reply is not None and json.loads(reply[2:]) == {"message": "unauthorized"}, reply
    await assert_still_serving(target, live, world.eve, world.board_e["id"])


WRONG = [None, "text", 5, 1.5, True, [1, 2], {"unexpected": 1}, {"board_id": ["a"]},
         {"board_id": {"$ne": ""}}, {"board_id": "../../etc"}, {"board_id": "x" * 65},
         {"board_id": "b", "since": "0"}, {"board_id": "b", "since": -1}, {"task_id": 7, "editing": "yes"},
         {"token": 5}, {"token": "t" * 5000}]


@pytest.mark.parametrize("command", ["board:join", "board:leave", "task:editing", "auth:refresh"])
async def test_wrong_types_get_a_422_ack(world: World, live: Any, target: TaskflowServer,
                                         command: str) -> None:
    client = await live(world.eve.token)
    for payload in WRONG:
        ack = await _paced(client, command, payload)
        assert ack["ok"] is False, (command, payload, ack)
        assert (ack["error"]["status"], ack["error"]["code"]) == (422, "validation_failed"), ack
    await assert_still_serving(target, live, world.eve, world.board_e["id"])


async def _paced(client: LiveClient, command: str, payload: Any, timeout: float = 5) -> Any:
    """Sends a command, again while the connection's message rate refuses it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ack = await client.call(command, payload)
        if not (isinstance(ack, dict) and ack.get("ok") is False
                and ack["error"]["code"] == "rate_limited"):
            return ack
        assert asyncio.get_running_loop().time() < deadline, "rate limit never cleared"
        await asyncio.sleep(0.1)  # waiting for the rate window, not for another task


async def test_unknown_events_get_a_clear_refusal(world: World, live: Any) -> None:
    client = await live(world.eve.token)
    ack = await client.call("admin:shutdown", {"now": True}, timeout=3)
    assert ack["ok"] is False and 400 <= ack["error"]["status"] < 500, ack


async def test_thousands_of_joins_reach_no_room(target: TaskflowServer, world: World,
                                                live: Any) -> None:
    client = await live(world.eve.token)
    acks = await asyncio.gather(*(client.call("board:join", {"board_id": secrets.token_hex(12)})
                                  for _ in range(1000)))
    assert {(a["ok"], a["error"]["status"]) for a in acks} <= {(False, 404), (False, 429)}
    joined = await _paced(client, "board:join", {"board_id": world.board_e["id"]})
    assert joined["ok"] is True
    assert {e["board_id"] for e in client.board_events()} <= {world.board_e["id"]}
    await assert_still_serving(target, live, world.eve, world.board_e["id"])


async def test_one_connection_joins_at_most_50_boards(http: httpx.Client, api: Api, live: Any) -> None:
    joiner = register(http, "Joiner")
    boards = [api.ok("POST", "/boards", joiner, json={"name": f"b{i}"})["id"] for i in range(50)]
    boards.append(api.ok("GET", "/boards", joiner)["items"][0]["id"])  # the personal board
    client = await live(joiner.token)
    for board_id in boards[:50]:
        assert (await _paced(client, "board:join", {"board_id": board_id}))["ok"] is True
    assert (await _paced(client, "board:leave", {"board_id": "none"}))["ok"] is True
    refused = await client.call("board:join", {"board_id": boards[50]})
    assert refused["ok"] is False and refused["error"]["code"] == "rate_limited", refused
    # Joining one it already has, or leaving one, is fine.
    assert (await _paced(client, "board:join", {"board_id": boards[0]}))["ok"] is True
    assert (await _paced(client, "board:leave", {"board_id": boards[0]}))["ok"] is True
    assert (await _paced(client, "board:join", {"board_id": boards[50]}))["ok"] is True


def _forged_for(person: Person) -> list[str]:
    sid = jwt.decode(person.token, options={"verify_signature": False})["sid"]
    return [
        unsigned(claims(sub=person.id, sid=sid)),
        jwt.encode(claims(sub=person.id, sid=sid, exp=1), TARGET_SECRET, algorithm="HS256"),
        jwt.encode(claims(sub=person.id, sid=sid), "not the server's secret, but long enough",
                   algorithm="HS256"),
    ]


async def test_forged_tokens_cannot_refresh_a_live_connection(world: World, live: Any,
                                                              target: TaskflowServer) -> None:
    client = await live(world.eve.token)
    for token in [*_forged_for(world.eve), *_forged_for(world.ada), world.ada.token]:
        ack = await _paced(client, "auth:refresh", {"token": token})
        assert ack["ok"] is False and ack["error"]["status"] == 401, ack
    # The connection is still Eve's and only Eve's.
    assert (await _paced(client, "board:join", {"board_id": world.board_a["id"]}))["ok"] is False
    assert (await _paced(client, "board:join", {"board_id": world.board_e["id"]}))["ok"] is True
    await assert_still_serving(target, live, world.eve, world.board_e["id"])


ORIGINS = [
    ("https://evil.example", False), (ALLOWED_ORIGIN + ".evil.example", False),
    (ALLOWED_ORIGIN.replace("https:", "http:"), False), (ALLOWED_ORIGIN + ":8443", False),
    ("null", False), (ALLOWED_ORIGIN, True), ("SAME", True), (None, True),
]


def _origin_headers(target: TaskflowServer, origin: str | None) -> dict[str, str]:
    headers = {"X-Forwarded-For": doc_ip()}
    if origin is not None:
        headers["Origin"] = target.url if origin == "SAME" else origin
    return headers


@pytest.mark.parametrize(("origin", "allowed"), ORIGINS)
async def test_cross_origin_websocket_connects_are_refused(
        target: TaskflowServer, world: World, origin: str | None, allowed: bool) -> None:
    client = LiveClient(target.url, world.eve.token, headers=_origin_headers(target, origin))
    try:
        if allowed:
            await client.connect()
            assert (await client.join(world.board_e["id"]))["ok"] is True
        else:
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect()
    finally:
        await client.close()


@pytest.mark.parametrize(("origin", "allowed"), ORIGINS)
def test_cross_origin_polling_handshakes_are_refused(
        target: TaskflowServer, http: httpx.Client, origin: str | None, allowed: bool) -> None:
    headers = _origin_headers(target, origin)
    response = http.get("/socket.io/?EIO=4&transport=polling", headers=headers)
    if allowed:
        assert response.status_code == 200 and response.text.startswith("0{"), response.text
        assert response.headers.get("access-control-allow-origin") in (headers.get("Origin"), None)
    else:
        assert response.status_code == 400, response.text
        assert "access-control-allow-origin" not in response.headers
