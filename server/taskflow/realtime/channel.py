"""The live channel: the Socket.IO server, its connections, and the loops that keep it honest.

Three kinds of state, each with one owner (ARCHITECTURE.md, "Inside realtime/"): the
connections (`Connections`), the board streams (`Router`) and presence (`Presence`). This
module wires them together and runs the periodic jobs: the stream sweep, the presence
refresh, and the token-expiry and login checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import socketio
from loguru import logger

from taskflow.config import Settings
from taskflow.observability import LogQuota, Metrics
from taskflow.ratelimit import RateLimiter
from taskflow.realtime.bus import Bus
from taskflow.realtime.connections import Connection, Connections
from taskflow.realtime.engine import SocketServer
from taskflow.realtime.managers import BusManager, LocalManager
from taskflow.realtime.presence import MemoryPresence, Presence, RedisPresence, Viewer
from taskflow.realtime.router import Router, Subscriber, board_room
from taskflow.services.container import Services

LOGIN_CHECK_SECONDS = 5.0
HEARTBEAT_SECONDS = 1.0  # how often the engine's heartbeat looks for PINGs and PONGs due


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


class LiveChannel:
    """Everything the Socket.IO side owns; `start` runs with the server, `stop` ends it."""

    def __init__(self, settings: Settings, *, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.manager: LocalManager | BusManager = (
            BusManager() if settings.redis_url else LocalManager())
        self.bus: Bus | None = None
        self.sio = SocketServer(
            client_manager=self.manager,
            async_mode="asgi",
            cors_allowed_origins=self._origin_allowed,
            ping_interval=settings.live_ping_interval,
            ping_timeout=settings.live_ping_timeout,
            max_http_buffer_size=settings.live_max_message_bytes,
            logger=False,
            engineio_logger=False,
            refused=self._malformed,
        )
        self._malformed_log = LogQuota(lines=10, window=60.0)
        self.engine = self.sio.engine
        self.engine.instance_id = settings.instance_id
        self.connections = Connections()
        self.services_: Services | None = None
        self.presence = Presence(MemoryPresence(), announce=self._announce_presence)
        self.router_: Router | None = None
        self.connect_limiter = RateLimiter(redis=None)
        self._loops: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        metrics.live_streams.set_function(lambda: len(self.router_) if self.router_ else 0)
        metrics.live_sockets.set_function(lambda: len(self.engine.sockets))
        metrics.live_bus_subscriptions.set_function(
            lambda: self.bus.board_subscriptions if self.bus else 0)

    @property
    def services(self) -> Services:
        assert self.services_ is not None, "the live channel starts with the server"
        return self.services_

    @property
    def router(self) -> Router:
        assert self.router_ is not None, "the live channel starts with the server"
        return self.router_

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
            self.bus = Bus(redis, received=self._bus_received)
            self.presence.store = RedisPresence(redis, instance_id=self.settings.instance_id,
                                                ttl=self.settings.presence_ttl)
            # Live connects count across instances, like the HTTP limits.
            self.connect_limiter = RateLimiter(redis=redis)
        self.router_ = Router(events=services.events, outlet=self,
                              max_queue=self.settings.live_max_queue, evicted=self._evicted,
                              shed=self._shed, delivered=self._observe_delay,
                              opened=self._board_opened, closed=self._board_closed)
        self.manager.gate = self
        if isinstance(self.manager, BusManager) and self.bus is not None:
            self.manager.bus = self.bus
            self.bus.start()
        from taskflow.realtime import handlers

        handlers.register(self)
        if not self.sio.manager_initialized:
            # Listen to the other instances now, not on the first connection.
            self.sio.manager_initialized = True
            self.manager.initialize()
        self.presence.start()
        self._loops = [
            asyncio.create_task(self._every(self.settings.live_sweep_seconds, self.router.sweep)),
            asyncio.create_task(self._every(self.settings.presence_ttl / 3, self.presence.refresh)),
            asyncio.create_task(self._every(LOGIN_CHECK_SECONDS, self._check_logins)),
            asyncio.create_task(self._every(HEARTBEAT_SECONDS, self._beat)),
        ]

    async def stop(self) -> None:
        listener = getattr(self.manager, "thread", None)
        tasks = [*self._loops, *([listener] if isinstance(listener, asyncio.Task) else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.presence.stop()
        if self.router_ is not None:
            await self.router_.close()
        if self.bus is not None:
            await self.bus.close()  # the Redis client itself is the app's

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                logger.exception("live channel job {} failed", getattr(job, "__name__", job))

    def spawn(self, work: Awaitable[Any]) -> None:
        """Runs `work` in its own task, kept until it ends, its failure logged."""
        async def run() -> None:
            try:
                await work
            except Exception:
                logger.exception("live channel task failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _observe_delay(self, envelope: dict[str, Any]) -> None:
        at = envelope.get("at")
        if isinstance(at, str):
            delay = time.time() - datetime.fromisoformat(at).timestamp()
            self.metrics.live_delivery.observe(max(delay, 0.0))

    def _malformed(self, eio_sid: str, what: str) -> None:
        """A client sent a packet that doesn't decode (the server disconnected it)."""
        self.metrics.live_malformed.inc()
        self._malformed_log.warning("live: disconnected {} for a malformed packet: {}",
                                    eio_sid, what[:200])

    # --- the router's outlet -------------------------------------------------------------
    def frame(self, event: str, data: Any) -> Any:
        return self.sio.frame(event, data)

    def push(self, eio_sid: str, frame: Any) -> int | None:
        return self.engine.push(eio_sid, frame)

    # --- the managers' gate: what is addressed to a board or a user ----------------------
    def board(self, board_id: str, event: str, data: Any, skip_sid: Any) -> None:
        if event == "presence" or event == "task:editing":
            self.router.signal(board_id, event, data, skip_sid)
        elif isinstance(data, dict) and data.get("board_id") == board_id and "seq" in data:
            self.router.offer(data)
        else:
            logger.warning("dropped {!r} addressed to board {}", event, board_id)

    def user(self, user_id: str, event: str, data: Any) -> None:
        """To a user's connections here: `boards:changed`, `notification:created` and
        `notification:read`, or `auth:revoked` of some logins."""
        if event == "auth:revoked" and isinstance(data, dict):
            for login_id in data.get("login_ids", ()):
                self.end_login(login_id, {"reason": "login_revoked"})
        elif event in ("boards:changed", "notification:created", "notification:read"):
            connections = self.connections.of_user(user_id)
            if connections:
                frame = self.sio.frame(event, data)
                for conn in connections:
                    self.engine.push(conn.eio_sid, frame)
        else:
            logger.warning("dropped {!r} addressed to user {}", event, user_id)

    def end_login(self, login_id: str, reason: Any) -> None:
        frame = self.sio.frame("auth:revoked", reason)
        for conn in self.connections.revoke(login_id):
            self._tell_and_close(conn, frame)

    def _tell_and_close(self, conn: Connection, frame: Any) -> None:
        """Sends `frame`, then closes the socket gracefully (its queue is sent first)."""
        self.engine.push(conn.eio_sid, frame)
        self.spawn(self.sio.disconnect(conn.sid))

    # --- the bus: which boards and users this instance hears ------------------------------
    def _board_opened(self, board_id: str) -> None:
        if self.bus is not None:
            self.bus.want(self.bus.board(board_id))

    def _board_closed(self, board_id: str) -> None:
        if self.bus is not None:
            self.bus.drop(self.bus.board(board_id))

    async def board_heard(self, board_id: str) -> None:
        """Returns once the board's events published from now on reach this instance (call
        while its stream is held), or at once when the bus can't say (Redis down: the
        sweep and gap fill read the event log then)."""
        if self.bus is not None:
            await self.bus.ready(self.bus.board(board_id))

    async def hear_user(self, user_id: str) -> None:
        """This instance hears the user's channel from now on, until `unhear_user`; returns
        once notices published from now on reach it (or at once when the bus can't say)."""
        if self.bus is not None:
            channel = self.bus.user(user_id)
            self.bus.want(channel)
            await self.bus.ready(channel)

    def unhear_user(self, user_id: str) -> None:
        if self.bus is not None:
            self.bus.drop(self.bus.user(user_id))

    def _bus_received(self, kind: str) -> None:
        if kind == "board":
            self.metrics.live_bus_messages.inc()

    # --- connections, boards and presence ------------------------------------------------
    def subscriber(self, conn: Connection) -> Subscriber:
        return Subscriber(sid=conn.sid, eio_sid=conn.eio_sid, user_id=conn.user_id)

    def leave(self, conn: Connection, board_id: str) -> None:
        """Takes the connection off the board, or cancels its join in flight."""
        conn.joining.pop(board_id, None)
        if board_id in conn.boards:
            self.router.unsubscribe(board_id, conn.sid)
            self._off_board(conn, board_id)

    def _off_board(self, conn: Connection, board_id: str) -> None:
        conn.boards.discard(board_id)
        self.presence.exit(board_id, conn.user_id)

    def closed(self, sid: str) -> None:
        conn = self.connections.remove(sid)
        if conn is None:
            return
        self.metrics.live_connections.dec()
        self.unhear_user(conn.user_id)
        for board_id in list(conn.boards):
            self.leave(conn, board_id)

    def _evicted(self, board_id: str, subs: list[Subscriber]) -> None:
        for sub in subs:
            conn = self.connections.get(sub.sid)
            if conn is not None and board_id in conn.boards:
                self._off_board(conn, board_id)  # the router has already dropped it

    def _shed(self, sub: Subscriber, queued: int) -> None:
        self.metrics.live_slow_consumers.inc()
        logger.warning("closing slow consumer {} ({} packets queued)", sub.sid, queued)
        task = self.engine.abort(sub.eio_sid, "slow consumer")
        if task is not None:
            task.add_done_callback(lambda t: t.exception())

    async def _announce_presence(self, board_id: str, viewers: list[Viewer],
                                 everywhere: bool) -> None:
        """Sends the board's viewers to its joined sockets, on every instance or on this one."""
        payload = {"board_id": board_id, "users": viewers}
        if everywhere:
            await self.sio.emit("presence", payload, room=board_room(board_id))
        else:
            self.router.signal(board_id, "presence", payload)

    # --- periodic checks -----------------------------------------------------------------
    async def _beat(self) -> None:
        self.engine.beat()

    async def _check_logins(self) -> None:
        """Token expiry, and logins that ended while their `auth:revoked` was lost (Redis down)."""
        now = time.time()
        for conn in self.connections:
            left = conn.expires_at - now
            if left <= 0:
                self._tell_and_close(conn, self.sio.frame("auth:expired",
                                                          {"reason": "token_expired"}))
            elif left < 60 and not conn.warned:
                conn.warned = True
                self.engine.push(conn.eio_sid, self.sio.frame("auth:expiring",
                                                              {"expires_in": int(left)}))
        for login_id in await self.services.auth.ended_logins(self.connections.logins()):
            self.end_login(login_id, {"reason": "login_revoked"})
