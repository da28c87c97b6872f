"""What TaskFlow's engine.io layer relies on inside python-engineio and python-socketio.

realtime/engine.py writes pre-encoded frames straight to a socket's websocket or queue,
reads the websocket itself, runs every heartbeat from one place, and the join handshake
relies on the ack being written or queued as the handler returns. An upgrade that changes
any of this must fail here, loudly, before it reorders or loses a delivery.
"""

from __future__ import annotations

import asyncio
import inspect
from importlib.metadata import version

import engineio
import pytest
import socketio
from engineio.async_server import AsyncServer as EngineIOServer
from engineio.async_socket import AsyncSocket
from engineio.base_server import BaseServer
from engineio.base_socket import BaseSocket
from socketio.async_server import AsyncServer as SocketIOServer

from taskflow.realtime.engine import Engine, Outbox, SocketServer
from taskflow.realtime.managers import LocalManager


def test_pinned_minor_versions() -> None:
    assert version("python-engineio").startswith("4.15."), version("python-engineio")
    assert version("python-socketio").startswith("5.18."), version("python-socketio")


def test_a_socket_gets_its_queue_and_flags_from_the_server() -> None:
    class FakeServer:
        def create_queue(self) -> Outbox:
            return Outbox()

    socket = BaseSocket(FakeServer(), "sid")
    assert isinstance(socket.queue, Outbox)
    assert socket.closing is False and socket.closed is False and socket.last_ping


def test_the_connect_path_the_engine_layer_hooks_into() -> None:
    connect = inspect.getsource(EngineIOServer._handle_connect)
    # The socket is made, entered in the table (where _Sockets gives it TaskFlow's class),
    # sent its OPEN through `send`, scheduled for the heartbeat, then handed the websocket.
    for step in ("async_socket.AsyncSocket(self, sid)", "self.sockets[sid] = s",
                 "await s.send(pkt)", "s.schedule_ping()", "await s.handle_get_request(environ)"):
        assert step in connect, step
    assert connect.index("await s.send(pkt)") < connect.index("s.schedule_ping()")
    upgrade = inspect.getsource(AsyncSocket._upgrade_websocket)
    assert "self._websocket_handler" in upgrade
    # close() sends CLOSE through `send` unless aborting, then may join the queue.
    close = inspect.getsource(AsyncSocket.close)
    assert "await self.send(packet.Packet(packet.CLOSE))" in close
    assert "await self.queue.join()" in close
    # Long-polling takes packets off the queue with these calls (Outbox has them all).
    poll = inspect.getsource(AsyncSocket.poll)
    for call in ("self.queue.get()", "self.queue.get_nowait()", "self.queue.task_done()"):
        assert call in poll, call
    # A PONG is what re-arms the heartbeat; check_ping_timeout reads last_ping.
    assert "self.schedule_ping()" in inspect.getsource(AsyncSocket.receive)
    assert "self.last_ping" in inspect.getsource(AsyncSocket.check_ping_timeout)
    # The monitor task the heartbeat replaces can be turned off.
    assert "monitor_clients" in inspect.signature(BaseServer.__init__).parameters


def test_the_asgi_websocket_the_reader_reads() -> None:
    from engineio.async_drivers.asgi import WebSocket

    assert {"wait", "send", "close"} <= set(vars(WebSocket))
    assert "raise OSError()" in inspect.getsource(WebSocket.wait)  # on websocket.disconnect


async def test_the_outbox_is_the_queue_python_engineio_expects() -> None:
    box = Outbox()
    assert box.empty() and box.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        box.get_nowait()
    getter = asyncio.ensure_future(box.get())
    await asyncio.sleep(0)  # let the getter wait
    box.put_nowait("a")
    await box.put("b")
    assert await getter == "a" and box.qsize() == 1
    joined = asyncio.ensure_future(box.join())
    await asyncio.sleep(0)
    box.task_done()
    assert not joined.done()  # "b" is still unfinished
    assert box.get_nowait() == "b"
    box.task_done()
    await asyncio.wait_for(joined, 1)
    # A long-poll that times out leaves nothing behind; discard wakes joiners.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(box.get(), 0.01)
    assert not box._getters
    box.put_nowait("c")
    joined = asyncio.ensure_future(box.join())
    await asyncio.sleep(0)
    box.discard()
    await asyncio.wait_for(joined, 1)
    assert box.empty()


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
    # ... through the socket's `send`, which TaskFlow's Socket makes write-or-queue, never
    # suspending.
    assert "await self.eio.send(" in inspect.getsource(SocketIOServer._send_packet)
    assert "await self.send_packet(" in inspect.getsource(EngineIOServer.send)
    assert "await socket.send(pkt)" in inspect.getsource(EngineIOServer.send_packet)


async def test_a_disconnect_leaves_the_manager_as_python_socketios_own_would() -> None:
    # LocalManager/RedisManager look a socket's rooms up instead of scanning every room of
    # the namespace (O(sockets) per disconnect); the state they leave must be upstream's.
    async def scenario(manager: socketio.AsyncManager) -> dict[str, object]:
        server = SocketServer(async_mode="asgi", client_manager=manager)
        ids = iter(f"s{i}" for i in range(100))
        server.eio.generate_id = lambda: next(ids)
        sids = [await manager.pre_connect(f"e{i}", "/") for i in range(6)]
        for sid in sids[:4]:
            await manager.connect(sid, "/")  # the last two stay pending
        for i, sid in enumerate(sids):
            if i % 2 == 0:
                manager.basic_enter_room(sid, "/", "extra")
            manager._generate_ack_id(sid, lambda: None)
        manager.pre_disconnect(sids[1], "/")
        for sid in (sids[0], sids[1], sids[4]):
            manager.basic_disconnect(sid, "/")
        return {"rooms": {ns: {room: dict(members) for room, members in rooms.items()}
                          for ns, rooms in manager.rooms.items()},
                "callbacks": sorted(manager.callbacks),
                "pending_connect": manager.pending_connect,
                "pending_disconnect": manager.pending_disconnect}

    expected = await scenario(socketio.AsyncManager())
    assert expected["callbacks"] == ["s2", "s3", "s5"]  # the scenario does what it says
    assert await scenario(LocalManager()) == expected
    # Upstream's own still searches; if it stops scanning, this override can go.
    assert ".copy().items()" in inspect.getsource(socketio.base_manager.BaseManager.basic_disconnect)
