"""TaskFlow's engine.io layer: python-engineio's server, with a websocket session that costs
one reader and nothing else while it is idle, and a hand-over of pre-encoded frames that
never suspends the sender.

A fan-out costs what it does per recipient, and an idle connection costs what it holds.
Upstream python-engineio gives every websocket session a writer task fed by an asyncio
queue, a new task and timer for every message it reads, a sleeping task per heartbeat, and
a service task that visits every socket with a timer of its own. Here:

- **Writes.** A websocket with nothing queued and no write in flight gets a frame written at
  once, in the sender's step (Uvicorn's websocket send completes without suspending while
  the transport is writable). A write that would suspend (a paused transport, a server
  whose send awaits) is finished by a writer task that then drains whatever queued behind
  it and ends; until it ends, later packets queue, so per-socket order never changes. A
  socket that lets too much queue up is cut by the router (slow consumer).
- **Reads.** The session's own task (the one the ASGI server runs it in) reads the websocket
  directly: no task or timer per message.
- **Heartbeats.** One `Heartbeat` per engine sends every PING and finds every overdue PONG,
  from two FIFO queues (every socket waits the same interval, so they stay in due order),
  driven by one periodic call (`Engine.beat`); a socket whose peer went silent has its
  transport closed from here.
- **The queue** (`Outbox`) allocates nothing until a packet has to wait.

Long-polling sessions, and the upgrade from long-polling to websocket, keep upstream's
behaviour (their sends go through the same queue).

What it relies on inside python-engineio (pinned to 4.15.x in pyproject.toml;
tests/live/test_engine.py fails loudly when an upgrade changes it): `AsyncServer.sockets`
maps a session id to its socket and is filled by `_handle_connect`, which creates the socket
(its `queue` from `create_queue`), queues the OPEN packet through `send`, calls
`schedule_ping` and then runs `_websocket_handler` with the ASGI websocket wrapper (`wait`,
`send`, `close`) for a websocket session; `close` sends CLOSE through `send`; `receive`
handles a packet read from the client; `check_ping_timeout` closes a socket whose PONG is
overdue; `upgraded` says the websocket carries the session; `closing`/`closed` say it is
going away.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import engineio
import socketio
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet

# A pre-encoded engine.io packet (python-engineio is untyped).
Frame = Any


class Outbox:
    """A socket's packets waiting to be sent: the part of asyncio.Queue's interface that
    python-engineio uses, allocating nothing until a packet waits or someone waits for one.
    One consumer at a time takes from it (the writer task, or a long-polling GET)."""

    __slots__ = ("_getters", "_items", "_joiners", "_unfinished")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._getters: list[asyncio.Future[None]] | None = None
        self._unfinished = 0
        self._joiners: list[asyncio.Future[None]] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        self._unfinished += 1
        if self._getters:
            _wake(self._getters)
            self._getters = None

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._take(self._items)

    def _take(self, items: deque[Any]) -> Any:
        item = items.popleft()
        if not items:
            self._items = None  # an empty deque still holds a block of 64 slots
        return item

    async def get(self) -> Any:
        while not self._items:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters = [*(self._getters or ()), waiter]
            try:
                await waiter
            finally:  # a long-poll that timed out leaves no waiter behind
                if self._getters and waiter in self._getters:
                    self._getters.remove(waiter)
        return self._take(self._items)

    def task_done(self) -> None:
        self._unfinished = max(self._unfinished - 1, 0)
        if self._unfinished == 0 and self._joiners:
            _wake(self._joiners)
            self._joiners = None

    async def join(self) -> None:
        if self._unfinished:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._joiners = [*(self._joiners or ()), waiter]
            await waiter

    def discard(self) -> None:
        """Drops what is waiting (its socket has no transport left to send it on)."""
        self._items = None
        self._unfinished = 0
        _wake(self._joiners)
        self._joiners = None


def _wake(waiters: list[asyncio.Future[None]] | None) -> None:
    """Wakes every waiter; what is left to keep is None."""
    for waiter in waiters or ():
        if not waiter.done():
            waiter.set_result(None)


async def _finish(step: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Drives a coroutine that was stepped by hand and suspended on `waiting` to its end."""
    try:
        while True:
            if isinstance(waiting, asyncio.Future):
                waiting._asyncio_future_blocking = False
                await asyncio.wait({waiting})
            else:
                await asyncio.sleep(0)  # a bare yield: let the loop run once
            try:
                waiting = step.send(None)
            except StopIteration:
                return
    finally:
        step.close()  # a no-op once it returned; ends it if this task was cancelled


class Socket(AsyncSocket):  # type: ignore[misc]
    """An engine.io socket whose websocket session is read in place and written at once."""

    # python-engineio's own (set by BaseSocket.__init__).
    last_ping: float | None
    connected: bool
    # Class attributes: instances are made by python-engineio and then given this class.
    ws: Any = None  # the websocket while it carries the session
    ws_send: Any = None  # its send
    reader: asyncio.Task[Any] | None = None  # the session's task, reading the websocket
    writer: asyncio.Task[None] | None = None  # finishing a write that suspended, then draining
    hanging_up = False  # the transport is being closed from this side

    def push(self, frame: Frame) -> int | None:
        """Writes or queues `frame`; returns the packets then queued, None if closed."""
        if self.closing or self.closed:
            return None
        return self._put(frame)

    async def send(self, pkt: Any) -> None:
        """Every other packet (OPEN, acks, PING, CLOSE, NOOP) takes the same path."""
        if await self.check_ping_timeout():
            self._put(pkt)

    def _put(self, pkt: Any) -> int:
        queue: Outbox = self.queue
        if self.ws_send is not None and self.writer is None and queue.empty():
            self._write_now(pkt.encode())
            return 0
        queue.put_nowait(pkt)
        if self.ws_send is not None and self.writer is None:
            self._start_writer(None, None)
        return queue.qsize()

    def _write_now(self, text: str) -> None:
        step = self.ws_send(text)
        try:
            waiting = step.send(None)
        except StopIteration:
            return
        except Exception:
            self.server.logger.info("%s: websocket write failed", self.sid)
            self.hang_up()  # the transport is gone
            return
        self._start_writer(step, waiting)

    def _start_writer(self, step: Coroutine[Any, Any, None] | None, waiting: Any) -> None:
        self.writer = asyncio.ensure_future(self._drain(step, waiting))

    async def _drain(self, step: Coroutine[Any, Any, None] | None, waiting: Any) -> None:
        """Finishes a write that suspended, then sends what queued behind it, in order."""
        try:
            if step is not None:
                await _finish(step, waiting)
            queue: Outbox = self.queue
            while not queue.empty() and self.ws_send is not None:
                pkt = queue.get_nowait()
                queue.task_done()
                await self.ws_send(pkt.encode())
        except Exception:
            self.server.logger.info("%s: websocket write failed", self.sid)
            self.hang_up()
        finally:
            self.writer = None

    async def receive(self, pkt: Any) -> None:
        if pkt.packet_type == eio_packet.PONG:  # the most frequent packet: skip the logging
            self.schedule_ping()
        else:
            await super().receive(pkt)

    def schedule_ping(self) -> None:
        """The next PING is the engine's heartbeat's to send (no task per socket)."""
        if self.last_ping:
            self.last_ping = None
            self.server.heartbeat.pinged(self)

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        await super().close(wait=wait, abort=abort, reason=reason)
        if abort:
            self.hang_up()

    def hang_up(self) -> None:
        """Ends the websocket from this side: the reader stops waiting for a peer that may
        never speak again, and a write stuck on a peer that stopped reading is abandoned."""
        if self.ws is None or self.hanging_up:
            return
        self.hanging_up = True
        current = asyncio.current_task()
        for task in (self.writer, self.reader):
            if task is not None and task is not current:
                task.cancel()

    async def _websocket_handler(self, ws: Any) -> None:
        if self.connected:  # an upgrade from long-polling
            if not await self._upgrade(ws):
                return
        else:
            self.connected = True
            self.upgraded = True
        self.ws, self.ws_send, self.reader = ws, ws.send, asyncio.current_task()
        if not self.queue.empty():  # the OPEN packet and whatever followed it
            self._start_writer(None, None)
        try:
            await self._read(ws)
        finally:
            if self.writer is not None:
                self.writer.cancel()  # the peer is gone or going: nothing more reaches it
            self.ws = self.ws_send = self.reader = None
            self.queue.discard()
            await ws.close()
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    async def _read(self, ws: Any) -> None:
        limit = self.server.max_http_buffer_size
        while not self.closed:
            try:
                data = await ws.wait()
            except asyncio.CancelledError:
                if not self.hanging_up:
                    raise
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                return
            except Exception:  # the peer closed (OSError) or the transport failed
                return
            if data is None or len(data) > limit:
                return
            try:
                await self.receive(eio_packet.Packet(encoded_packet=data))
            except eio_exceptions.UnknownPacketError:
                pass
            except eio_exceptions.SocketIsClosedError:
                return
            except Exception:
                self.server.logger.exception("Unknown receive error")

    async def _upgrade(self, ws: Any) -> bool:
        """python-engineio's upgrade handshake: PING "probe" → PONG "probe", then UPGRADE."""
        self.upgrading = True  # the polling side answers NOOP from now on
        try:
            probe = eio_packet.Packet(encoded_packet=await ws.wait())
            if probe.packet_type != eio_packet.PING or probe.data != "probe":
                self.server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
                return False
            await ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
            self.queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))  # ends a poll in flight
            upgrade = eio_packet.Packet(encoded_packet=await ws.wait())
            if upgrade.packet_type != eio_packet.UPGRADE:
                self.server.logger.info("%s: Failed websocket upgrade, expected UPGRADE", self.sid)
                return False
        except Exception:
            return False
        finally:
            self.upgrading = False
        self.upgraded = True
        return True


class Heartbeat:
    """Every socket's PING and PONG deadline, in two queues that stay in due order because
    every socket waits the same interval. `beat` runs about once a second."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pings: deque[tuple[float, Socket]] = deque()  # (when to ping, socket)
        self._pongs: deque[tuple[float, Socket, float]] = deque()  # (deadline, socket, ping time)

    def pinged(self, socket: Socket) -> None:
        """The socket answered (or just connected): its next PING is one interval away."""
        self._pings.append((time.monotonic() + self.engine.ping_interval, socket))

    def beat(self) -> None:
        now, wall = time.monotonic(), time.time()
        pings, pongs, engine = self._pings, self._pongs, self.engine
        ping = eio_packet.Packet(eio_packet.PING)
        while pings and pings[0][0] <= now:
            socket = pings.popleft()[1]
            if socket.closed:
                engine.forget(socket)
                continue
            if socket.closing:  # look again later; it leaves the table once closed
                pings.append((now + engine.ping_interval, socket))
                continue
            socket.last_ping = wall
            socket._put(ping)
            pongs.append((now + engine.ping_timeout, socket, wall))
        while pongs and pongs[0][0] <= now:
            _, socket, sent = pongs.popleft()
            if socket.closed:
                engine.forget(socket)
            elif socket.closing:
                pings.append((now + engine.ping_interval, socket))
            elif socket.last_ping == sent:  # no PONG since that PING
                engine.timed_out(socket)


class _Sockets(dict[str, Any]):
    """python-engineio's session table; gives every new socket TaskFlow's class."""

    def __setitem__(self, sid: str, socket: Any) -> None:
        if type(socket) is AsyncSocket:
            socket.__class__ = Socket
        super().__setitem__(sid, socket)


class Engine(engineio.AsyncServer):  # type: ignore[misc]
    """Engine.IO with session ids that name their instance ("i2.XXXX"): nginx routes on it."""

    instance_id = "x"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The heartbeat finds dead peers; upstream's monitor task would visit every socket
        # with a timer of its own on top.
        kwargs["monitor_clients"] = False
        super().__init__(*args, **kwargs)
        self.sockets = _Sockets()
        self.heartbeat = Heartbeat(self)
        self._closing: set[asyncio.Task[None]] = set()

    def create_queue(self, *args: Any, **kwargs: Any) -> Outbox:
        return Outbox()

    def generate_id(self) -> str:
        return f"{self.instance_id}.{super().generate_id()}"

    def beat(self) -> None:
        """Sends the PINGs that are due and closes the sockets whose PONG is overdue."""
        self.heartbeat.beat()

    def forget(self, socket: Socket) -> None:
        """A closed socket leaves the session table (when no request of its own did)."""
        if self.sockets.get(socket.sid) is socket:
            del self.sockets[socket.sid]

    def timed_out(self, socket: Socket) -> None:
        """The peer went silent: close the socket and its transport."""
        self._spawn(socket.close(wait=False, abort=True, reason=self.reason.PING_TIMEOUT))

    def is_open(self, eio_sid: str) -> bool:
        socket = self.sockets.get(eio_sid)
        return socket is not None and not socket.closing and not socket.closed

    def push(self, eio_sid: str, frame: Frame) -> int | None:
        """Writes `frame` now or queues it behind what the socket already has, without
        suspending. Returns how many packets the socket then has queued, None when it is gone.
        """
        socket = self.sockets.get(eio_sid)
        if socket is None:
            return None
        queued: int | None = socket.push(frame)
        return queued

    def abort(self, eio_sid: str, reason: str) -> asyncio.Task[None] | None:
        """Closes the socket at once, without draining its queue (it may never read)."""
        socket = self.sockets.get(eio_sid)
        if socket is None or socket.closing or socket.closed:
            return None
        return self._spawn(socket.close(wait=False, abort=True, reason=reason))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return task


class MalformedPacket(ValueError):
    """A Socket.IO packet from a client that doesn't decode, or that no client may send."""


_FROM_CLIENTS = frozenset({sio_packet.CONNECT, sio_packet.DISCONNECT, sio_packet.EVENT,
                           sio_packet.ACK})


class ClientPacket(sio_packet.Packet):  # type: ignore[misc]
    """python-socketio's packet, except that decoding what a client sent raises
    MalformedPacket for anything wrong with it; upstream raises whatever its parse hit
    (ValueError, IndexError, JSONDecodeError...) and python-engineio logs a traceback for
    each, so a client sending garbage could write megabytes of log a second. TaskFlow's
    events are JSON: binary packets are refused too."""

    def __init__(self, packet_type: int = sio_packet.EVENT, data: Any = None,
                 namespace: str | None = None, id: int | None = None,
                 binary: bool | None = None, encoded_packet: Any = None) -> None:
        if encoded_packet is None:
            super().__init__(packet_type, data, namespace, id, binary)
            return
        if not isinstance(encoded_packet, str):
            raise MalformedPacket("a binary message (TaskFlow's events are JSON)")
        try:
            super().__init__(encoded_packet=encoded_packet)
        except Exception as exc:
            raise MalformedPacket(f"{type(exc).__name__}: {exc}") from None
        if self.packet_type not in _FROM_CLIENTS:
            raise MalformedPacket(f"packet type {self.packet_type} is not accepted from clients")
        if self.packet_type == sio_packet.EVENT and not (
                isinstance(self.data, list) and self.data and isinstance(self.data[0], str)):
            raise MalformedPacket("an event is a list that starts with its name")
        if self.packet_type == sio_packet.ACK and not isinstance(self.data, list):
            raise MalformedPacket("an acknowledgement's arguments are a list")


class SocketServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server on TaskFlow's engine. A client that sends a packet that
    doesn't decode is disconnected at once, as socket.io's own server does ("parse error"),
    and `refused` (if set) is told, with the engine.io session id and what was wrong."""

    def __init__(self, *args: Any, refused: Callable[[str, str], None] | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("serializer", ClientPacket)
        super().__init__(*args, **kwargs)
        self.refused = refused

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return Engine

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            await super()._handle_eio_message(eio_sid, data)
        except MalformedPacket as exc:
            self.engine.abort(eio_sid, "parse error")
            if self.refused is not None:
                self.refused(eio_sid, str(exc))

    @property
    def engine(self) -> Engine:
        engine: Engine = self.eio
        return engine

    def frame(self, event: str, data: Any) -> Frame:
        """One Socket.IO event on the default namespace, encoded once for any number of sockets."""
        pkt = self.packet_class(sio_packet.EVENT, namespace="/", data=[event, data])
        frame: Frame = eio_packet.Packet(eio_packet.MESSAGE, pkt.encode())
        frame.encode()  # cached on the packet: each socket's write reuses the text
        return frame
