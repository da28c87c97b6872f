"""One sqlite3 connection and the one thread that uses it.

aiosqlite sends each statement to its thread on its own, a round trip of the event loop
each time (12-27 microseconds of CPU, more when the threads don't share a core). Here a
caller sends a whole function instead: a transaction's BEGIN with its first statement, a
board with its members, an event's sequence number with the event itself. The trip itself is
a queue put and one `call_soon_threadsafe` back (concurrent.futures' executor costs twice that:
a work item, a lock, a second future chained to the loop's).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]


class SqliteThread:
    """Runs functions of a sqlite3 connection on the connection's own thread, in order."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="sqlite", daemon=True)
        self._closed = False

    @classmethod
    async def open(cls, path: Path) -> SqliteThread:
        """Opens the file in autocommit mode (transactions are begun explicitly)."""
        thread = cls(path)
        thread._thread.start()
        try:
            await thread.run(lambda conn: None)  # the connection is open (or opening failed)
        except BaseException:
            thread._jobs.put(None)
            raise
        return thread

    def _serve(self) -> None:
        conn: sqlite3.Connection | None = None
        error: BaseException | None = None
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
        except BaseException as exc:  # reported to every caller below
            error = exc
        while (job := self._jobs.get()) is not None:
            function, future, loop = job
            try:
                if error is not None:
                    raise error
                assert conn is not None
                result = function(conn)
            except BaseException as exc:
                loop.call_soon_threadsafe(_fail, future, exc)
            else:
                loop.call_soon_threadsafe(_succeed, future, result)
        if conn is not None:
            conn.close()

    async def run(self, function: Callable[[sqlite3.Connection], T]) -> T:
        """`function(connection)`, on the connection's thread."""
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((function, future, loop))
        return await future

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """One statement; its rows."""
        return await self.run(partial(fetch_all, sql=sql, params=params))

    async def close(self) -> None:
        """Closes the connection once the functions sent before have run."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def fetch_all(conn: sqlite3.Connection, *, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    return conn.execute(sql, params).fetchall()
