"""A busy server for race tests: clients searching a big board keep its reader connection queued.

The big board's tasks are inserted straight into the server's SQLite file (through the API,
thousands of fsynced writes would take minutes). The searches cost the server SQLite time in
its reader thread, not event-loop time, so they lengthen every read a handler awaits (and the
windows between a handler's reads) without slowing anything else down.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx

FILLER_TASKS = 2000


def fill_board(db: Path, board_id: str, owner_id: str, count: int = FILLER_TASKS) -> None:
    """`count` tasks with 10,000-character descriptions on the board, in one transaction."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows = [(secrets.token_hex(12), board_id, f"filler {i}", "x" * 10_000, "todo", "medium", 1,
             None, None, "[]", float(i), owner_id, now, now, None, 1) for i in range(count)]
    conn = sqlite3.connect(db, isolation_level=None, timeout=10)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO tasks (id, board_id, title, description, status, priority,"
                         " priority_rank, due_date, assignee_id, tags, position, created_by,"
                         " created_at, updated_at, completed_at, version)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def searching(http: httpx.AsyncClient, api_url: str, token: str, board_id: str,
                    searchers: int = 4) -> AsyncIterator[None]:
    """`searchers` clients searching the board (`api_url`: .../api/v1) until the block ends."""
    stop = asyncio.Event()
    headers = {"Authorization": f"Bearer {token}"}

    async def search() -> None:
        while not stop.is_set():
            r = await http.get(f"{api_url}/tasks?board_id={board_id}&q=nowhere&limit=1",
                               headers=headers)
            assert r.status_code == 200, r.text

    running = [asyncio.create_task(search()) for _ in range(searchers)]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*running)
