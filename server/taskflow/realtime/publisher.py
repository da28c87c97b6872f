"""The services' Publisher on the live channel: committed events go to every instance."""

from __future__ import annotations

from collections.abc import Sequence

from taskflow.domain import BoardsNotice, Event, Notification, NotificationsRead
from taskflow.realtime.channel import LiveChannel, user_room
from taskflow.realtime.router import board_room
from taskflow.services.views import event_view, notification_view


class LivePublisher:
    def __init__(self, channel: LiveChannel) -> None:
        self._channel = channel

    async def publish(self, events: Sequence[Event]) -> None:
        manager = self._channel.manager
        for event in events:
            await manager.emit(event.type, event_view(event), namespace="/",
                               room=board_room(event.board_id))
            self._channel.metrics.live_events.inc()

    async def end_logins(self, user_id: str, login_ids: Sequence[str]) -> None:
        """On every instance, the user's connections of those logins are told why, then
        closed."""
        await self._channel.manager.emit("auth:revoked", {"login_ids": list(login_ids)},
                                         namespace="/", room=user_room(user_id))

    async def boards_changed(self, notices: Sequence[BoardsNotice]) -> None:
        """`boards:changed` to each user's connections, whatever board they are on."""
        for notice in notices:
            payload = {"board_id": notice.board_id, "change": notice.change}
            for user_id in notice.user_ids:
                await self._channel.manager.emit("boards:changed", payload, namespace="/",
                                                 room=user_room(user_id))

    async def notify(self, notifications: Sequence[Notification]) -> None:
        """`notification:created` to each recipient's connections, on every instance."""
        for n in notifications:
            await self._channel.manager.emit("notification:created",
                                             {"notification": notification_view(n)},
                                             namespace="/", room=user_room(n.user_id))

    async def notifications_read(self, reads: Sequence[NotificationsRead]) -> None:
        """`notification:read` `{ids}` or `{all: true}` to the user's connections."""
        for read in reads:
            payload = {"all": True} if read.ids is None else {"ids": list(read.ids)}
            await self._channel.manager.emit("notification:read", payload, namespace="/",
                                             room=user_room(read.user_id))
