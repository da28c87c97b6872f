"""Delivers each board's events to this instance's sockets in `seq` order, once each.

Events reach an instance from its own writes and, through Redis, from every other one,
and two instances may publish in the other order than they committed. Each board with
local subscribers therefore has a stream that holds early arrivals until the missing
`seq` comes, and fetches it from the event log when it doesn't come soon (a lost Redis
message, a Redis restart). A periodic sweep compares each stream with the store, so an
event that nobody announced still arrives. Because delivery is in order, acting on
`member:removed` and `board:deleted` as they pass makes them the last event that the
people concerned receive, on every instance.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from taskflow.services.events import EventService
from taskflow.services.views import event_view

Envelope = dict[str, Any]
EmitLocal = Callable[[str, Envelope, str, list[str]], Awaitable[None]]
Evict = Callable[[str, str | None], Awaitable[None]]
Participants = Callable[[str], list[str]]
Shed = Callable[[str, list[str]], Awaitable[list[str]]]

JOINING = math.inf


def board_room(board_id: str) -> str:
    return f"board:{board_id}"


@dataclass
class _Stream:
    next_seq: int | None = None  # None until the first join tells where the board is
    pending: dict[int, Envelope] = field(default_factory=dict)
    # Sockets whose join ack already carries events up to this seq (JOINING: not yet known).
    floors: dict[str, float] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    gap_timer: asyncio.TimerHandle | None = None


class Router:
    def __init__(self, *, events: EventService, emit_local: EmitLocal, evict: Evict,
                 participants: Participants, shed: Shed, gap_wait: float = 0.2,
                 delivered: Callable[[Envelope], None] | None = None) -> None:
        self._events = events
        self._delivered = delivered
        self._emit_local = emit_local
        self._evict = evict
        self._participants = participants
        self._shed = shed
        self._gap_wait = gap_wait
        self._streams: dict[str, _Stream] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- subscribers ---------------------------------------------------------------------
    def joining(self, board_id: str, sid: str) -> None:
        """The socket entered the room; it gets nothing until `joined` says from where."""
        stream = self._streams.setdefault(board_id, _Stream())
        stream.floors[sid] = JOINING

    async def joined(self, board_id: str, sid: str, upto: int) -> None:
        """The socket's join ack carries events up to `upto`; live delivery goes on from there."""
        stream = self._streams.setdefault(board_id, _Stream())
        async with stream.lock:
            stream.floors[sid] = upto
            if stream.next_seq is None:
                stream.next_seq = upto + 1
                stream.pending = {s: e for s, e in stream.pending.items() if s > upto}
            missed = stream.next_seq - 1 - upto
            if missed > 0:
                # Delivered to the room while this socket was joining: hand them over now.
                for event in await self._events.replay(board_id, since=upto, limit=missed):
                    await self._emit_local(event.type, event_view(event), sid, [])
                stream.floors[sid] = stream.next_seq - 1
        await self._drain(board_id)

    def left(self, board_id: str, sid: str) -> None:
        stream = self._streams.get(board_id)
        if stream is None:
            return
        stream.floors.pop(sid, None)
        if not self._participants(board_room(board_id)):
            self._drop(board_id)

    def boards(self) -> list[str]:
        return list(self._streams)

    # --- events --------------------------------------------------------------------------
    async def offer(self, envelope: Envelope) -> None:
        """An event for this instance's sockets, from anywhere, in any order, maybe twice."""
        board_id, seq = envelope["board_id"], envelope["seq"]
        stream = self._streams.get(board_id)
        if stream is None:
            return  # nobody here is subscribed
        if stream.next_seq is not None and seq < stream.next_seq:
            return  # already delivered
        stream.pending[seq] = envelope
        await self._drain(board_id)

    async def catch_up(self, board_id: str) -> None:
        """Fetches from the event log whatever this stream is missing."""
        stream = self._streams.get(board_id)
        if stream is None or stream.next_seq is None:
            return
        try:
            events = await self._events.replay(board_id, since=stream.next_seq - 1)
        except Exception:
            logger.exception("catch-up of board {} failed; the sweep will retry", board_id)
            return
        for event in events:
            stream.pending.setdefault(event.seq, event_view(event))
        await self._drain(board_id)

    async def sweep(self) -> None:
        """Compares every stream with the store: fills gaps, notices deleted boards."""
        ids = [b for b, s in self._streams.items() if s.next_seq is not None]
        if not ids:
            return
        latest = await self._events.latest_seqs(ids)
        for board_id in ids:
            stream = self._streams.get(board_id)
            if stream is None or stream.next_seq is None:
                continue
            if board_id not in latest:
                # Deleted and purged long ago (the event log outlives a board by an hour):
                # nothing left to deliver; take everyone out of the room.
                await self._evict(board_id, None)
                self._drop(board_id)
            elif latest[board_id] >= stream.next_seq:
                await self.catch_up(board_id)

    async def _drain(self, board_id: str) -> None:
        stream = self._streams.get(board_id)
        if stream is None:
            return
        async with stream.lock:
            if stream.next_seq is None:
                return
            while stream.next_seq in stream.pending:
                envelope = stream.pending.pop(stream.next_seq)
                await self._deliver(board_id, stream, envelope)
                if self._streams.get(board_id) is not stream:
                    return  # the board went away with that event
            self._watch_gap(board_id, stream)

    async def _deliver(self, board_id: str, stream: _Stream, envelope: Envelope) -> None:
        seq = envelope["seq"]
        room = board_room(board_id)
        skip = [sid for sid, floor in stream.floors.items() if floor >= seq]
        skip += await self._shed(room, skip)
        await self._emit_local(envelope["type"], envelope, room, skip)
        if self._delivered is not None:
            self._delivered(envelope)
        stream.next_seq = seq + 1
        stream.floors = {sid: f for sid, f in stream.floors.items() if f >= stream.next_seq}
        if envelope["type"] == "member:removed":
            await self._evict(board_id, envelope["data"]["user_id"])
        elif envelope["type"] == "board:deleted":
            await self._evict(board_id, None)
            self._drop(board_id)

    def _watch_gap(self, board_id: str, stream: _Stream) -> None:
        if not stream.pending:
            if stream.gap_timer is not None:
                stream.gap_timer.cancel()
                stream.gap_timer = None
            return
        if stream.gap_timer is None:
            loop = asyncio.get_running_loop()
            stream.gap_timer = loop.call_later(self._gap_wait, self._gap_expired, board_id, stream)

    def _gap_expired(self, board_id: str, stream: _Stream) -> None:
        stream.gap_timer = None
        if self._streams.get(board_id) is stream and stream.pending:
            task = asyncio.create_task(self.catch_up(board_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _drop(self, board_id: str) -> None:
        stream = self._streams.pop(board_id, None)
        if stream is not None and stream.gap_timer is not None:
            stream.gap_timer.cancel()

    async def close(self) -> None:
        for board_id in list(self._streams):
            self._drop(board_id)
        for task in list(self._tasks):
            task.cancel()
