"""Live-channel clients for the cluster tests: python-socketio and the official JavaScript client.

Both kinds behave like a real TaskFlow client and record the same things, so a test can hold
them side by side: per board the events received (raw, per engine.io session) and the events
applied in seq order (lastSeq kept, seq <= lastSeq ignored, early arrivals buffered), every
(re)connect with its engine.io sid and time, disconnects, and every other server event. On
every (re)connect a client re-joins its boards with since=lastSeq.

The JavaScript clients live in one node process (tests/js/live-clients.mjs) per `JsHub`,
driven over JSON lines. Waits go through `Activity.until`: a condition, a timeout, and a
failure message that says what was seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio

from taskflow.domain import EVENT_TYPES

JS_DIR = Path(__file__).resolve().parents[1] / "js"
JS_CLIENTS = JS_DIR / "live-clients.mjs"
DEFAULT = ("polling", "websocket")  # the clients' default: long-polling, then the upgrade
WEBSOCKET = ("websocket",)
Envelope = dict[str, Any]


class Activity:
    """Wakes waiters whenever any client records something."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def poke(self) -> None:
        self._event.set()

    async def until(self, condition: Callable[[], bool], *, timeout: float,
                    what: str | Callable[[], str]) -> float:
        """Returns the seconds it took for `condition()` to hold; fails after `timeout`.

        Wakes on client activity and at least every 0.1 s (for conditions on other state).
        """
        start = time.monotonic()
        deadline = start + timeout
        while True:
            self._event.clear()
            if condition():
                return time.monotonic() - start
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                detail = what() if callable(what) else what
                raise AssertionError(f"timed out after {timeout}s waiting for {detail}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), min(remaining, 0.1))

    async def retry(self, action: Callable[[], Awaitable[object]], condition: Callable[[], bool],
                    *, every: float, timeout: float, what: str | Callable[[], str]) -> float:
        """Does `action` every `every` s until `condition()` holds (for messages that are
        not stored, so a lost one is not re-sent by anyone); returns the seconds it took."""
        start = time.monotonic()
        while True:
            await action()
            left = timeout - (time.monotonic() - start)
            try:
                await self.until(condition, timeout=max(0.0, min(every, left)), what=what)
                return time.monotonic() - start
            except AssertionError:
                if time.monotonic() - start >= timeout:
                    detail = what() if callable(what) else what
                    raise AssertionError(f"timed out after {timeout}s (an attempt every "
                                         f"{every}s) waiting for {detail}") from None


@dataclass
class Receipt:
    """One board event as it came in: over which engine.io session, live or in a join ack."""

    env: Envelope
    sid: str | None
    source: str
    at: float


@dataclass
class BoardLog:
    """One client's view of one board."""

    last_seq: int = 0
    pending: dict[int, Envelope] = field(default_factory=dict)
    applied: list[Envelope] = field(default_factory=list)
    received: list[Receipt] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)

    def offer(self, env: Envelope) -> None:
        if env["seq"] <= self.last_seq:
            return
        self.pending.setdefault(env["seq"], env)
        while self.last_seq + 1 in self.pending:
            self.applied.append(self.pending.pop(self.last_seq + 1))
            self.last_seq += 1

    def seqs(self) -> list[int]:
        return [e["seq"] for e in self.applied]

    def received_types(self) -> list[tuple[int, str]]:
        return [(r.env["seq"], r.env["type"]) for r in self.received]

    def duplicates(self) -> dict[str, list[int]]:
        """Per engine.io session, the seqs that came in more than once over it."""
        seen: dict[str | None, set[int]] = {}
        dups: dict[str, list[int]] = {}
        for r in self.received:
            s = seen.setdefault(r.sid, set())
            if r.env["seq"] in s:
                dups.setdefault(str(r.sid), []).append(r.env["seq"])
            s.add(r.env["seq"])
        return dups


class LiveError(Exception):
    """A connect was refused; `message` is the server's reason (or the transport's error)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LiveClient:
    """What both kinds record; subclasses connect and talk."""

    kind = "?"

    def __init__(self, name: str, activity: Activity, transports: tuple[str, ...]) -> None:
        self.name = name
        self.activity = activity
        self.transports = transports
        self.boards: dict[str, BoardLog] = {}
        self.connects: list[tuple[float, str]] = []  # (monotonic time, engine.io sid)
        self.disconnects: list[tuple[float, str]] = []  # (monotonic time, reason)
        self.connect_errors: list[str] = []
        self.rejoins: list[dict[str, Any]] = []
        self.events: list[tuple[str, Any]] = []  # every non-board server event, in order

    def __repr__(self) -> str:
        return (f"<{self.label} sids={[s for _, s in self.connects]} "
                f"disconnects={[r for _, r in self.disconnects]} rejoins={self.rejoins} "
                f"connect_errors={self.connect_errors}>")

    @property
    def label(self) -> str:
        return f"{self.name}[{self.kind}/{'+'.join(self.transports)}]"

    @property
    def sid(self) -> str:
        """The engine.io session id of the latest connection."""
        return self.connects[-1][1] if self.connects else ""

    @property
    def instance(self) -> str:
        """The instance ("i2") that holds the latest connection, from the sid prefix."""
        return self.sid.split(".", 1)[0]

    @property
    def transport(self) -> str:
        """The transport in use now: "polling" or "websocket"."""
        raise NotImplementedError

    @property
    def connected(self) -> bool:
        return bool(self.connects) and (not self.disconnects
                                        or self.disconnects[-1][0] < self.connects[-1][0])

    def log(self, board_id: str) -> BoardLog:
        return self.boards.setdefault(board_id, BoardLog())

    def named(self, name: str) -> list[Any]:
        """The first argument of every received `name` event."""
        return [args for event, args in self.events if event == name]

    # --- recording (called by the transports) ----------------------------------------
    def _connected(self, sid: str) -> None:
        self.connects.append((time.monotonic(), sid))
        self.activity.poke()

    def _disconnected(self, reason: str) -> None:
        self.disconnects.append((time.monotonic(), reason))
        self.activity.poke()

    def _received(self, env: Envelope, sid: str | None, source: str) -> None:
        self.log(env["board_id"]).received.append(Receipt(env, sid, source, time.monotonic()))
        self.activity.poke()

    def _event(self, name: str, data: Any) -> None:
        self.events.append((name, data))
        self.activity.poke()

    # --- what tests call ----------------------------------------------------------------
    async def connect(self, url: str, token: str, headers: dict[str, str] | None = None) -> None:
        raise NotImplementedError

    async def join(self, board_id: str) -> dict[str, Any]:
        """board:join with since=lastSeq (0 the first time); the ack's events are applied."""
        raise NotImplementedError

    async def emit(self, event: str, data: Any) -> Any:
        """Emits with an ack and returns it."""
        raise NotImplementedError

    async def disconnect(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class PyLiveClient(LiveClient):
    """python-socketio's AsyncClient (aiohttp), with its default reconnection policy."""

    kind = "py"

    def __init__(self, name: str, activity: Activity, transports: tuple[str, ...] = DEFAULT) -> None:
        super().__init__(name, activity, transports)
        self.sio = socketio.AsyncClient(reconnection=True, handle_sigint=False)
        self._tasks: set[asyncio.Task[None]] = set()
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("*", self._on_any)

    @property
    def transport(self) -> str:
        return str(self.sio.transport())

    async def _on_connect(self) -> None:
        self._connected(str(self.sio.eio.sid))
        # Not awaited here: this handler runs on the client's read loop, which must keep
        # going for the join acks to arrive.
        for board_id in list(self.boards):
            task = asyncio.create_task(self._rejoin(board_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _rejoin(self, board_id: str) -> None:
        try:
            ack = await self.join(board_id)
        except Exception as exc:  # recorded for the test to see, not swallowed
            self.rejoins.append({"board_id": board_id, "error": repr(exc)})
        else:
            self.rejoins.append({"board_id": board_id, "ack": ack})
        self.activity.poke()

    async def _on_disconnect(self, reason: Any = None) -> None:
        self._disconnected(str(reason))

    async def _on_connect_error(self, data: Any = None) -> None:
        message = data.get("message") if isinstance(data, dict) else data
        self.connect_errors.append(str(message))
        self.activity.poke()

    async def _on_any(self, event: str, data: Any = None, *rest: Any) -> None:
        if event in EVENT_TYPES and isinstance(data, dict) and "seq" in data:
            self._received(data, self.sio.eio.sid, "live")
            self.log(data["board_id"]).offer(data)
        else:
            self._event(event, data)

    async def connect(self, url: str, token: str, headers: dict[str, str] | None = None) -> None:
        try:
            await self.sio.connect(url, auth={"token": token}, headers=headers or {},
                                   transports=list(self.transports), wait_timeout=10)
        except socketio.exceptions.ConnectionError as exc:
            await self.close()
            raise LiveError(self.connect_errors[-1] if self.connect_errors else str(exc)) from exc
        except RuntimeError as exc:
            # python-engineio 4.15 closes its aiohttp session before reading the body of a
            # refused long-polling handshake (e.g. 400 for a bad Origin); aiohttp 3.14 then
            # raises RuntimeError("Connection closed.") instead of its ConnectionError.
            await self.close()
            raise LiveError(f"handshake refused: {exc}") from exc

    async def join(self, board_id: str) -> dict[str, Any]:
        log = self.log(board_id)
        ack: dict[str, Any] = await self.sio.call(
            "board:join", {"board_id": board_id, "since": log.last_seq}, timeout=10)
        log.acks.append(ack)
        if ack.get("ok") and isinstance(ack.get("events"), list):
            for env in ack["events"]:
                self._received(env, self.sio.eio.sid, "ack")
                log.offer(env)
        return ack

    async def emit(self, event: str, data: Any) -> Any:
        return await self.sio.call(event, data, timeout=10)

    async def disconnect(self) -> None:
        await self.sio.disconnect()

    async def close(self) -> None:
        self.sio.reconnection = False
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.sio.disconnect()
        with contextlib.suppress(Exception):
            await self.sio.shutdown()
        http = getattr(self.sio.eio, "http", None)  # left open when a connect fails
        if http is not None and not http.closed:
            await http.close()


class JsHub:
    """One node process hosting JavaScript clients (socket.io-client), spoken to over JSON lines."""

    def __init__(self, activity: Activity) -> None:
        self.activity = activity
        self.process: asyncio.subprocess.Process | None = None
        self.clients: dict[str, JsLiveClient] = {}
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._req = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self.stderr = b""

    async def start(self) -> JsHub:
        if not (JS_DIR / "node_modules" / "socket.io-client").exists():
            raise RuntimeError("tests/js has no node_modules: run `npm ci` in tests/js "
                               "(scripts/bootstrap.sh test does)")
        self.process = await asyncio.create_subprocess_exec(
            "node", str(JS_CLIENTS), cwd=JS_DIR, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=64 * 1024 * 1024)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            if "req" in message:
                future = self._replies.pop(message["req"], None)
                if future is not None and not future.done():
                    future.set_result(message)
                continue
            client = self.clients.get(message.get("client", ""))
            if client is not None:
                client.handle(message)
        for future in self._replies.values():  # the process is gone
            if not future.done():
                future.set_exception(RuntimeError("the node client process exited"))

    async def call(self, op: str, client: str, timeout: float = 20.0, **fields: Any) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        req = next(self._req)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[req] = future
        self.process.stdin.write(json.dumps({"req": req, "op": op, "client": client, **fields})
                                 .encode() + b"\n")
        await self.process.stdin.drain()
        return await asyncio.wait_for(future, timeout)

    def client(self, name: str, transports: tuple[str, ...] = DEFAULT) -> JsLiveClient:
        client = JsLiveClient(name, self, transports)
        self.clients[client.key] = client
        return client

    async def close(self) -> None:
        if self.process is None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
        if self.process.stderr is not None:
            self.stderr = await self.process.stderr.read()


class JsLiveClient(LiveClient):
    """A socket.io-client 4.8 socket in the hub's node process."""

    kind = "js"
    _keys = itertools.count(1)

    def __init__(self, name: str, hub: JsHub, transports: tuple[str, ...]) -> None:
        super().__init__(name, hub.activity, transports)
        self.hub = hub
        self.key = f"{name}#{next(self._keys)}"
        self.upgrades: list[str] = []
        self._transport = ""

    @property
    def transport(self) -> str:
        return self._transport

    def handle(self, message: dict[str, Any]) -> None:
        kind = message["kind"]
        if kind == "connect":
            self._transport = message["transport"]
            self._connected(message["sid"])
        elif kind == "upgrade":
            self._transport = message["transport"]
            self.upgrades.append(message["transport"])
            self.activity.poke()
        elif kind == "disconnect":
            self._disconnected(message["reason"])
        elif kind == "connect_error":
            self.connect_errors.append(message["message"])
            self.activity.poke()
        elif kind == "received":
            self._received(message["env"], message["sid"], message["source"])
        elif kind == "applied":
            env = message["env"]
            log = self.log(env["board_id"])
            log.applied.append(env)
            log.last_seq = env["seq"]
            self.activity.poke()
        elif kind == "rejoin":
            self.rejoins.append(message)
            self.activity.poke()
        elif kind == "event":
            args = message["args"]
            self._event(message["name"], args[0] if args else None)

    async def connect(self, url: str, token: str, headers: dict[str, str] | None = None) -> None:
        reply = await self.hub.call("connect", self.key, url=url, token=token,
                                    transports=list(self.transports), headers=headers)
        if not reply["ok"]:
            raise LiveError(reply["error"])

    async def join(self, board_id: str) -> dict[str, Any]:
        self.log(board_id)
        reply = await self.hub.call("join", self.key, board_id=board_id)
        if not reply["ok"]:
            raise RuntimeError(f"{self.label} join failed: {reply['error']}")
        ack: dict[str, Any] = reply["ack"]
        self.log(board_id).acks.append(ack)
        return ack

    async def emit(self, event: str, data: Any) -> Any:
        reply = await self.hub.call("emit", self.key, event=event, data=data)
        if not reply["ok"]:
            raise RuntimeError(f"{self.label} emit failed: {reply['error']}")
        return reply["ack"]

    async def disconnect(self) -> None:
        await self.hub.call("disconnect", self.key)

    async def close(self) -> None:
        if self.hub.process is not None and self.hub.process.returncode is None:
            with contextlib.suppress(Exception):
                await self.hub.call("disconnect", self.key, timeout=5)
