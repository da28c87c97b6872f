"""The live channel: the Socket.IO server, its connections, and the loops that keep it honest."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import engineio
import socketio
from loguru import logger

from taskflow.config import Settings
from taskflow.observability import Metrics
from taskflow.realtime.managers import LocalManager, RedisManager
from taskflow.realtime.presence import MemoryPresence, PresenceStore, RedisPresence
from taskflow.realtime.router import Router, board_room
from taskflow.services.container import Services


class _Engine(engineio.AsyncServer):  # type: ignore[misc]
    """Engine.IO with session ids that name their instance ("i2.XXXX"): nginx routes on it."""

    instance_id = "x"

    def generate_id(self) -> str:
        return f"{self.instance_id}.{super().generate_id()}"


class _SocketServer(socketio.AsyncServer):  # type: ignore[misc]
    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _Engine


@dataclass
class Connection:
    """One authenticated socket on this instance."""

    sid: str
    user_id: str
    login_id: str
    name: str
    expires_at: float
    boards: set[str] = field(default_factory=set)
    warned: bool = False


def login_room(login_id: str) -> str:
    return f"login:{login_id}"


class LiveChannel:
    """Everything the Socket.IO side owns; `start` runs with the server, `stop` ends it."""

    def __init__(self, settings: Settings, *, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.manager: LocalManager | RedisManager = (
            RedisManager(url=settings.redis_url, channel="taskflow:live")
            if settings.redis_url else LocalManager()
        )
        self.sio = _SocketServer(
            client_manager=self.manager,
            async_mode="asgi",
            cors_allowed_origins=self._origin_allowed,
            ping_interval=settings.live_ping_interval,
            ping_timeout=settings.live_ping_timeout,
            max_http_buffer_size=settings.live_max_message_bytes,
            logger=False,
            engineio_logger=False,
        )
        self.sio.eio.instance_id = settings.instance_id
        self.connections: dict[str, Connection] = {}
        # board -> user -> (name, this instance's sockets of that user on the board)
        self.viewers: dict[str, dict[str, tuple[str, int]]] = {}
        self._last_presence: dict[str, list[dict[str, str]]] = {}
        self.services_: Services | None = None
        self.presence: PresenceStore = MemoryPresence()
        self.router: Router | None = None
        self._loops: list[asyncio.Task[None]] = []

    @property
    def services(self) -> Services:
        assert self.services_ is not None, "the live channel starts with the server"
        return self.services_

    def asgi(self, app: Any) -> socketio.ASGIApp:
        """The one ASGI app: Socket.IO at /socket.io, everything else to `app`.

        No on_startup/on_shutdown here: with them the lifespan would never reach Quart.
        """
        return socketio.ASGIApp(self.sio, other_asgi_app=app, socketio_path="socket.io")

    def _origin_allowed(self, origin: str | None, environ: dict[str, Any]) -> bool:
        if origin is None:
            return True  # not a browser
        if origin in self.settings.cors_origins:
            return True
        host = environ.get("HTTP_HOST", "")
        schemes = {environ.get("wsgi.url_scheme", "http"), "http", "https"}
        forwarded = environ.get("HTTP_X_FORWARDED_PROTO")
        if forwarded:
            schemes = {forwarded.split(",")[0].strip()}
        return any(origin == f"{scheme}://{host}" for scheme in schemes)

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self, services: Services, redis: Any | None) -> None:
        self.services_ = services
        if redis is not None:
            self.presence = RedisPresence(redis, instance_id=self.settings.instance_id,
                                          ttl=self.settings.presence_ttl)
        self.router = Router(events=services.events, emit_local=self.manager.emit_local,
                             evict=self.evict, participants=self.local_participants,
                             shed=self.shed_slow_consumers, delivered=self._observe_delay)
        self.manager.offer = self.router.offer
        self.manager.after_revoked = self._close_room_sockets
        from taskflow.realtime import handlers

        handlers.register(self)
        if not self.sio.manager_initialized:
            # Listen to the other instances now, not on the first connection.
            self.sio.manager_initialized = True
            self.manager.initialize()
        self._loops = [
            asyncio.create_task(self._every(self.settings.live_sweep_seconds, self.router.sweep)),
            asyncio.create_task(self._every(self.settings.presence_ttl / 3, self._refresh_presence)),
            asyncio.create_task(self._every(5.0, self._check_expiry)),
        ]

    async def stop(self) -> None:
        listener = getattr(self.manager, "thread", None)
        tasks = [*self._loops, *([listener] if isinstance(listener, asyncio.Task) else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.router is not None:
            await self.router.close()
        redis = getattr(self.manager, "redis", None)
        if redis is not None:
            await redis.aclose()

    async def _every(self, seconds: float, job: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                logger.exception("live channel job {} failed", getattr(job, "__name__", job))

    def _observe_delay(self, envelope: dict[str, Any]) -> None:
        at = envelope.get("at")
        if isinstance(at, str):
            delay = time.time() - datetime.fromisoformat(at).timestamp()
            self.metrics.live_delivery.observe(max(delay, 0.0))

    # --- rooms, presence, eviction -------------------------------------------------------
    def local_participants(self, room: str) -> list[str]:
        return [sid for sid, _ in self.manager.get_participants("/", room)]

    async def add_viewer(self, conn: Connection, board_id: str) -> None:
        users = self.viewers.setdefault(board_id, {})
        sockets = users.get(conn.user_id, (conn.name, 0))[1] + 1
        users[conn.user_id] = (conn.name, sockets)
        if sockets == 1:
            await self.presence.add(board_id, conn.user_id, conn.name)
            await self.broadcast_presence(board_id)

    async def remove_viewer(self, conn: Connection, board_id: str) -> None:
        conn.boards.discard(board_id)
        if self.router is not None:
            self.router.left(board_id, conn.sid)
        users = self.viewers.get(board_id, {})
        if conn.user_id not in users:
            return
        name, sockets = users[conn.user_id]
        if sockets > 1:
            users[conn.user_id] = (name, sockets - 1)
            return
        del users[conn.user_id]
        if not users:
            self.viewers.pop(board_id, None)
            self._last_presence.pop(board_id, None)
        await self.presence.remove(board_id, conn.user_id)
        await self.broadcast_presence(board_id)

    async def broadcast_presence(self, board_id: str, *, local_only: bool = False) -> None:
        """Sends the board's viewers to its room: on every instance, or only this one's."""
        viewers = await self.presence.viewers(board_id)
        if local_only and viewers == self._last_presence.get(board_id):
            return
        if board_id in self.viewers:
            self._last_presence[board_id] = viewers
        await self.sio.emit("presence", {"board_id": board_id, "users": viewers},
                            room=board_room(board_id), ignore_queue=local_only)

    async def _refresh_presence(self) -> None:
        await self.presence.refresh({
            board_id: {user_id: name for user_id, (name, _) in users.items()}
            for board_id, users in self.viewers.items()
        })
        # Viewers of a dead instance expire; tell this instance's sockets when that happens.
        for board_id in list(self.viewers):
            await self.broadcast_presence(board_id, local_only=True)

    async def evict(self, board_id: str, user_id: str | None) -> None:
        """Takes `user_id`'s sockets (None: every socket) out of the board's room, here."""
        room = board_room(board_id)
        for sid in self.local_participants(room):
            conn = self.connections.get(sid)
            if conn is None or (user_id is not None and conn.user_id != user_id):
                continue
            await self.sio.leave_room(sid, room)
            await self.remove_viewer(conn, board_id)

    async def _close_room_sockets(self, room: str) -> None:
        for sid in self.local_participants(room):
            await self.sio.disconnect(sid)

    async def shed_slow_consumers(self, room: str, skip: list[str]) -> list[str]:
        """Closes the sockets whose outgoing queue is over the limit; returns their sids."""
        limit = self.settings.live_max_queue
        shed: list[str] = []
        for sid, eio_sid in self.manager.get_participants("/", room):
            socket = self.sio.eio.sockets.get(eio_sid)
            if socket is None or socket.queue.qsize() <= limit:
                continue
            shed.append(sid)
            self.metrics.live_slow_consumers.inc()
            logger.warning("closing slow consumer {} ({} packets queued)", sid,
                           socket.queue.qsize())
            # abort: a socket that doesn't read would never drain a graceful close.
            task = asyncio.create_task(socket.close(wait=False, abort=True,
                                                    reason="slow consumer"))
            task.add_done_callback(lambda t: t.exception())
        return shed

    async def _check_expiry(self) -> None:
        now = time.time()
        for conn in list(self.connections.values()):
            left = conn.expires_at - now
            if left <= 0:
                await self.sio.emit("auth:expired", {"reason": "token_expired"}, to=conn.sid)
                await self.sio.disconnect(conn.sid)
            elif left < 60 and not conn.warned:
                conn.warned = True
                await self.sio.emit("auth:expiring", {"expires_in": int(left)}, to=conn.sid)
