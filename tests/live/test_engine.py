"""What TaskFlow's engine.io layer relies on inside python-engineio and python-socketio.

realtime/engine.py queues pre-encoded frames straight onto a socket's queue and the join
handshake relies on the ack being queued as the handler returns. An upgrade that changes
any of this must fail here, loudly, before it reorders or loses a delivery.
"""

from __future__ import annotations

import asyncio
import inspect
from importlib.metadata import version

import engineio
import socketio
from engineio.async_socket import AsyncSocket
from engineio.base_socket import BaseSocket
from socketio.async_server import AsyncServer as SocketIOServer

from taskflow.realtime.engine import Engine, SocketServer


def test_pinned_minor_versions() -> None:
    assert version("python-engineio").startswith("4.15."), version("python-engineio")
    assert version("python-socketio").startswith("5.18."), version("python-socketio")


def test_a_socket_has_the_queue_and_flags_the_engine_layer_uses() -> None:
    class FakeServer:
        def create_queue(self) -> asyncio.Queue[object]:
            return asyncio.Queue()

    socket = BaseSocket(FakeServer(), "sid")
    assert isinstance(socket.queue, asyncio.Queue) and socket.queue.maxsize == 0
    assert socket.closing is False and socket.closed is False
    # AsyncSocket.send is a put on that same queue (what Engine.push does without awaiting).
    assert "self.queue.put(pkt)" in inspect.getsource(AsyncSocket.send)


def test_the_engine_server_keeps_its_sockets_by_session_id() -> None:
    server = SocketServer(async_mode="asgi")
    assert isinstance(server.eio, Engine)
    assert server.eio.sockets == {}
    assert isinstance(server.eio, engineio.AsyncServer)
    assert isinstance(server, socketio.AsyncServer)


def test_an_ack_is_sent_as_the_handler_returns() -> None:
    # The join handshake: nothing may run between the handler's return and the ack's send.
    source = inspect.getsource(SocketIOServer._handle_event_internal)
    between = source[source.index("_trigger_event("):source.index("_send_packet(")]
    assert between.count("await") == 1, between  # only the send of the ACK itself
    # ... which queues it on the socket: a put on an unbounded queue never suspends.
    assert "await self.eio.send(" in inspect.getsource(SocketIOServer._send_packet)
