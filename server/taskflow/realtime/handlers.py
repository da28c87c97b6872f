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
    Conflict,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    TaskFlowError,
    Unauthorized,
    ValidationFailed,
)
from taskflow.realtime.channel import LiveChannel
from taskflow.realtime.connections import Connection
from taskflow.realtime.router import board_room
from taskflow.services.access import Actor
from taskflow.services.scopes import live_scope, require_scope
from taskflow.services.views import event_view, rfc3339

MAX_BOARDS_PER_CONNECTION = 50
MAX_JOIN_READS = 5
Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class JoinIn(_Payload):
    board_id: str = Id
    since: int | None = Field(default=None, ge=0)
    # The epoch `since` counts in (from an earlier ack or the board); another one: resync.
    epoch: str | None = Field(default=None, min_length=1, max_length=64)


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
    return Actor(user_id=conn.user_id, login_id=conn.login_id, scopes=conn.scopes)


async def join(channel: LiveChannel, conn: Connection, p: JoinIn) -> dict[str, Any]:
    """Subscribe to a board: the ack carries its seq and exactly the events after `since` up
    to it; live delivery goes on from the next seq, and nothing of the board reaches the
    socket before the ack."""
    board_id = p.board_id
    channel.leave(conn, board_id)  # a re-join starts afresh: if it fails, nothing is left
    if len(conn.boards) + len(conn.joining) >= MAX_BOARDS_PER_CONNECTION:
        raise RateLimited(f"At most {MAX_BOARDS_PER_CONNECTION} boards per connection")
    attempt = conn.start_join(board_id)
    channel.router.hold(board_id)  # events from now on are kept for this join
    viewing = False  # counted in presence, and not yet handed to conn.boards
    try:
        # What is published from here on reaches this instance; what was published before
        # is in the event log by the time it is read.
        await channel.board_heard(board_id)
        catchup = await channel.services.events.join(_actor(conn), board_id, p.since, p.epoch)
        seq, resync = catchup.latest_seq, catchup.resync
        events = [event_view(e) for e in catchup.events]
        # Listed before the ack, so that the ack means every instance lists this viewer.
        listed = channel.presence.enter(board_id, conn.user_id, conn.name)
        viewing = True
        presence = await channel.presence.settled(board_id)  # the viewers that write saw
        for _ in range(MAX_JOIN_READS):
            if presence is None:
                presence = await channel.presence.viewers(board_id)
            if not conn.join_current(board_id, attempt):
                raise Conflict("The join was cancelled by a leave, another join or a close",
                               reason="join_cancelled")
            # No await from here to the return: the ack is queued before any delivery.
            accepted = channel.router.subscribe(board_id, channel.subscriber(conn), seq)
            if accepted is not None:
                conn.boards.add(board_id)
                viewing = False
                if listed:  # the viewers heard of it before this socket could: tell it too
                    channel.presence.announce(board_id)
                channel.metrics.live_joins.inc()
                ack: dict[str, Any] = {"seq": accepted.seq, "epoch": catchup.epoch,
                                       "presence": presence}
                if resync:
                    ack["resync"] = True
                elif p.since is None:
                    ack["events"] = []  # no baseline: nothing to catch up, live from ack.seq + 1
                else:
                    ack["events"] = events + [e for e in accepted.events if e["seq"] > p.since]
                return ack
            # The stream delivered events after `seq` that it no longer remembers: read on.
            presence = None
            more = await channel.services.events.join(_actor(conn), board_id, seq)
            resync = resync or more.resync
            events += [event_view(e) for e in more.events]
            seq = more.latest_seq
        raise ServiceUnavailable("The board changes too fast to join now; retry")
    finally:
        if viewing:
            channel.presence.exit(board_id, conn.user_id)
        conn.end_join(board_id, attempt)
        channel.router.release(board_id)


async def leave(channel: LiveChannel, conn: Connection, p: LeaveIn) -> dict[str, Any]:
    channel.leave(conn, p.board_id)
    await channel.presence.settled(p.board_id)  # acked once no instance lists it for this
    return {}


async def editing(channel: LiveChannel, conn: Connection, p: EditingIn) -> dict[str, Any]:
    """Tell the board's other viewers that this user is (no longer) editing a task."""
    task = await channel.services.tasks.get(_actor(conn), p.task_id)
    if task.board_id not in conn.boards:  # read after the await: it may have left meanwhile
        raise NotFound("Join the task's board first")
    await channel.sio.emit("task:editing",
                           {"task_id": task.id, "user_id": conn.user_id, "editing": p.editing},
                           room=board_room(task.board_id), skip_sid=conn.sid)
    return {}


async def refresh(channel: LiveChannel, conn: Connection, p: RefreshIn) -> dict[str, Any]:
    """Present a fresh access token so the connection outlives the first one."""
    auth = channel.services.auth
    claims = auth.live_claims(p.token, of_user=conn.user_id)
    ticket = channel.connections.expect(claims.login_id)
    try:
        identity = await auth.live_identity(claims)
    finally:
        channel.connections.settle(ticket)
    if ticket.revoked or not conn.open:
        raise Unauthorized("This login has ended; sign in again", reason="login_revoked")
    if identity.login_id != conn.login_id:
        channel.connections.relogin(conn, identity.login_id)
    conn.expires_at = identity.expires_at.timestamp()
    conn.warned = False
    return {"expires_at": rfc3339(identity.expires_at)}


COMMANDS: dict[str, tuple[type[_Payload], Handler]] = {
    "board:join": (JoinIn, join),
    "board:leave": (LeaveIn, leave),
    "task:editing": (EditingIn, editing),
    "auth:refresh": (RefreshIn, refresh),
}


# What python-engineio still reads from a connection's environ once it is accepted.
_KEPT = frozenset({"REQUEST_METHOD", "asgi.receive", "asgi.send", "asgi.scope"})


def forget_handshake(environ: dict[str, Any]) -> None:
    """Drops the handshake request (headers, WSGI-style fields) that python-socketio and the
    suspended engine.io handlers would otherwise keep for the connection's whole life."""
    for key in [k for k in environ if k not in _KEPT]:
        del environ[key]
    scope = environ.get("asgi.scope")
    if isinstance(scope, dict):
        scope["headers"] = []


def register(channel: LiveChannel) -> None:
    """Installs connect/disconnect and every command of COMMANDS on the channel's server."""
    sio, settings = channel.sio, channel.settings
    limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
    event_rate = parse(settings.live_event_rate)

    async def accept(sid: str, environ: dict[str, Any], auth: Any) -> None:
        client = environ.get("asgi.scope", {}).get("client") or (None,)
        address = client_address(client[0], environ.get("HTTP_X_FORWARDED_FOR"),
                                 settings.trusted_proxies)
        try:
            await channel.connect_limiter.hit(settings.live_connect_rate, "live-connect", address)
        except RateLimited:
            raise ConnectionRefusedError("rate_limited") from None
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise ConnectionRefusedError("unauthorized")
        try:
            # A personal access token is read from the store here, and again (with the
            # ticket below) by live_identity, so a revocation meanwhile is not missed.
            claims = await channel.services.auth.live_token(token)
        except Unauthorized:
            raise ConnectionRefusedError("unauthorized") from None
        # Both before the store is asked, so that a logout landing meanwhile is not missed:
        # the user's channel brings revocations from other instances, the ticket this one's.
        registered = False
        try:
            await channel.hear_user(claims.user_id)
            ticket = channel.connections.expect(claims.login_id)
            try:
                identity = await channel.services.auth.live_identity(claims)
            except Unauthorized:
                raise ConnectionRefusedError("unauthorized") from None
            finally:
                channel.connections.settle(ticket)
            if ticket.revoked:
                raise ConnectionRefusedError("unauthorized")
            eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
            if eio_sid is None or not channel.engine.is_open(eio_sid):
                raise ConnectionRefusedError("unavailable")  # it closed while we checked
            channel.connections.add(Connection(
                sid=sid, eio_sid=eio_sid, user_id=identity.user.id, login_id=identity.login_id,
                name=identity.user.name, expires_at=identity.expires_at.timestamp(),
                scopes=identity.scopes))
            registered = True  # its close ends the hearing (LiveChannel.closed)
        finally:
            if not registered:
                channel.unhear_user(claims.user_id)
        channel.metrics.live_connections.inc()
        forget_handshake(environ)

    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        try:
            await accept(sid, environ, auth)
        except ConnectionRefusedError:
            raise
        except ServiceUnavailable as exc:
            logger.warning("live connect refused, the store is unavailable: {}", exc)
            raise ConnectionRefusedError("unavailable") from None
        except Exception:
            # Refused, never left half-open: python-socketio keeps a sid whose connect
            # handler raised anything but ConnectionRefusedError.
            logger.exception("live connect failed")
            raise ConnectionRefusedError("unavailable") from None

    async def disconnect(sid: str, reason: Any = None) -> None:
        channel.closed(sid)

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
                require_scope(_actor(conn), live_scope(name))
            except TaskFlowError as exc:
                return _error(exc)
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
