"""A write and its events, committed together, then announced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from taskflow.domain import Event
from taskflow.services.ports import Clock, Publisher, Store, Transaction


@dataclass
class Change:
    """The transaction of one request and the events it records."""

    tx: Transaction
    actor_id: str
    clock: Clock
    events: list[Event] = field(default_factory=list)
    # Announced after commit without being stored (board:deleted outlives its event log).
    transient: list[Event] = field(default_factory=list)

    async def record(self, board_id: str, type: str, data: dict[str, Any]) -> Event:
        """Appends one board event in this transaction."""
        event = await self.tx.append_event(
            board_id, type=type, actor_id=self.actor_id, at=self.clock.now(), data=data
        )
        self.events.append(event)
        return event


@dataclass(frozen=True, slots=True)
class Recorder:
    """Opens changes: commits the store transaction first, then publishes its events."""

    store: Store
    publisher: Publisher
    clock: Clock

    @asynccontextmanager
    async def change(self, actor_id: str) -> AsyncIterator[Change]:
        async with self.store.transaction() as tx:
            change = Change(tx=tx, actor_id=actor_id, clock=self.clock)
            yield change
        # Durable from here on. A failed publish loses nothing: clients catch up by `seq`.
        events = change.events + change.transient
        if events:
            try:
                await self.publisher.publish(events)
            except Exception:
                logger.exception("publishing {} event(s) failed; clients will catch up", len(events))
