"""What clients may send on the live channel; each command is declared with its schema.

Every ack is `{ok: true, ...}` or `{ok: false, error: {status, code, title, detail}}`.
Authorization is the services' (the same code that serves HTTP).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from socketio.exceptions import ConnectionRefusedError

from taskflow.addresses import client_address
from taskflow.errors import (
    NotFound,
    RateLimited,
    TaskFlowError,
    Unauthorized,
    ValidationFailed,
)
from taskflow.realtime.channel import Connection, LiveChannel, login_room
from taskflow.realtime.router import board_room
from taskflow.services.access import Actor
from taskflow.services.views import event_view, rfc3339

MAX_BOARDS_PER_CONNECTION = 50
Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class JoinIn(_Payload):
    board_id: str = Id
    since: int | None = Field(default=None, ge=0)


class LeaveIn(_Payload):
    board_id: str = Id


class EditingIn(_Payload):
    task_id: str = Id
    editing: bool


class RefreshIn(_Payload):
    token: str = Field(min_length=1, max_length=4096)


Handler = Callable[[LiveChannel, Connection, Any], Awaitable[dict[str, Any] | None]]


def _error(error: TaskFlowError) -> dict[str, Any]:
    return {"ok": False, "error": error.payload()}


def _actor(conn: Connection) -> Actor:
    return Actor(user_id=conn.user_id, login_id=conn.login_id)


async def join(channel: LiveChannel, conn: Connection, p: JoinIn) -> dict[str, Any]:
    """Subscribe to a board: the ack carries its seq and what was missed since `since`."""
    if p.board_id not in conn.boards and len(conn.boards) >= MAX_BOARDS_PER_CONNECTION:
        raise RateLimited(f"At most {MAX_BOARDS_PER_CONNECTION} boards per connection")
    assert channel.router is not None
    room = board_room(p.board_id)
    # Enter first, then read: a change committed meanwhile is delivered, never skipped.
    await channel.sio.enter_room(conn.sid, room)
    channel.router.joining(p.board_id, conn.sid)
    try:
        catchup = await channel.services.events.join(_actor(conn), p.board_id, p.since)
    except BaseException:
        await channel.sio.leave_room(conn.sid, room)
        channel.router.left(p.board_id, conn.sid)
        raise
    first_join = p.board_id not in conn.boards
    conn.boards.add(p.board_id)
    await channel.router.joined(p.board_id, conn.sid, catchup.latest_seq)
    if first_join:
        await channel.add_viewer(conn, p.board_id)
    channel.metrics.live_joins.inc()
    ack: dict[str, Any] = {"seq": catchup.latest_seq,
                           "presence": await channel.presence.viewers(p.board_id)}
    if catchup.resync:
        ack["resync"] = True
    else:
        ack["events"] = [event_view(e) for e in catchup.events]
    return ack


async def leave(channel: LiveChannel, conn: Connection, p: LeaveIn) -> dict[str, Any]:
    if p.board_id in conn.boards:
        await channel.sio.leave_room(conn.sid, board_room(p.board_id))
        await channel.remove_viewer(conn, p.board_id)
    return {}


async def editing(channel: LiveChannel, conn: Connection, p: EditingIn) -> dict[str, Any]:
    """Tell the board's other viewers that this user is (no longer) editing a task."""
    task = await channel.services.tasks.get(_actor(conn), p.task_id)
    if task.board_id not in conn.boards:
        raise NotFound("Join the task's board first")
    await channel.sio.emit("task:editing",
                           {"task_id": task.id, "user_id": conn.user_id, "editing": p.editing},
                           room=board_room(task.board_id), skip_sid=conn.sid)
    return {}


async def refresh(channel: LiveChannel, conn: Connection, p: RefreshIn) -> dict[str, Any]:
    """Present a fresh access token so the connection outlives the first one."""
    identity = await channel.services.auth.live_identity(p.token, of_user=conn.user_id)
    if identity.login_id != conn.login_id:
        await channel.sio.leave_room(conn.sid, login_room(conn.login_id))
        await channel.sio.enter_room(conn.sid, login_room(identity.login_id))
        conn.login_id = identity.login_id
    conn.expires_at = identity.expires_at.timestamp()
    conn.warned = False
    return {"expires_at": rfc3339(identity.expires_at)}


COMMANDS: dict[str, tuple[type[_Payload], Handler]] = {
    "board:join": (JoinIn, join),
    "board:leave": (LeaveIn, leave),
    "task:editing": (EditingIn, editing),
    "auth:refresh": (RefreshIn, refresh),
}


def register(channel: LiveChannel) -> None:
    """Installs connect/disconnect and every command of COMMANDS on the channel's server."""
    sio, settings = channel.sio, channel.settings
    limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
    event_rate = parse(settings.live_event_rate)
    connect_rate = parse(settings.live_connect_rate)

    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        client = environ.get("asgi.scope", {}).get("client") or (None,)
        address = client_address(client[0], environ.get("HTTP_X_FORWARDED_FOR"),
                                 settings.trusted_proxies)
        if not await limiter.hit(connect_rate, "live-connect", address):
            raise ConnectionRefusedError("rate_limited")
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise ConnectionRefusedError("unauthorized")
        try:
            identity = await channel.services.auth.live_identity(token)
        except Unauthorized:
            raise ConnectionRefusedError("unauthorized") from None
        channel.connections[sid] = Connection(
            sid=sid, user_id=identity.user.id, login_id=identity.login_id,
            name=identity.user.name, expires_at=identity.expires_at.timestamp())
        await sio.enter_room(sid, login_room(identity.login_id))
        channel.metrics.live_connections.inc()

    async def disconnect(sid: str, reason: Any = None) -> None:
        conn = channel.connections.pop(sid, None)
        if conn is None:
            return
        channel.metrics.live_connections.dec()
        for board_id in list(conn.boards):
            await channel.remove_viewer(conn, board_id)

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)

    def command(name: str, schema: type[_Payload], handler: Handler) -> None:
        async def run(sid: str, data: Any = None, *extra: Any) -> dict[str, Any]:
            conn = channel.connections.get(sid)
            if conn is None:
                return _error(Unauthorized())
            if conn.expires_at < time.time():
                return _error(Unauthorized("Access token expired; send auth:refresh",
                                           reason="token_expired"))
            if not await limiter.hit(event_rate, "live-event", sid):
                return _error(RateLimited("Too many messages on this connection"))
            try:
                payload = schema.model_validate(data)
            except ValidationError as exc:
                errors = [{"loc": list(e["loc"]), "msg": e["msg"]}
                          for e in exc.errors(include_url=False, include_input=False)]
                return _error(ValidationFailed(f"{name}: invalid payload", errors=errors))
            try:
                return {"ok": True, **(await handler(channel, conn, payload) or {})}
            except TaskFlowError as exc:
                return _error(exc)
            except Exception:
                logger.exception("live command {} failed", name)
                return _error(TaskFlowError())

        sio.on(name, run)

    for name, (schema, handler) in COMMANDS.items():
        command(name, schema, handler)

    async def unknown(event: str, sid: str, *args: Any) -> dict[str, Any]:
        return _error(NotFound(f"No command {event!r} on this channel"))

    sio.on("*", unknown)
