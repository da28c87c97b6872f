"""An in-process publisher: hands committed events to listeners in this process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from taskflow.domain import BoardsNotice, Event, Notification, NotificationsRead

Listener = Callable[[Sequence[Event]], Awaitable[None]]


class LocalPublisher:
    """For a single process with no live channel attached (tools, tests of the REST core)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def publish(self, events: Sequence[Event]) -> None:
        for listener in self._listeners:
            await listener(events)

    async def end_logins(self, user_id: str, login_ids: Sequence[str]) -> None:
        return None

    async def boards_changed(self, notices: Sequence[BoardsNotice]) -> None:
        return None

    async def notify(self, notifications: Sequence[Notification]) -> None:
        return None

    async def notifications_read(self, reads: Sequence[NotificationsRead]) -> None:
        return None
