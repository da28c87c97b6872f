"""Upgrading an existing SQLite file: `serve` refuses old data, `db migrate` upgrades it.

The file is made at schema version 4 (the last one before columns per board), with real
processes on both sides; the test says "4 to the latest" so that later migrations keep it.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from pathlib import Path

import bcrypt

from taskflow.storage.sqlite_schema import MIGRATIONS
from tests.support.processes import TaskflowServer, run_taskflow

PASSWORD = "correct horse battery"
STAMP = "2026-03-01T12:00:00.000000Z"
BEFORE_COLUMNS = 4


def _version_4_file(path: Path) -> dict[str, str]:
    """A database as TaskFlow at schema version 4 left it: a user, a board, five tasks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = {name: secrets.token_hex(12) for name in ("user", "board", "t1", "t2", "t3", "t4",
                                                    "t5")}
    with sqlite3.connect(path) as conn:
        for script in MIGRATIONS[:BEFORE_COLUMNS]:
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {BEFORE_COLUMNS}")
        digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        conn.execute("INSERT INTO users (id, email, email_norm, name, password_hash,"
                     " credentials_version, created_at) VALUES (?, ?, ?, ?, ?, 1, ?)",
                     (ids["user"], "ada@example.com", "ada@example.com", "Ada", digest, STAMP))
        conn.execute("INSERT INTO boards (id, name, description, owner_id, seq, created_at,"
                     " updated_at) VALUES (?, 'Old board', '', ?, 5, ?, ?)",
                     (ids["board"], ids["user"], STAMP, STAMP))
        conn.execute("INSERT INTO members (board_id, user_id, role, added_at)"
                     " VALUES (?, ?, 'owner', ?)", (ids["board"], ids["user"], STAMP))
        for key, status, position in (("t1", "todo", 2048.0), ("t2", "todo", 1024.0),
                                      ("t3", "in_progress", 1024.0), ("t4", "done", 1024.0),
                                      ("t5", "done", 512.0)):
            conn.execute(
                "INSERT INTO tasks (id, board_id, title, description, status, priority,"
                " priority_rank, due_date, assignee_id, tags, position, created_by, created_at,"
                " updated_at, completed_at, version) VALUES (?, ?, ?, '', ?, 'medium', 1, NULL,"
                " NULL, '[]', ?, ?, ?, ?, ?, 1)",
                (ids[key], ids["board"], key, status, position, ids["user"], STAMP, STAMP,
                 STAMP if status == "done" else None))
    return ids


def _user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_serve_refuses_old_data_and_db_migrate_upgrades_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = data / "taskflow.db"
    ids = _version_4_file(db)
    env = {"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test",
           "TASKFLOW_DATA_DIR": str(data)}

    refused = run_taskflow(["serve", "--port", "0"], env, cwd=tmp_path)
    assert refused.returncode != 0
    line = [text for text in refused.stderr.splitlines() if "cannot start" in text]
    assert line, refused.stderr
    assert f"schema version {BEFORE_COLUMNS}" in line[0] and "taskflow db migrate" in line[0]
    assert f"needs {len(MIGRATIONS)}" in line[0]
    assert _user_version(db) == BEFORE_COLUMNS  # refusing touched nothing

    for _ in range(2):  # idempotent: the second run finds nothing to do
        migrated = run_taskflow(["db", "migrate"], env, cwd=tmp_path)
        assert migrated.returncode == 0, migrated.stderr
        assert _user_version(db) == len(MIGRATIONS)

    server = TaskflowServer(env=env, workdir=tmp_path / "run").start()
    try:
        token = server.post("/api/v1/auth/login", json={"email": "ada@example.com",
                                                        "password": PASSWORD}).json()
        auth = token["access_token"]
        board = server.get(f"/api/v1/boards/{ids['board']}", token=auth).json()
        columns = board["columns"]
        assert [(c["name"], c["category"], c["wip_limit"]) for c in columns] == [
            ("To do", "todo", None), ("In progress", "in_progress", None), ("Done", "done", None)]
        assert all(len(c["id"]) == 24 for c in columns)
        assert len(board["epoch"]) == 16 and int(board["epoch"], 16) >= 0  # a log of its own
        by_category = {c["category"]: c["id"] for c in columns}
        tasks = server.get(f"/api/v1/tasks?board_id={ids['board']}&sort=position&limit=50",
                           token=auth).json()["items"]
        assert {t["title"]: (t["column_id"], t["position"]) for t in tasks} == {
            "t1": (by_category["todo"], 2048.0), "t2": (by_category["todo"], 1024.0),
            "t3": (by_category["in_progress"], 1024.0), "t4": (by_category["done"], 1024.0),
            "t5": (by_category["done"], 512.0)}
        # the migrated data works: a task created by status lands at the end of its column
        created = server.post("/api/v1/tasks", token=auth, json={
            "board_id": ids["board"], "title": "new", "status": "todo"}).json()
        assert created["column_id"] == by_category["todo"] and created["position"] == 3072.0
        stats = server.get(f"/api/v1/boards/{ids['board']}/stats", token=auth).json()
        assert stats["by_column"] == {by_category["todo"]: 3, by_category["in_progress"]: 1,
                                      by_category["done"]: 2}
    finally:
        server.stop()
    with sqlite3.connect(db) as conn:
        stored = json.loads(conn.execute("SELECT columns_json FROM boards").fetchone()[0])
    assert [c["id"] for c in stored] == [c["id"] for c in columns]


def test_a_new_file_is_created_at_the_latest_version(tmp_path: Path) -> None:
    env = {"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test",
           "TASKFLOW_DATA_DIR": str(tmp_path / "data")}
    server = TaskflowServer(env=env, workdir=tmp_path / "run").start()
    try:
        assert server.get("/api/v1/ready").status == 200
    finally:
        server.stop()
    assert _user_version(tmp_path / "data" / "taskflow.db") == len(MIGRATIONS)
