"""Reading a board's event log: what a client missed, or word that it must refetch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from taskflow.domain import Board, Event
from taskflow.errors import EventsGone
from taskflow.services.access import Actor, board_for
from taskflow.services.ports import Reader, Store, Transaction

# A join that missed more than this gets `resync` instead: refetching is cheaper.
MAX_JOIN_EVENTS = 500


@dataclass(frozen=True, slots=True)
class Catchup:
    events: list[Event]
    latest_seq: int
    resync: bool = False


async def events_since(reader: Reader, board_id: str, since: int, limit: int,
                       latest_seq: int) -> list[Event]:
    """Events after `since`; EventsGone when some of them are no longer kept."""
    if since >= latest_seq:
        return []
    oldest = await reader.select_oldest_event_seq(board_id)
    if oldest is None or since < oldest - 1:
        raise EventsGone(f"Events after {since} are no longer kept; refetch the board",
                         latest_seq=latest_seq)
    return await reader.select_events(board_id, since=since, limit=limit)


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


async def _prune(tx: Transaction, *, board_id: str, before: datetime) -> int:
    return await tx.prune_events(board_id, before=before)


class EventService:
    def __init__(self, *, store: Store) -> None:
        self._store = store

    async def since(self, actor: Actor, board_id: str, *, since: int, limit: int) -> Catchup:
        board = await board_for(self._store, board_id, actor)
        events = await events_since(self._store, board_id, since, limit, board.seq)
        return Catchup(events=_without_departed_emails(events, board), latest_seq=board.seq)

    async def join(self, actor: Actor, board_id: str, since: int | None) -> Catchup:
        """What a live subscriber needs on joining: the seq now and the events it missed."""
        board = await board_for(self._store, board_id, actor)
        if since is None or since >= board.seq:
            return Catchup(events=[], latest_seq=board.seq)
        if board.seq - since > MAX_JOIN_EVENTS:
            return Catchup(events=[], latest_seq=board.seq, resync=True)
        try:
            events = await events_since(self._store, board_id, since, MAX_JOIN_EVENTS, board.seq)
        except EventsGone:
            return Catchup(events=[], latest_seq=board.seq, resync=True)
        # Exactly since < seq <= board.seq: later events (committed after the board was
        # read) belong to live delivery, which goes on from board.seq + 1.
        events = [event for event in events if event.seq <= board.seq]
        return Catchup(events=_without_departed_emails(events, board), latest_seq=board.seq)

    async def replay(self, board_id: str, *, since: int, limit: int = 1000) -> list[Event]:
        """Events after `since` for delivery to sockets already authorized (no actor)."""
        return await self._store.select_events(board_id, since=since, limit=limit)

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
