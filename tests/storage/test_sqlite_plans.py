"""Placing a task reads its column through one index, never the whole column sorted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from taskflow.storage.sqlite import SqliteStore
from taskflow.storage.sqlite_queries import TASK_EVENTS_SQL

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


@pytest.mark.parametrize("sql", TASK_EVENTS_SQL)
async def test_a_tasks_activity_walks_the_task_index(tmp_path: Path, sql: str) -> None:
    store = await SqliteStore.open(tmp_path / "t.db")
    await store.close()
    with sqlite3.connect(tmp_path / "t.db") as conn:
        plan = " ".join(row[3] for row in conn.execute(
            "EXPLAIN QUERY PLAN " + sql, ("b", "t", 5, 10)[:sql.count("?")]))
    assert "INDEX events_by_task" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


async def test_the_migration_names_the_task_of_events_already_logged(tmp_path: Path) -> None:
    """A database from before checklists: its events get their task_id, its tasks an empty
    checklist."""
    from taskflow.storage.sqlite_schema import MIGRATIONS

    path, at = tmp_path / "old.db", "2026-01-01T00:00:00.000000Z"
    # The version just before checklists (later migrations may follow it).
    before = next(n for n, script in enumerate(MIGRATIONS) if "ADD COLUMN checklist" in script)
    with sqlite3.connect(path) as conn:
        for script in MIGRATIONS[:before]:
            conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {before}")
        conn.execute("INSERT INTO users VALUES ('u', 'a@x', 'a@x', 'A', 'h', 1, ?)", (at,))
        conn.execute("INSERT INTO boards VALUES ('b', 'B', '', 'u', 4, ?, ?)", (at, at))
        conn.execute("INSERT INTO tasks (id, board_id, title, description, status, priority,"
                     " priority_rank, tags, position, created_by, created_at, updated_at, version)"
                     " VALUES ('t1', 'b', 'T', '', 'todo', 'low', 0, '[]', 1, 'u', ?, ?, 1)", (at, at))
        for seq, type, data in [(1, "task:created", '{"id": "t1"}'),
                                (2, "comment:created", '{"id": "c", "task_id": "t1"}'),
                                (3, "board:updated", '{"id": "b"}'),
                                (4, "attachment:deleted", '{"id": "a", "task_id": "t2"}')]:
            conn.execute("INSERT INTO events VALUES ('b', ?, ?, 'u', ?, ?)", (seq, type, at, data))
    store = await SqliteStore.open(path, migrate=True)  # `taskflow db migrate`
    try:
        task = await store.select_task("t1")
        assert task is not None and task.checklist == ()
        assert [e.seq for e in await store.select_task_events("b", "t1", before=None,
                                                              limit=10)] == [2, 1]
        assert [e.seq for e in await store.select_task_events("b", "t2", before=None,
                                                              limit=10)] == [4]
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT task_id FROM events WHERE seq = 3").fetchone() == (None,)
