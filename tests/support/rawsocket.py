"""A Socket.IO v4 client on a raw websocket that records every frame, both ways, in order.

python-socketio hands acks and events to different callbacks, so it cannot say whether an
ack came before or after an event. This client speaks Engine.IO 4 / Socket.IO 5 itself
(text frames only, default namespace, websocket transport) and appends every frame it sends
or receives to one list, so a test can check "the ack arrived before any live event" on the
exact order the server wrote them in.

`RawHub` owns the aiohttp session and an `Activity` that wakes waiters whenever any of its
sockets records a frame; waits go through `Activity.until` (a condition and a timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from taskflow.domain import EVENT_TYPES
from tests.support.live import Activity

BOARD_EVENTS = frozenset(EVENT_TYPES)
_PACKET = re.compile(r"^(\d)(\d*)(.*)$", re.S)


@dataclass(frozen=True)
class Frame:
    """One Socket.IO packet: `out` (sent) or `in` (received), in recording order."""

    index: int
    direction: str  # "in" | "out"
    kind: str  # "event" | "ack" | "connect" | "connect_error" | "disconnect" | "closed"
    name: str | None
    ack_id: int | None
    data: Any
    at: float

    @property
    def seq(self) -> int | None:
        """The board event's seq (None for anything that is not a received board event)."""
        if self.direction == "in" and self.kind == "event" and self.name in BOARD_EVENTS:
            return int(self.data["seq"])
        return None

    def is_board_event(self, board_id: str) -> bool:
        return self.seq is not None and self.data.get("board_id") == board_id

    def is_of_board(self, board_id: str, task_ids: frozenset[str] = frozenset()) -> bool:
        """Anything received about the board: its events, its presence, editing of its tasks."""
        if self.direction != "in" or self.kind != "event" or not isinstance(self.data, dict):
            return False
        if self.name == "task:editing":
            return self.data.get("task_id") in task_ids
        return (self.name in BOARD_EVENTS or self.name == "presence") and \
            self.data.get("board_id") == board_id


class RawSocket:
    """One Socket.IO connection over one websocket; `frames` is everything, in order."""

    def __init__(self, hub: RawHub, token: str, label: str) -> None:
        self.hub = hub
        self.token = token
        self.label = label
        self.frames: list[Frame] = []
        self.sid: str | None = None
        self.connect_error: Any = None
        self.closed = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self._ack_ids = itertools.count(1)
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._connected = asyncio.Event()

    def __repr__(self) -> str:
        return f"<RawSocket {self.label} sid={self.sid} frames={len(self.frames)}>"

    # --- recording -----------------------------------------------------------------------
    def _record(self, direction: str, kind: str, name: str | None, ack_id: int | None,
                data: Any) -> Frame:
        frame = Frame(len(self.frames), direction, kind, name, ack_id, data, time.monotonic())
        self.frames.append(frame)
        self.hub.activity.poke()
        return frame

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                await self._on_text(message.data)
        finally:
            self._record("in", "closed", None, None, None)
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"{self.label} closed before the ack"))
            self.closed.set()
            self._connected.set()
            self.hub.activity.poke()

    async def _on_text(self, text: str) -> None:
        kind, body = text[:1], text[1:]
        if kind == "2":  # engine.io ping: answer, or the server closes the session
            await self._send_raw("3")
            return
        if kind != "4":  # open ("0"), noop, upgrade probes: not Socket.IO packets
            return
        match = _PACKET.match(body)
        if match is None:
            raise AssertionError(f"{self.label}: unparsable packet {text!r}")
        ptype, digits, rest = match.groups()
        payload: Any = json.loads(rest) if rest else None
        ack_id = int(digits) if digits else None
        if ptype == "0":
            self.sid = payload["sid"]
            self._record("in", "connect", None, None, payload)
            self._connected.set()
        elif ptype == "4":
            self.connect_error = payload
            self._record("in", "connect_error", None, None, payload)
            self._connected.set()
        elif ptype == "1":
            self._record("in", "disconnect", None, None, payload)
        elif ptype == "2":
            self._record("in", "event", payload[0], ack_id, payload[1] if len(payload) > 1 else None)
        elif ptype == "3":
            data = payload[0] if payload else None
            self._record("in", "ack", None, ack_id, data)
            future = self._acks.pop(ack_id or 0, None)
            if future is not None and not future.done():
                future.set_result(data)

    async def _send_raw(self, text: str) -> None:
        assert self._ws is not None
        async with self._send_lock:
            await self._ws.send_str(text)

    # --- what tests call -----------------------------------------------------------------
    async def connect(self, timeout: float = 10.0) -> RawSocket:
        """Opens the websocket and the Socket.IO session; fails on connect_error."""
        url = self.hub.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self._ws = await asyncio.wait_for(
            self.hub.session.ws_connect(url, autoping=False,
                                        timeout=aiohttp.ClientWSTimeout(ws_close=5)), timeout)
        first = await self._ws.receive(timeout)
        if first.type != aiohttp.WSMsgType.TEXT or not first.data.startswith("0{"):
            raise AssertionError(f"{self.label}: no engine.io open packet, got {first!r}")
        self._reader = asyncio.create_task(self._read())
        await self._send_raw("40" + json.dumps({"token": self.token}))
        await asyncio.wait_for(self._connected.wait(), timeout)
        if self.sid is None:
            raise ConnectionError(f"{self.label}: connect refused: {self.connect_error}")
        return self

    async def emit(self, name: str, data: Any) -> tuple[int, asyncio.Future[Any]]:
        """Sends an event that asks for an ack; returns its ack id and the future of the ack."""
        ack_id = next(self._ack_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # An ack that never comes (the socket closed first) is for the test to notice, if it
        # waits for it; not an "exception never retrieved" at garbage collection.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._acks[ack_id] = future
        async with self._send_lock:
            assert self._ws is not None
            self._record("out", "event", name, ack_id, data)
            await self._ws.send_str(f"42{ack_id}" + json.dumps([name, data]))
        return ack_id, future

    async def call(self, name: str, data: Any, timeout: float = 10.0) -> Any:
        """Emits and waits for the ack."""
        _, future = await self.emit(name, data)
        return await asyncio.wait_for(future, timeout)

    async def join(self, board_id: str, since: int | None = None,
                   timeout: float = 10.0) -> dict[str, Any]:
        payload: dict[str, Any] = {"board_id": board_id}
        if since is not None:
            payload["since"] = since
        ack: dict[str, Any] = await self.call("board:join", payload, timeout)
        return ack

    async def close(self, *, graceful: bool = True) -> None:
        """Ends the session: a Socket.IO disconnect first when `graceful`, then the websocket."""
        if self._ws is not None and not self._ws.closed:
            if graceful:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self._send_raw("41")
            with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
                await asyncio.wait_for(self._ws.close(), 5)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._reader, 5)

    # --- reading the record --------------------------------------------------------------
    def out_frame(self, ack_id: int) -> Frame:
        return next(f for f in self.frames if f.direction == "out" and f.ack_id == ack_id)

    def ack_frame(self, ack_id: int) -> Frame | None:
        return next((f for f in self.frames if f.kind == "ack" and f.ack_id == ack_id), None)

    def events(self, name: str | None = None) -> list[Frame]:
        return [f for f in self.frames
                if f.direction == "in" and f.kind == "event" and (name is None or f.name == name)]

    def board_events(self, board_id: str) -> list[Frame]:
        return [f for f in self.frames if f.is_board_event(board_id)]

    def of_board(self, board_id: str, task_ids: frozenset[str] = frozenset(),
                 after: int = 0) -> list[Frame]:
        """Frames about the board (see Frame.is_of_board) from index `after` on."""
        return [f for f in self.frames[after:] if f.is_of_board(board_id, task_ids)]

    def viewers(self, board_id: str) -> set[str] | None:
        """The user ids of the last `presence` received for the board (None: none yet)."""
        last = [f.data for f in self.events("presence") if f.data.get("board_id") == board_id]
        return {u["user_id"] for u in last[-1]["users"]} if last else None

    def seqs(self, board_id: str, start: int = 0, end: int | None = None) -> list[int]:
        """The seqs of the board's events received in frames[start:end], in order."""
        return [int(f.data["seq"]) for f in self.frames[start:end] if f.is_board_event(board_id)]

    def max_seq(self, board_id: str) -> int:
        return max((f.seq or 0 for f in self.board_events(board_id)), default=0)


class RawHub:
    """Opens `RawSocket`s on one server and closes them all at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.activity = Activity()
        # No pool limit: every websocket holds its connection for the whole test.
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.sockets: list[RawSocket] = []
        self._labels = itertools.count(1)

    async def open(self, token: str, label: str = "raw") -> RawSocket:
        socket = RawSocket(self, token, f"{label}#{next(self._labels)}")
        self.sockets.append(socket)
        return await socket.connect()

    async def until(self, condition: Callable[[], bool], *, timeout: float,
                    what: str | Callable[[], str]) -> float:
        return await self.activity.until(condition, timeout=timeout, what=what)

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True)
        await self.session.close()
