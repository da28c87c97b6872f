"""`taskflow serve` and `taskflow db init` on MongoDB, as real processes: a standalone server
and missing indexes are refused with one line; after `db init` the server serves."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskflow.config import Settings, SettingsError
from tests.support.mongo import MongoTarget
from tests.support.processes import free_port, run_taskflow, serving


@pytest.fixture
def database(mongo: MongoTarget) -> Iterator[str]:
    name = f"tf_{uuid.uuid4().hex[:16]}"
    yield mongo.database_uri(name)
    if not mongo.emulator:  # the emulator's databases live in its memory and end with it
        from pymongo import MongoClient

        with MongoClient(mongo.uri) as client:
            client.drop_database(name)


def _refused(result: Any, *words: str) -> str:
    """Exit code 2 and one stderr line holding every word; returns the line."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0], lines[0]
    return str(lines[0])


@pytest.mark.mongo
def test_serve_refuses_a_standalone_server(mongo: MongoTarget, database: str, tmp_path: Path) -> None:
    if not mongo.emulator:
        pytest.skip("needs a standalone server; TASKFLOW_TEST_MONGODB_URI is not one")
    result = run_taskflow(["serve", "--port", str(free_port())],
                          {"TASKFLOW_DATA_DIR": str(tmp_path / "data"), "MONGODB_URI": database},
                          cwd=tmp_path)
    _refused(result, "standalone", "replica set", "MONGODB_URI")


@pytest.mark.mongo
def test_serve_refuses_missing_indexes_until_db_init(
    mongo: MongoTarget, database: str, tmp_path: Path
) -> None:
    env = {"TASKFLOW_DATA_DIR": str(tmp_path / "data"), "MONGODB_URI": database,
           "JWT_SECRET": "s" * 48, "TASKFLOW_LOG_LEVEL": "WARNING"}
    if mongo.emulator:
        env["TASKFLOW_MONGODB_ALLOW_STANDALONE"] = "1"
    result = run_taskflow(["serve", "--port", str(free_port())], env, cwd=tmp_path)
    _refused(result, "members.members_by_user", "taskflow db init")

    for _ in range(2):  # idempotent
        done = run_taskflow(["db", "init"], env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr

    with serving(env, tmp_path) as server:
        registered = server.post("/api/v1/auth/register", json={
            "email": "Mongo@Example.com", "password": "correct horse battery", "name": "Mo"})
        assert registered.status == 201, registered.body
        token = registered.json()["access_token"]
        again = server.post("/api/v1/auth/register", json={
            "email": "mongo@example.COM", "password": "correct horse battery", "name": "Mo"})
        assert again.status == 409, again.body
        board = server.post("/api/v1/boards", json={"name": "On Mongo"}, token=token)
        assert board.status == 201, board.body
        task = server.post("/api/v1/tasks", json={"board_id": board.json()["id"], "title": "t"},
                           token=token)
        assert task.status == 201, task.body
        assert task.json()["created_at"].endswith("Z")
        ready = server.get("/api/v1/ready")
        assert ready.status == 200, ready.body
        assert ready.json()["checks"]["store"] == "ok"


def test_allow_standalone_setting() -> None:
    assert Settings.from_environ({}).mongodb_allow_standalone is False
    assert Settings.from_environ({"TASKFLOW_MONGODB_ALLOW_STANDALONE": "1"}).mongodb_allow_standalone
    with pytest.raises(SettingsError, match="TASKFLOW_MONGODB_ALLOW_STANDALONE"):
        Settings.from_environ({"TASKFLOW_MONGODB_ALLOW_STANDALONE": "perhaps"})
    with pytest.raises(SettingsError, match="TASKFLOW_MONGODB_ALLOW_STANDALONE"):
        Settings.from_environ({"TASKFLOW_ENV": "production", "JWT_SECRET": "s" * 48,
                               "TASKFLOW_MONGODB_ALLOW_STANDALONE": "1"})
