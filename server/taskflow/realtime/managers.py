"""python-socketio client managers whose board and user rooms belong to the live channel.

Through the managers' own hooks (`emit` in one process; `_handle_emit` for what every
instance receives, `_publish` and `_listen` for the transport between instances) they hand
to the live channel whatever is addressed to a board room ("board:<id>": events, presence,
editing), which only the board's stream sends and only to sockets whose join is
acknowledged, and to a user room ("user:<id>": `boards:changed`, and `auth:revoked` naming
the logins whose connections the channel closes). No socket ever enters those rooms in
python-socketio itself, so nothing reaches a socket through them by accident. Between
instances, each board room and user room travels on its own channel of the bus
(realtime/bus.py), heard only by the instances that serve that board or user.

They also keep, per socket, the rooms it entered beyond the two every socket has (the
namespace's `None` room and its own sid room). python-socketio finds a disconnecting
socket's rooms by scanning every room of the namespace, and every socket has one, so each
disconnect cost O(sockets): 5,000 sockets leaving an instance cost 25 million lookups and
held the event loop for seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import socketio
from loguru import logger
from socketio.async_pubsub_manager import AsyncPubSubManager

from taskflow.realtime.bus import Bus


class Gate(Protocol):
    def board(self, board_id: str, event: str, data: Any, skip_sid: Any) -> None: ...
    def user(self, user_id: str, event: str, data: Any) -> None: ...


class _Hooks:
    gate: Gate | None = None
    rooms: dict[Any, dict[Any, Any]]
    callbacks: dict[str, Any]
    pending_connect: dict[str, list[str]]
    pending_disconnect: dict[str, list[str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._extra_rooms: dict[tuple[str, str], set[Any]] = {}

    # --- a socket's rooms, found without scanning the namespace --------------------------
    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        if room is not None and room != sid:
            self._extra_rooms.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        extra = self._extra_rooms.get((namespace, sid))
        if extra is not None:
            extra.discard(room)
            if not extra:
                del self._extra_rooms[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """python-socketio's, with the socket's rooms looked up instead of searched for."""
        if namespace not in self.rooms:
            return
        extra = self._extra_rooms.get((namespace, sid), ())
        for room in [*extra, sid, None]:
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def _intercept(self, event: str, data: Any, room: Any, skip_sid: Any) -> bool:
        """True when the channel took the emit (addressed to a board or a user)."""
        if self.gate is None or not isinstance(room, str):
            return False
        kind, _, name = room.partition(":")
        if kind == "board" and name:
            self.gate.board(name, event, data, skip_sid)
            return True
        if kind == "user" and name:
            self.gate.user(name, event, data)
            return True
        return False


class LocalManager(_Hooks, socketio.AsyncManager):  # type: ignore[misc]
    """One process: every emit is local."""

    async def emit(self, event: str, data: Any, namespace: str | None = None,
                   room: str | None = None, skip_sid: Any = None, callback: Any = None,
                   **kwargs: Any) -> None:
        room = kwargs.get("to") or room
        if self._intercept(event, data, room, skip_sid):
            return
        await super().emit(event, data, namespace=namespace or "/", room=room,
                           skip_sid=skip_sid, callback=callback)


class BusManager(_Hooks, AsyncPubSubManager):  # type: ignore[misc]
    """Several instances: emits travel on the bus to the instances that hear their room
    (this one handles its own first, in python-socketio's `emit`)."""

    name = "taskflow-bus"
    bus: Bus | None = None  # attached when the live channel starts

    def __init__(self) -> None:
        super().__init__(channel="taskflow:live")

    def _route(self, message: dict[str, Any]) -> str:
        assert self.bus is not None
        room = message.get("room") if message.get("method") == "emit" else None
        if isinstance(room, str):
            kind, _, name = room.partition(":")
            if kind == "board" and name:
                return self.bus.board(name)
            if kind == "user" and name:
                return self.bus.user(name)
        return self.bus.shared

    async def _publish(self, data: dict[str, Any]) -> None:
        if self.bus is None:
            return
        try:
            await self.bus.publish(self._route(data), self.json.dumps(data))
        except Exception as exc:
            # Durable events are not lost: the other instances' sweeps read them from the log.
            logger.warning("live bus: publishing failed: {}", exc)

    async def _listen(self) -> AsyncIterator[bytes]:
        assert self.bus is not None
        async for payload in self.bus.messages():
            yield payload

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        if (isinstance(data, list) and len(data) == 1 and not message.get("binary")
                and self._intercept(message.get("event", ""), data[0],
                                    message.get("room"), message.get("skip_sid"))):
            return
        await super()._handle_emit(message)
