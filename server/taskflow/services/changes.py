"""A write and its events, committed together, then announced."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from loguru import logger

from taskflow.domain import BoardsNotice, Event, Notification, NotificationsRead
from taskflow.services.ports import Clock, Publisher, Store, Transaction

T = TypeVar("T")


@dataclass
class Change:
    """The transaction of one request and the events it records."""

    tx: Transaction
    actor_id: str
    clock: Clock
    events: list[Event] = field(default_factory=list)
    notices: list[BoardsNotice] = field(default_factory=list)
    # Stored in this transaction (services/notifications.py), pushed live after commit.
    notifications: list[Notification] = field(default_factory=list)
    reads: list[NotificationsRead] = field(default_factory=list)

    async def record(self, board_id: str, type: str, data: dict[str, Any]) -> Event:
        """Appends one board event in this transaction."""
        event = await self.tx.append_event(
            board_id, type=type, actor_id=self.actor_id, at=self.clock.now(), data=data
        )
        self.events.append(event)
        return event

    def tell(self, user_ids: Iterable[str], board_id: str, change: str) -> None:
        """After commit, tells these users that their list of boards changed."""
        self.notices.append(BoardsNotice(board_id=board_id, change=change,
                                         user_ids=tuple(dict.fromkeys(user_ids))))


@dataclass(frozen=True, slots=True)
class Recorder:
    """Runs changes: commits the store transaction first, then publishes its events."""

    store: Store
    publisher: Publisher
    clock: Clock
    # Rung after a commit that logged events: wakes this instance's webhook dispatcher.
    on_events: Callable[[], None] | None = None

    async def run(self, actor_id: str, work: Callable[[Change], Awaitable[T]]) -> T:
        """Runs `work` in one transaction (maybe more than once, see Store.transact)."""
        attempts: list[Change] = []

        async def attempt(tx: Transaction) -> T:
            change = Change(tx=tx, actor_id=actor_id, clock=self.clock)
            attempts.append(change)
            return await work(change)

        result = await self.store.transact(attempt)
        await self._publish(attempts[-1])
        return result

    async def _publish(self, change: Change) -> None:
        # Durable from here on. A failed publish loses nothing: clients catch up by `seq`,
        # and board lists are read again on reconnect.
        events = change.events
        if events and self.on_events is not None:
            self.on_events()
        if events:
            try:
                await self.publisher.publish(events)
            except Exception:
                logger.exception("publishing {} event(s) failed; clients will catch up", len(events))
        if change.notices:
            try:
                await self.publisher.boards_changed(change.notices)
            except Exception:
                logger.exception("telling users their boards changed failed")
        # Stored already: a lost push shows up on the next read of the list.
        if change.notifications:
            try:
                await self.publisher.notify(change.notifications)
            except Exception:
                logger.exception("pushing {} notification(s) failed", len(change.notifications))
        if change.reads:
            try:
                await self.publisher.notifications_read(change.reads)
            except Exception:
                logger.exception("pushing notification reads failed")
