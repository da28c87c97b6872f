"""TaskFlow's engine.io layer: python-engineio's server with instance-named session ids and
a hand-over of pre-encoded frames that never suspends the sender.

A fan-out costs what it does per recipient. python-engineio queues each packet and wakes
a writer task per socket to send it; here a websocket whose queue is empty and that has no
send in flight gets the frame written at once, in the sender's step (Uvicorn's websocket
send completes without suspending while the transport is writable). A send that would
suspend (a paused transport, a server whose send awaits) is finished in a task of its own,
and the socket counts as busy until then, so later packets queue behind it and per-socket
order never changes. Polling sockets, and sockets with anything queued, use the queue.

What it relies on inside python-engineio (pinned to 4.15.x in pyproject.toml;
tests/live/test_engine.py fails loudly when an upgrade changes it): `AsyncServer.sockets`
maps a session id to its socket and is filled by `_handle_connect`; a socket's `queue`
(an unbounded asyncio.Queue) is what its writer task sends, in order, each packet through
`ws.send` of the websocket handed to `_websocket_handler`; `upgraded` says the websocket
carries the session; `closing`/`closed` say it is going away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import engineio
import socketio
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet

# A pre-encoded engine.io packet (python-engineio is untyped).
Frame = Any


async def _finish(step: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Drives a coroutine that was stepped by hand and suspended on `waiting` to its end."""
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


class Socket(AsyncSocket):  # type: ignore[misc]
    """An engine.io socket that writes a frame to its websocket at once when it can."""

    # Class attributes: instances are made by python-engineio and then given this class.
    ws: Any = None  # the websocket while it carries the session
    ws_send: Any = None  # its own send, underneath the counting wrapper
    sending = 0  # sends of the writer task in progress
    in_flight: asyncio.Task[None] | None = None  # a direct write that had to suspend

    def push(self, frame: Frame) -> int | None:
        """Writes or queues `frame`; returns the packets then queued, None if closed."""
        if self.closing or self.closed:
            return None
        queue: asyncio.Queue[Any] = self.queue
        if (self.ws_send is not None and self.upgraded and not self.sending
                and self.in_flight is None and queue.empty()):
            self._write_now(frame.encode())
            return 0
        queue.put_nowait(frame)
        return queue.qsize()

    def _write_now(self, text: str) -> None:
        step = self.ws_send(text)
        try:
            waiting = step.send(None)
        except StopIteration:
            return
        except Exception:
            self.server.logger.info("%s: websocket write failed", self.sid)
            return  # the transport is gone: the reader sees it and closes the socket
        self.in_flight = asyncio.ensure_future(_finish(step, waiting))
        self.in_flight.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self.in_flight = None
        if not task.cancelled():
            task.exception()  # retrieved: a failed write ends with the transport

    async def poll(self) -> list[Any]:
        """The websocket writer's wait for packets: taken off the queue in the writer's own
        step (python-engineio's `wait_for` runs the get in a task of its own on Python 3.11,
        so the queue would look empty while the writer has yet to send what it took)."""
        if self.ws_send is None or not self.upgraded:
            packets: list[Any] = await super().poll()  # long-polling
            return packets
        queue: asyncio.Queue[Any] = self.queue
        taken = [await queue.get()]
        while not queue.empty():
            taken.append(queue.get_nowait())
        for _ in taken:
            queue.task_done()
        if None in taken:  # the handler is ending: send what came before, then stop
            before = taken[:taken.index(None)]
            if before:
                queue.put_nowait(None)  # seen by the next poll, which ends the writer
            return before
        return taken

    async def _websocket_handler(self, ws: Any) -> None:
        own_send = ws.send

        async def counted_send(message: Any) -> None:
            # The writer task's sends: direct writes wait until they are done, and they
            # wait for a direct write that is still in flight.
            self.sending += 1
            try:
                while self.in_flight is not None:
                    await asyncio.wait({self.in_flight})
                await own_send(message)
            finally:
                self.sending -= 1

        ws.send = counted_send
        self.ws, self.ws_send = ws, own_send
        try:
            await super()._websocket_handler(ws)
        finally:
            self.ws = self.ws_send = None


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
        super().__init__(*args, **kwargs)
        self.sockets = _Sockets()

    def generate_id(self) -> str:
        return f"{self.instance_id}.{super().generate_id()}"

    def is_open(self, eio_sid: str) -> bool:
        socket = self.sockets.get(eio_sid)
        return socket is not None and not socket.closing and not socket.closed

    def push(self, eio_sid: str, frame: Frame) -> int | None:
        """Queues `frame` behind what the socket already has, without suspending.

        Returns how many packets the socket then has queued, or None when it is gone.
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
        return asyncio.create_task(socket.close(wait=False, abort=True, reason=reason))


class SocketServer(socketio.AsyncServer):  # type: ignore[misc]
    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return Engine

    @property
    def engine(self) -> Engine:
        engine: Engine = self.eio
        return engine

    def frame(self, event: str, data: Any) -> Frame:
        """One Socket.IO event on the default namespace, encoded once for any number of sockets."""
        pkt = self.packet_class(sio_packet.EVENT, namespace="/", data=[event, data])
        frame: Frame = eio_packet.Packet(eio_packet.MESSAGE, pkt.encode())
        return frame
