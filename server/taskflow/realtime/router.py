"""Delivers each board's events to this instance's joined sockets in `seq` order, once each.

Events reach an instance from its own writes and, through Redis, from every other one,
and two instances may publish in the other order than they committed. Each board with
local subscribers (or a join in flight) has a stream that holds early arrivals until the
missing `seq` comes, and fetches it from the event log when it doesn't come soon (a lost
Redis message, a Redis restart). A periodic sweep compares each stream with the store, so
an event that nobody announced still arrives; a seq the log will never have (a hole) is
skipped after a few fetches, and the subscribers are told to refetch (`board:resync`).

The stream is the only sender of anything of a board: its events, and the signals
(`presence`, `task:editing`) that go to the same sockets. A socket is a subscriber only
once its join is acknowledged, and is told nothing before: `subscribe` is synchronous and
the join handler returns right after it, so the ack is queued before any delivery, which
runs later from the event loop (`call_soon`). Nothing here awaits while delivering: a slow
store read of one board never holds up another board, or the Redis listener.

Because delivery is in order, acting on `member:removed` and `board:deleted` as they pass
makes them the last event that the people concerned receive, on every instance.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from loguru import logger

from taskflow.errors import NotFound
from taskflow.realtime.engine import Frame
from taskflow.services.events import EventService
from taskflow.services.views import event_view

Envelope = dict[str, Any]
RECENT = 64  # delivered envelopes a stream keeps for the joins that raced them
# Recipients served in one step of the event loop: a board with thousands of sockets here
# never holds the loop (a REST answer, another board) for more than one such step.
CHUNK = 500
HOLE_TRIES = 5  # fetches that find later events but not the next one, before it is skipped
MAX_GAP_WAIT = 2.0


def board_room(board_id: str) -> str:
    return f"board:{board_id}"


class Outlet(Protocol):
    def frame(self, event: str, data: Any) -> Frame: ...
    def push(self, eio_sid: str, frame: Frame) -> int | None: ...


@dataclass(eq=False)
class Subscriber:
    sid: str
    eio_sid: str
    user_id: str
    floor: int = 0  # its join ack carried the board's events up to this seq


@dataclass(frozen=True, slots=True)
class Accepted:
    seq: int  # the ack's seq: live delivery goes on from seq + 1
    events: list[Envelope]  # delivered live while the join read the store, to add to its ack


@dataclass(eq=False)
class _Delivery:
    """One event on its way to the subscribers it had when it started."""

    envelope: Envelope
    frame: Frame
    recipients: list[Subscriber]
    done: int = 0


Evicted = Callable[[str, list[Subscriber]], None]
Shed = Callable[[Subscriber, int], None]
Interest = Callable[[str], None]  # a board's stream opened, or closed


@dataclass(eq=False)
class _Stream:
    board_id: str
    next_seq: int | None = None  # None until the first subscriber says where the board is
    pending: dict[int, Envelope] = field(default_factory=dict)
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    recent: deque[Envelope] = field(default_factory=lambda: deque(maxlen=RECENT))
    holds: int = 0  # joins in flight
    ended: bool = False  # board:deleted went by, or the board is gone
    drain: asyncio.Handle | None = None
    delivery: _Delivery | None = None  # an event part-way through its recipients
    gap_timer: asyncio.TimerHandle | None = None
    hole_tries: int = 0
    fetching: bool = False


class Router:
    def __init__(self, *, events: EventService, outlet: Outlet, max_queue: int,
                 evicted: Evicted, shed: Shed, gap_wait: float = 0.2,
                 delivered: Callable[[Envelope], None] | None = None,
                 opened: Interest | None = None, closed: Interest | None = None) -> None:
        """`opened` and `closed` bracket the life of each board's stream: the board's events
        are wanted here from the first to the second (the bus subscribes to it)."""
        self._events = events
        self._outlet = outlet
        self._max_queue = max_queue
        self._evicted = evicted
        self._shed = shed
        self._gap_wait = gap_wait
        self._delivered = delivered
        self._opened = opened
        self._closed = closed
        self._streams: dict[str, _Stream] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._streams)

    # --- joins ---------------------------------------------------------------------------
    def hold(self, board_id: str) -> None:
        """A join starts reading the store: collect the board's events from now on."""
        stream = self._streams.get(board_id)
        if stream is None:
            stream = self._streams[board_id] = _Stream(board_id)
            if self._opened is not None:
                self._opened(board_id)
        stream.holds += 1

    def release(self, board_id: str) -> None:
        stream = self._streams.get(board_id)
        if stream is not None:
            stream.holds -= 1
            self._drop_if_unused(stream)

    def subscribe(self, board_id: str, sub: Subscriber, upto: int) -> Accepted | None:
        """Makes `sub` a subscriber whose ack carries the board's events up to `upto`.

        Synchronous, so that the caller's ack is queued before anything is delivered to it.
        None: the stream delivered events after `upto` that it no longer remembers; read the
        store again from `upto`. NotFound: meanwhile the sub's user was removed or the board
        deleted. Call between `hold` and `release`.
        """
        stream = self._streams[board_id]
        if stream.ended:
            raise NotFound("No such board")
        if stream.next_seq is None:
            stream.next_seq = upto + 1
            stream.pending = {s: e for s, e in stream.pending.items() if s > upto}
            self._schedule(stream)
        delivered = stream.next_seq - 1
        missed: list[Envelope] = []
        if delivered > upto:
            missed = [e for e in stream.recent if upto < e["seq"] <= delivered]
            if len(missed) != delivered - upto:
                return None
            if any(_ends_access(e, sub.user_id) for e in missed):
                raise NotFound("No such board")
        sub.floor = max(upto, delivered)
        stream.subscribers[sub.sid] = sub
        return Accepted(seq=sub.floor, events=missed)

    def unsubscribe(self, board_id: str, sid: str) -> None:
        stream = self._streams.get(board_id)
        if stream is not None and stream.subscribers.pop(sid, None) is not None:
            self._drop_if_unused(stream)

    # --- events and signals --------------------------------------------------------------
    def offer(self, envelope: Envelope) -> None:
        """A board event for this instance's sockets, from anywhere, in any order, maybe twice."""
        stream = self._streams.get(envelope["board_id"])
        if stream is None or stream.ended:
            return  # nobody here is subscribed
        seq = envelope["seq"]
        if stream.next_seq is not None and seq < stream.next_seq:
            return  # already delivered
        stream.pending.setdefault(seq, envelope)
        self._schedule(stream)

    def signal(self, board_id: str, event: str, data: Any, skip_sid: Any = None) -> None:
        """Sends an unsequenced event (presence, editing) to the board's joined sockets."""
        stream = self._streams.get(board_id)
        if stream is None or not stream.subscribers:
            return
        frame = self._outlet.frame(event, data)
        for sub in list(stream.subscribers.values()):
            if sub.sid != skip_sid:
                self._send(stream, sub, frame)

    async def sweep(self) -> None:
        """Compares every stream with the store: fills gaps, notices deleted boards."""
        streams = [s for s in self._streams.values() if s.next_seq is not None and not s.ended]
        if not streams:
            return
        latest = await self._events.latest_seqs([s.board_id for s in streams])
        for stream in streams:
            if not self._live(stream):
                continue
            if stream.board_id not in latest:
                # Deleted and purged long ago (the event log outlives a board by an hour):
                # nothing left to deliver; take everyone off the board.
                self._end(stream)
            elif stream.next_seq is not None and latest[stream.board_id] >= stream.next_seq:
                await self._catch_up(stream)

    async def close(self) -> None:
        for stream in list(self._streams.values()):
            self._drop(stream)
        for task in list(self._tasks):
            task.cancel()

    # --- delivery ------------------------------------------------------------------------
    def _schedule(self, stream: _Stream) -> None:
        if stream.drain is None:
            stream.drain = asyncio.get_running_loop().call_soon(self._drain, stream)

    def _drain(self, stream: _Stream) -> None:
        stream.drain = None
        if not self._live(stream) or stream.next_seq is None:
            return
        if stream.delivery is not None and not self._go_on(stream):
            return  # continued in a later step
        while not stream.ended and stream.next_seq in stream.pending:
            self._start(stream, stream.pending.pop(stream.next_seq))
            stream.hole_tries = 0
            if not self._go_on(stream):
                return
        self._watch_gap(stream)

    def _start(self, stream: _Stream, envelope: Envelope) -> None:
        """The event is delivered from now on: a join that subscribes meanwhile has it in
        its ack (it is in `recent`), the sockets subscribed now get it live."""
        seq: int = envelope["seq"]
        stream.next_seq = seq + 1
        stream.recent.append(envelope)
        stream.delivery = _Delivery(
            envelope, self._outlet.frame(envelope["type"], envelope),
            [sub for sub in stream.subscribers.values() if sub.floor < seq])

    def _go_on(self, stream: _Stream) -> bool:
        """Sends the current event to its next CHUNK recipients; True once it is delivered."""
        delivery = stream.delivery
        assert delivery is not None
        end = min(delivery.done + CHUNK, len(delivery.recipients))
        for sub in delivery.recipients[delivery.done:end]:
            if stream.subscribers.get(sub.sid) is sub:  # not gone meanwhile (left, shed)
                self._send(stream, sub, delivery.frame)
        delivery.done = end
        if end < len(delivery.recipients):
            self._schedule(stream)
            return False
        stream.delivery = None
        self._delivered_all(stream, delivery.envelope)
        return True

    def _delivered_all(self, stream: _Stream, envelope: Envelope) -> None:
        seq: int = envelope["seq"]
        if self._delivered is not None:
            self._delivered(envelope)
        if envelope["type"] == "member:removed":
            user_id = envelope["data"]["user_id"]
            self._evict(stream, [s for s in stream.subscribers.values()
                                 if s.user_id == user_id and s.floor < seq])
        elif envelope["type"] == "board:deleted":
            self._end(stream)

    def _send(self, stream: _Stream, sub: Subscriber, frame: Frame) -> None:
        queued = self._outlet.push(sub.eio_sid, frame)
        if queued is not None and queued > self._max_queue:
            stream.subscribers.pop(sub.sid, None)
            self._shed(sub, queued)

    def _evict(self, stream: _Stream, subs: list[Subscriber]) -> None:
        for sub in subs:
            stream.subscribers.pop(sub.sid, None)
        if subs:
            self._evicted(stream.board_id, subs)
        self._drop_if_unused(stream)

    def _end(self, stream: _Stream) -> None:
        stream.ended = True
        stream.pending.clear()
        self._evict(stream, list(stream.subscribers.values()))
        self._drop_if_unused(stream)

    # --- gaps and holes ------------------------------------------------------------------
    def _watch_gap(self, stream: _Stream) -> None:
        if not stream.pending or stream.ended:
            if stream.gap_timer is not None:
                stream.gap_timer.cancel()
                stream.gap_timer = None
            return
        if stream.gap_timer is None:
            wait = min(self._gap_wait * 2 ** stream.hole_tries, MAX_GAP_WAIT)
            stream.gap_timer = asyncio.get_running_loop().call_later(
                wait, self._gap_expired, stream)

    def _gap_expired(self, stream: _Stream) -> None:
        stream.gap_timer = None
        if self._live(stream) and stream.pending:
            task = asyncio.create_task(self._catch_up(stream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _catch_up(self, stream: _Stream) -> None:
        """Fetches from the event log whatever this stream is missing."""
        if stream.fetching or stream.next_seq is None:
            return
        stream.fetching = True
        try:
            events = await self._events.replay(stream.board_id, since=stream.next_seq - 1)
        except Exception:
            logger.exception("catch-up of board {} failed; the sweep will retry", stream.board_id)
            return
        finally:
            stream.fetching = False
        if not self._live(stream) or stream.next_seq is None or stream.ended:
            return
        for event in events:
            if event.seq >= stream.next_seq:
                stream.pending.setdefault(event.seq, event_view(event))
        if events and events[0].seq > stream.next_seq:
            # The log has later events but not the next one: a hole, unless it fills soon.
            stream.hole_tries += 1
            if stream.hole_tries >= HOLE_TRIES:
                self._skip_hole(stream)
        self._drain(stream)

    def _skip_hole(self, stream: _Stream) -> None:
        assert stream.next_seq is not None
        first = min(stream.pending)
        logger.warning("board {}: events {}..{} are not in the event log; skipped, and its "
                       "subscribers told to refetch", stream.board_id, stream.next_seq, first - 1)
        frame = self._outlet.frame("board:resync", {"board_id": stream.board_id, "seq": first - 1})
        for sub in list(stream.subscribers.values()):
            if sub.floor < first - 1:
                self._send(stream, sub, frame)
        stream.next_seq = first
        stream.hole_tries = 0

    # --- lifetime ------------------------------------------------------------------------
    def _live(self, stream: _Stream) -> bool:
        return self._streams.get(stream.board_id) is stream

    def _drop_if_unused(self, stream: _Stream) -> None:
        if not stream.subscribers and stream.holds <= 0:
            self._drop(stream)

    def _drop(self, stream: _Stream) -> None:
        if self._streams.get(stream.board_id) is stream:
            del self._streams[stream.board_id]
            if self._closed is not None:
                self._closed(stream.board_id)
        for handle in (stream.drain, stream.gap_timer):
            if handle is not None:
                handle.cancel()
        stream.drain = stream.gap_timer = None


def _ends_access(envelope: Envelope, user_id: str) -> bool:
    kind: str = envelope["type"]
    return kind == "board:deleted" or (
        kind == "member:removed" and envelope["data"].get("user_id") == user_id)
