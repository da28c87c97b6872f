"""Placing a task reads its column through one index, never the whole column sorted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from taskflow.storage.sqlite import SqliteStore

PLACING = [
    "SELECT * FROM tasks WHERE board_id = ? AND column_id = ? AND (position, id) < (?, ?)"
    " ORDER BY position DESC, id DESC LIMIT 1",
    "SELECT * FROM tasks WHERE board_id = ? AND column_id = ? AND (position, id) > (?, ?)"
    " ORDER BY position, id LIMIT 1",
    "SELECT MAX(position) AS end_position FROM tasks WHERE board_id = ? AND column_id = ?",
]


@pytest.mark.parametrize("sql", PLACING)
async def test_placing_a_task_walks_the_column_index(tmp_path: Path, sql: str) -> None:
    store = await SqliteStore.open(tmp_path / "t.db")
    await store.close()
    with sqlite3.connect(tmp_path / "t.db") as conn:
        plan = " ".join(row[3] for row in conn.execute(
            "EXPLAIN QUERY PLAN " + sql, ("b", "c", 1.0, "x")[:sql.count("?")]))
    assert "USING" in plan and "INDEX tasks_by_column" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
