"""Reading a board's event log: what a client missed, or word that it must refetch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from loguru import logger

from taskflow.domain import Board, Event
from taskflow.errors import EventsGone
from taskflow.ids import new_epoch
from taskflow.services.access import Actor, board_for
from taskflow.services.ports import Reader, Store, Transaction

# A join that missed more than this gets `resync` instead: refetching is cheaper.
MAX_JOIN_EVENTS = 500


@dataclass(frozen=True, slots=True)
class Catchup:
    events: list[Event]
    latest_seq: int
    epoch: str
    resync: bool = False


async def events_since(reader: Reader, board: Board, since: int, limit: int) -> list[Event]:
    """Events after `since`, at most `limit`, consecutive from since + 1; EventsGone when
    they can't be: no longer kept, missing from the log (a hole), or `since` is ahead of
    the board (its log was restored or re-created)."""
    latest_seq = board.seq
    if since > latest_seq:
        raise EventsGone(f"`since` {since} is ahead of this board's log (latest {latest_seq}): "
                         "it was restored or re-created; refetch the board",
                         latest_seq=latest_seq, epoch=board.epoch)
    if since == latest_seq:
        return []
    oldest = await reader.select_oldest_event_seq(board.id)
    if oldest is None or since < oldest - 1:
        raise EventsGone(f"Events after {since} are no longer kept; refetch the board",
                         latest_seq=latest_seq, epoch=board.epoch)
    events = await reader.select_events(board.id, since=since, limit=limit)
    if (missing := _first_missing(events, since, limit, latest_seq)) is not None:
        # Only a store that commits an event apart from its seq can leave one (a standalone
        # MongoDB whose writer died between the two); the live router skips it the same way.
        logger.warning("board {}: event {} is missing from the event log; clients catching "
                       "up across it are told to refetch", board.id, missing)
        raise EventsGone(f"Event {missing} is missing from this board's log; refetch the board",
                         latest_seq=latest_seq, epoch=board.epoch)
    return events


def _first_missing(events: list[Event], since: int, limit: int, latest_seq: int) -> int | None:
    """The first seq after `since` that `events` should hold and doesn't, or None."""
    for offset, event in enumerate(events):
        if event.seq != since + 1 + offset:
            return since + 1 + offset
    end = since + len(events)
    if len(events) < limit and end < latest_seq:
        return end + 1
    return None


def _redact(value: Any, current: set[str]) -> Any:
    if isinstance(value, dict):
        if "email" in value and value.get("user_id") not in current:
            value = {**value, "email": ""}
        return {key: _redact(item, current) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, current) for item in value]
    return value


def _without_departed_emails(events: list[Event], board: Board) -> list[Event]:
    """Logged events show no email of someone who is no longer a member of the board
    (member events, and the member lists inside board:updated)."""
    current = {member.user_id for member in board.members}
    return [replace(event, data=_redact(event.data, current)) for event in events]


async def _renew_epoch(tx: Transaction, *, board_id: str) -> None:
    await tx.set_board_epoch(board_id, new_epoch())


async def _prune(tx: Transaction, *, board_id: str, before: datetime) -> int:
    return await tx.prune_events(board_id, before=before)


class EventService:
    def __init__(self, *, store: Store) -> None:
        self._store = store

    async def since(self, actor: Actor, board_id: str, *, since: int, limit: int,
                    epoch: str | None = None) -> Catchup:
        """Events after `since` for a REST client; EventsGone (410) when they can't be had,
        `epoch` (when given) naming another log included."""
        board = await board_for(self._store, board_id, actor)
        if epoch is not None and epoch != board.epoch:
            raise EventsGone(f"`since` counts in epoch {epoch}, this board's log is in epoch "
                             f"{board.epoch}; refetch the board",
                             latest_seq=board.seq, epoch=board.epoch)
        events = await events_since(self._store, board, since, limit)
        return Catchup(events=_without_departed_emails(events, board), latest_seq=board.seq,
                       epoch=board.epoch)

    async def join(self, actor: Actor, board_id: str, since: int | None,
                   epoch: str | None = None) -> Catchup:
        """What a live subscriber needs on joining: the seq now and the events it missed, or
        `resync` when they can't be had (too many, no longer kept, a hole, another epoch)."""
        board = await board_for(self._store, board_id, actor)
        fresh = Catchup(events=[], latest_seq=board.seq, epoch=board.epoch)
        if since is None:
            return fresh
        if epoch is not None and epoch != board.epoch:
            return replace(fresh, resync=True)  # its seqs counted other events
        if since == board.seq:
            return fresh
        if since > board.seq or board.seq - since > MAX_JOIN_EVENTS:
            return replace(fresh, resync=True)
        try:
            events = await events_since(self._store, board, since, MAX_JOIN_EVENTS)
        except EventsGone:
            return replace(fresh, resync=True)
        # Exactly since < seq <= board.seq: later events (committed after the board was
        # read) belong to live delivery, which goes on from board.seq + 1.
        events = [event for event in events if event.seq <= board.seq]
        return replace(fresh, events=_without_departed_emails(events, board))

    async def replay(self, board_id: str, *, since: int, limit: int = 1000) -> list[Event]:
        """Events after `since` for delivery to sockets already authorized (no actor)."""
        return await self._store.select_events(board_id, since=since, limit=limit)

    async def new_epochs(self, board_ids: Sequence[str] | None = None) -> int:
        """Starts the logs of these boards (every board when None) on a new epoch, so that
        a `since` from before gets resync or 410: the step after restoring a backup, whose
        seqs may repeat numbers that clients already saw for other events. Returns how many."""
        if board_ids is not None:
            for board_id in board_ids:
                await self._store.transact(partial(_renew_epoch, board_id=board_id))
            return len(board_ids)
        renewed, after = 0, None
        while page := await self._store.select_board_ids(after=after, limit=500):
            for board_id in page:
                await self._store.transact(partial(_renew_epoch, board_id=board_id))
            renewed, after = renewed + len(page), page[-1]
        return renewed

    async def prune(self, before: datetime) -> int:
        """Drops events logged before `before` from every live board's log, the newest
        events_kept of each aside; one short transaction per board. Returns how many went."""
        pruned, after = 0, None
        while board_ids := await self._store.select_board_ids(after=after, limit=500):
            for board_id in board_ids:
                pruned += await self._store.transact(partial(_prune, board_id=board_id,
                                                             before=before))
            after = board_ids[-1]
        return pruned

    async def latest_seqs(self, board_ids: Sequence[str]) -> dict[str, int]:
        """Latest seq per board; boards that no longer exist are absent."""
        return await self._store.select_board_seqs(board_ids)
