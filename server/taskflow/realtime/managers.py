"""python-socketio client managers that pass board events through the Router.

Both keep python-socketio's rooms and delivery; they only intercept, through the
manager's own hooks, the emits that are board events (sequenced by the Router) and
`auth:revoked` (whose sockets are closed once it is delivered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet

from taskflow.domain import EVENT_TYPES

BOARD_EVENTS = frozenset(EVENT_TYPES)
Offer = Callable[[dict[str, Any]], Awaitable[None]]
AfterRevoked = Callable[[str], Awaitable[None]]


class _Hooks:
    """Set by the live channel once its Router exists."""

    offer: Offer | None = None
    after_revoked: AfterRevoked | None = None
    server: Any

    def get_participants(self, namespace: str, room: str) -> Any: ...

    async def emit_local(self, event: str, data: Any, room: str, skip: list[str]) -> None:
        """Sends one event to this instance's sockets in `room`, encoded once.

        python-socketio's own emit starts one asyncio task per recipient; here each
        recipient costs one put on its engine.io queue, in this task.
        """
        pkt = self.server.packet_class(packet.EVENT, namespace="/", data=[event, data])
        frame = eio_packet.Packet(eio_packet.MESSAGE, pkt.encode())
        skipped = set(skip)
        send = self.server.eio.send_packet
        for sid, eio_sid in list(self.get_participants("/", room)):
            if sid not in skipped:
                await send(eio_sid, frame)


class LocalManager(socketio.AsyncManager, _Hooks):  # type: ignore[misc]
    """One process: every emit is local."""

    async def emit(self, event: str, data: Any, namespace: str | None = None,
                   room: str | None = None, skip_sid: Any = None, callback: Any = None,
                   **kwargs: Any) -> None:
        if event in BOARD_EVENTS and self.offer is not None and not kwargs.get("ignore_queue"):
            await self.offer(data)
            return
        await super().emit(event, data, namespace=namespace or "/", room=room,
                           skip_sid=skip_sid, callback=callback)
        if event == "auth:revoked" and room and self.after_revoked is not None:
            await self.after_revoked(room)


class RedisManager(socketio.AsyncRedisManager, _Hooks):  # type: ignore[misc]
    """Several instances: emits travel through Redis pub/sub to every instance."""

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        event, data = message.get("event"), message.get("data")
        if event in BOARD_EVENTS and self.offer is not None and isinstance(data, list) and data:
            await self.offer(data[0])
            return
        await super()._handle_emit(message)
        room = message.get("room")
        if event == "auth:revoked" and isinstance(room, str) and self.after_revoked is not None:
            await self.after_revoked(room)
