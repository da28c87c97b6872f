"""One sqlite3 connection and the one thread that uses it.

aiosqlite sends each statement to its thread on its own, a round trip of the event loop
each time (12-27 microseconds of CPU, more when the threads don't share a core). Here a
caller sends a whole function instead: a transaction's BEGIN with its first statement, a
board with its members, an event's sequence number with the event itself.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class SqliteThread:
    """Runs functions of a sqlite3 connection on the connection's own thread, in order."""

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._executor = executor

    @classmethod
    async def open(cls, path: Path) -> SqliteThread:
        """Opens the file in autocommit mode (transactions are begun explicitly)."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(
                executor, partial(sqlite3.connect, path, isolation_level=None,
                                  check_same_thread=False))
        except BaseException:
            executor.shutdown(wait=False)
            raise
        conn.row_factory = sqlite3.Row
        return cls(conn, executor)

    async def run(self, function: Callable[[sqlite3.Connection], T]) -> T:
        """`function(connection)`, on the connection's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function,
                                                                 self._conn)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """One statement; its rows."""
        return await self.run(partial(fetch_all, sql=sql, params=params))

    async def close(self) -> None:
        await self.run(sqlite3.Connection.close)
        self._executor.shutdown(wait=True)


def fetch_all(conn: sqlite3.Connection, *, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    return conn.execute(sql, params).fetchall()
