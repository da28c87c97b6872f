"""A python-socketio client that records what the live channel sends it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import socketio

from taskflow.domain import EVENT_TYPES


class LiveClient:
    """Connects with a token, records every event, and waits on conditions with timeouts."""

    def __init__(self, url: str, token: str, *, transports: list[str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.url, self.token = url, token
        self.transports = transports or ["websocket"]
        self.headers = headers or {}
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, Any]] = []
        self.connect_error: Any = None
        self.disconnected = asyncio.Event()
        self._changed = asyncio.Condition()
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("disconnect", self._on_disconnect)

    async def _record(self, event: str, data: Any = None) -> None:
        async with self._changed:
            self.received.append((event, data))
            self._changed.notify_all()

    async def _on_connect_error(self, data: Any) -> None:
        self.connect_error = data

    async def _on_disconnect(self, reason: Any = None) -> None:
        self.disconnected.set()
        async with self._changed:
            self._changed.notify_all()

    async def connect(self) -> LiveClient:
        try:
            await self.sio.connect(self.url, auth={"token": self.token}, headers=self.headers,
                                   transports=self.transports, wait_timeout=10)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        http = getattr(self.sio.eio, "http", None)  # the client leaves it open on failures
        if http is not None and not http.closed:
            await http.close()

    async def call(self, event: str, data: Any, timeout: float = 10) -> Any:
        return await self.sio.call(event, data, timeout=timeout)

    async def join(self, board_id: str, since: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"board_id": board_id}
        if since is not None:
            payload["since"] = since
        ack: dict[str, Any] = await self.call("board:join", payload)
        return ack

    def board_events(self, board_id: str | None = None) -> list[dict[str, Any]]:
        return [data for event, data in self.received
                if event in EVENT_TYPES and (board_id is None or data["board_id"] == board_id)]

    def named(self, name: str) -> list[Any]:
        return [data for event, data in self.received if event == name]

    async def holds_within(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Whether `condition()` comes to hold within `timeout` seconds (for counting)."""
        try:
            await self.wait_until(condition, timeout)
        except AssertionError:
            return False
        return True

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Returns once `condition()` holds; fails the test after `timeout` seconds."""
        async def waiter() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        try:
            await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            raise AssertionError(f"condition not met in {timeout}s; received {self.received[-5:]}") from None
