"""What a real server acknowledged survives SIGKILL: a restart on the same data dir serves it
all back (same versions, same board seq, same event log), and the tokens it issued still work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import TaskflowServer

PASSWORD = "correct horse battery"


@pytest.fixture
def server(tmp_path: Path) -> Any:
    """A server without JWT_SECRET (so it generates and keeps one), stopped at the end."""
    srv = TaskflowServer(env={"TASKFLOW_DATA_DIR": str(tmp_path / "data")}, workdir=tmp_path)
    srv.start()
    yield srv
    if srv.running:
        srv.stop()


def _ok(response: Any, status: int) -> Any:
    assert response.status == status, (response.status, response.body)
    return response.json() if response.body else None


def test_acknowledged_writes_survive_sigkill(server: TaskflowServer, tmp_path: Path) -> None:
    session = _ok(server.post("/api/v1/auth/register",
                              json={"email": "dur@example.com", "password": PASSWORD,
                                    "name": "Dur"}), 201)
    token = session["access_token"]
    board = _ok(server.post("/api/v1/boards", json={"name": "Kept"}, token=token), 201)
    tasks: dict[str, Any] = {}
    for n in range(3):
        task = _ok(server.post("/api/v1/tasks", json={"board_id": board["id"], "title": f"t{n}",
                                                      "tags": ["x"]}, token=token), 201)
        tasks[task["id"]] = task
    first = next(iter(tasks))
    for status in ("in_progress", "done"):
        tasks[first] = _ok(server.patch(f"/api/v1/tasks/{first}", json={"status": status},
                                        token=token), 200)
    comment = _ok(server.post(f"/api/v1/tasks/{first}/comments", json={"body": "kept too"},
                              token=token), 201)
    renamed = _ok(server.patch(f"/api/v1/boards/{board['id']}", json={"name": "Still kept"},
                               token=token), 200)

    server.kill()  # right after the last acknowledged write: no shutdown code runs
    assert server.process is not None and server.process.returncode < 0
    server.start()

    for task_id, acknowledged in tasks.items():
        response = server.get(f"/api/v1/tasks/{task_id}", token=token)
        assert _ok(response, 200) == acknowledged
        assert response.header("ETag") == f'"{acknowledged["version"]}"'
    assert tasks[first]["version"] == 3
    assert tasks[first]["completed_at"] is not None

    listed = _ok(server.get(f"/api/v1/tasks?board_id={board['id']}&limit=200", token=token), 200)
    assert {t["id"]: t for t in listed["items"]} == tasks

    comments = _ok(server.get(f"/api/v1/tasks/{first}/comments", token=token), 200)
    assert comments["items"] == [comment]

    got = _ok(server.get(f"/api/v1/boards/{board['id']}", token=token), 200)
    assert got["name"] == "Still kept"
    # 3 task:created + 2 task:updated + comment:created + board:updated
    assert got["seq"] == renamed["seq"] == 7

    events = _ok(server.get(f"/api/v1/boards/{board['id']}/events?since=0", token=token), 200)
    assert events["latest_seq"] == 7
    assert [e["seq"] for e in events["items"]] == list(range(1, 8))
    assert [e["type"] for e in events["items"]] == [
        "task:created", "task:created", "task:created", "task:updated", "task:updated",
        "comment:created", "board:updated"]
    assert events["items"][4]["data"] == tasks[first]
    assert events["items"][5]["data"] == comment


def test_tokens_issued_before_a_crash_still_work(server: TaskflowServer, tmp_path: Path) -> None:
    session = _ok(server.post("/api/v1/auth/register",
                              json={"email": "tok@example.com", "password": PASSWORD,
                                    "name": "Tok"}), 201)
    secret_file = tmp_path / "data" / ".jwt-secret"
    secret = secret_file.read_text()

    server.kill()
    server.start()

    assert secret_file.read_text() == secret, "the generated secret must be reused, not replaced"
    me = _ok(server.get("/api/v1/users/me", token=session["access_token"]), 200)
    assert me == session["user"]
    rotated = _ok(server.post("/api/v1/auth/refresh",
                              json={"refresh_token": session["refresh_token"]}), 200)
    assert rotated["user"]["id"] == session["user"]["id"]
    assert _ok(server.get("/api/v1/users/me", token=rotated["access_token"]), 200) == me
    # The spent token was spent durably too: after another crash it is still refused.
    server.kill()
    server.start()
    reused = server.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert reused.status == 401
    assert (reused.header("Content-Type") or "").startswith("application/problem+json")
    login = _ok(server.post("/api/v1/auth/login",
                            json={"email": "tok@example.com", "password": PASSWORD}), 200)
    assert login["user"]["id"] == session["user"]["id"]


def test_sigterm_stops_cleanly_and_keeps_data(server: TaskflowServer) -> None:
    session = _ok(server.post("/api/v1/auth/register",
                              json={"email": "term@example.com", "password": PASSWORD,
                                    "name": "Term"}), 201)
    board = _ok(server.post("/api/v1/boards", json={"name": "B"}, token=session["access_token"]),
                201)
    assert server.stop() == 0
    assert "Traceback" not in server.log()
    server.start()
    got = _ok(server.get(f"/api/v1/boards/{board['id']}", token=session["access_token"]), 200)
    assert got == board
