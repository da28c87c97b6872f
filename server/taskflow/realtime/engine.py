"""TaskFlow's engine.io layer: python-engineio's server with instance-named session ids and
a hand-over of pre-encoded frames that never suspends.

What it relies on inside python-engineio (pinned to 4.15.x in pyproject.toml;
tests/live/test_engine.py fails loudly when an upgrade changes it): `AsyncServer.sockets`
maps a session id to its `AsyncSocket`; a socket's `queue` (an unbounded asyncio.Queue)
is what its writer sends, in order; `closing`/`closed` say it is going away.
"""

from __future__ import annotations

import asyncio
from typing import Any

import engineio
import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

# A pre-encoded engine.io packet (python-engineio is untyped).
Frame = Any


class Engine(engineio.AsyncServer):  # type: ignore[misc]
    """Engine.IO with session ids that name their instance ("i2.XXXX"): nginx routes on it."""

    instance_id = "x"

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
        if socket is None or socket.closing or socket.closed:
            return None
        queue: asyncio.Queue[Any] = socket.queue
        queue.put_nowait(frame)
        return queue.qsize()

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
