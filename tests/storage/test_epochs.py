"""Event-log epochs and holes, on real server processes over both stores.

A board's `seq` counts in its log's epoch. A `since` from another epoch (a client that saw
seqs before a restore), a `since` ahead of the board, or a catch-up across a seq that is not
in the log (a standalone MongoDB whose writer died between taking a seq and logging its
event) is never answered with events: the live channel says `resync`, REST says 410."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.support.liveclient import LiveClient
from tests.support.mongo import MongoTarget
from tests.support.processes import TaskflowServer, run_taskflow

PASSWORD = "correct horse battery"


@dataclass
class Deployment:
    """A server's settings plus raw access to its store, to do what a crash or a restore does."""

    env: dict[str, str]
    skip_seq: Callable[[str], None]  # what a writer that died after taking a seq leaves


def _sqlite(tmp_path: Path) -> Deployment:
    db = tmp_path / "data" / "taskflow.db"

    def skip_seq(board_id: str) -> None:
        with sqlite3.connect(db, timeout=10) as conn:
            conn.execute("UPDATE boards SET seq = seq + 1 WHERE id = ?", (board_id,))

    return Deployment(env={"TASKFLOW_DATA_DIR": str(tmp_path / "data")}, skip_seq=skip_seq)


def _mongo(tmp_path: Path, mongo: MongoTarget) -> Deployment:
    name = f"tf_{uuid.uuid4().hex[:16]}"
    env = {"TASKFLOW_DATA_DIR": str(tmp_path / "data"), "MONGODB_URI": mongo.database_uri(name)}
    if mongo.emulator:
        env["TASKFLOW_MONGODB_ALLOW_STANDALONE"] = "1"
    init = run_taskflow(["db", "init"], {**env, "TASKFLOW_LOG_LEVEL": "WARNING"}, cwd=tmp_path)
    assert init.returncode == 0, init.stderr

    def skip_seq(board_id: str) -> None:
        # Exactly the first half of MongoTransaction.append_event on a standalone server.
        with MongoClient(mongo.uri) as client:
            client[name]["boards"].update_one({"_id": board_id}, {"$inc": {"seq": 1}})

    return Deployment(env=env, skip_seq=skip_seq)


@pytest.fixture(params=["sqlite", pytest.param("mongo", marks=pytest.mark.mongo)])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Deployment:
    if request.param == "sqlite":
        return _sqlite(tmp_path)
    return _mongo(tmp_path, request.getfixturevalue("mongo"))


@pytest.fixture
def server(deployment: Deployment, tmp_path: Path) -> Iterator[TaskflowServer]:
    server = TaskflowServer(env=deployment.env, workdir=tmp_path / "run").start()
    try:
        yield server
    finally:
        if server.running:
            server.stop()


def _register(server: TaskflowServer, name: str = "Ada") -> str:
    r = server.post("/api/v1/auth/register", json={
        "email": f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD,
        "name": name})
    assert r.status == 201, r.body
    token: str = r.json()["access_token"]
    return token


def _board_with_tasks(server: TaskflowServer, token: str, tasks: int) -> dict[str, Any]:
    r = server.post("/api/v1/boards", json={"name": "Epochs"}, token=token)
    assert r.status == 201, r.body
    board: dict[str, Any] = r.json()
    _add_tasks(server, token, board["id"], tasks)
    return board


def _add_tasks(server: TaskflowServer, token: str, board_id: str, count: int) -> None:
    for i in range(count):
        r = server.post("/api/v1/tasks", json={"board_id": board_id, "title": f"t{i}"},
                        token=token)
        assert r.status == 201, r.body


def _events(server: TaskflowServer, token: str, board_id: str, since: int,
            epoch: str | None = None) -> Any:
    query = f"since={since}" + (f"&epoch={epoch}" if epoch else "")
    return server.get(f"/api/v1/boards/{board_id}/events?{query}", token=token)


def _gone(response: Any, board: dict[str, Any], *words: str) -> dict[str, Any]:
    assert response.status == 410, response.body
    body: dict[str, Any] = response.json()
    assert body["code"] == "events_gone" and response.headers["content-type"].startswith(
        "application/problem+json")
    assert body["epoch"] == board["epoch"], body
    for word in words:
        assert word in body["detail"], body
    return body


async def _join(server: TaskflowServer, token: str, board_id: str, **payload: Any) -> Any:
    live = await LiveClient(server.url, token).connect()
    try:
        return await live.call("board:join", {"board_id": board_id, **payload})
    finally:
        await live.close()


async def test_a_since_from_another_epoch_or_ahead_of_the_board_is_refused(
    server: TaskflowServer,
) -> None:
    token = _register(server)
    board = _board_with_tasks(server, token, 3)
    board = server.get(f"/api/v1/boards/{board['id']}", token=token).json()
    epoch = board["epoch"]
    assert len(epoch) == 16 and board["seq"] == 3

    ok = _events(server, token, board["id"], 1, epoch)
    assert ok.status == 200, ok.body
    assert [e["seq"] for e in ok.json()["items"]] == [2, 3] and ok.json()["epoch"] == epoch
    _gone(_events(server, token, board["id"], 1, "0123456789abcdef"), board, "epoch")
    _gone(_events(server, token, board["id"], 9, epoch), board, "ahead")
    _gone(_events(server, token, board["id"], 9), board, "ahead")

    ack = await _join(server, token, board["id"], since=1, epoch=epoch)
    assert ack["ok"] and ack["epoch"] == epoch and [e["seq"] for e in ack["events"]] == [2, 3]
    for payload in ({"since": 1, "epoch": "0123456789abcdef"}, {"since": 9},
                    {"since": 9, "epoch": epoch}):
        ack = await _join(server, token, board["id"], **payload)
        assert ack["ok"] and ack["resync"] is True and "events" not in ack, (payload, ack)
        assert ack["seq"] == 3 and ack["epoch"] == epoch


async def test_a_seq_hole_is_never_skipped_silently(
    deployment: Deployment, server: TaskflowServer
) -> None:
    token = _register(server)
    board = _board_with_tasks(server, token, 1)
    watcher = await LiveClient(server.url, token).connect()
    try:
        assert (await watcher.join(board["id"]))["seq"] == 1
        deployment.skip_seq(board["id"])  # seq 2 taken, its event never logged
        _add_tasks(server, token, board["id"], 1)  # seq 3
        # Live: the subscriber is told to refetch, then goes on from 3.
        await watcher.wait_until(lambda: bool(watcher.named("board:resync")), timeout=30)
        assert watcher.named("board:resync") == [{"board_id": board["id"], "seq": 2}]
        await watcher.wait_until(lambda: [e["seq"] for e in watcher.board_events()] == [3])
    finally:
        await watcher.close()

    board = server.get(f"/api/v1/boards/{board['id']}", token=token).json()
    assert board["seq"] == 3
    # Catching up across the hole: refused, naming it; from after it: served.
    _gone(_events(server, token, board["id"], 1, board["epoch"]), board, "Event 2 is missing")
    after = _events(server, token, board["id"], 2, board["epoch"])
    assert [e["seq"] for e in after.json()["items"]] == [3]
    ack = await _join(server, token, board["id"], since=1, epoch=board["epoch"])
    assert ack["ok"] and ack.get("resync") is True and "events" not in ack, ack
    ack = await _join(server, token, board["id"], since=2, epoch=board["epoch"])
    assert [e["seq"] for e in ack["events"]] == [3], ack
    # A hole at the end of the log (the newest seq taken, its event never logged).
    deployment.skip_seq(board["id"])
    _gone(_events(server, token, board["id"], 3, board["epoch"]), board, "Event 4 is missing")
    ack = await _join(server, token, board["id"], since=3, epoch=board["epoch"])
    assert ack.get("resync") is True, ack
    log = server.log()  # said where an operator looks, by the router and by the catch-up
    assert "events 2..2 are not in the event log" in log and "event 2 is missing" in log


def _backup(db: Path, to: Path) -> None:
    """An online backup, as `sqlite3 taskflow.db .backup` takes it."""
    with sqlite3.connect(db, timeout=10) as source, sqlite3.connect(to) as target:
        source.backup(target)


def _restore(backup: Path, db: Path) -> None:
    """Puts the backup in place of the database, its WAL files gone (instances stopped)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, db)


async def test_after_a_restore_db_new_epoch_makes_clients_refetch(tmp_path: Path) -> None:
    deployment = _sqlite(tmp_path)
    db = tmp_path / "data" / "taskflow.db"
    server = TaskflowServer(env=deployment.env, workdir=tmp_path / "run").start()
    try:
        token = _register(server)
        board = _board_with_tasks(server, token, 2)
        other = _board_with_tasks(server, token, 1)
        _backup(db, tmp_path / "backup.db")
        _add_tasks(server, token, board["id"], 3)
        seen = server.get(f"/api/v1/boards/{board['id']}", token=token).json()
        assert seen["seq"] == 5  # a client followed the board up to here
        other_epoch = server.get(f"/api/v1/boards/{other['id']}", token=token).json()["epoch"]
    finally:
        server.stop()

    _restore(tmp_path / "backup.db", db)
    renewed = run_taskflow(["db", "new-epoch", "--board", board["id"]],
                           {**deployment.env, "TASKFLOW_LOG_LEVEL": "INFO"}, cwd=tmp_path)
    assert renewed.returncode == 0, renewed.stderr
    assert "1 board event log(s) are on a new epoch" in renewed.stderr + renewed.stdout

    server.start()
    try:
        # The restored log is at seq 2; four writes later seqs 3..6 are other events than
        # the 3..5 the client saw.
        _add_tasks(server, token, board["id"], 4)
        now = server.get(f"/api/v1/boards/{board['id']}", token=token).json()
        assert now["seq"] == 6 and now["epoch"] != seen["epoch"]
        ack = await _join(server, token, board["id"], since=5, epoch=seen["epoch"])
        assert ack["ok"] and ack.get("resync") is True and ack["epoch"] == now["epoch"], ack
        _gone(_events(server, token, board["id"], 5, seen["epoch"]), now, "epoch")
        # Without its epoch the same `since` can't be told apart (documented): v1 clients.
        blind = await _join(server, token, board["id"], since=5)
        assert [e["seq"] for e in blind["events"]] == [6]
        # Only the named board moved on.
        assert server.get(f"/api/v1/boards/{other['id']}",
                          token=token).json()["epoch"] == other_epoch
    finally:
        server.stop()
    everything = run_taskflow(["db", "new-epoch"], {**deployment.env, "TASKFLOW_LOG_LEVEL": "INFO"},
                              cwd=tmp_path)
    assert everything.returncode == 0, everything.stderr
    # every board: the two made here and the one each account starts with
    assert "3 board event log(s) are on a new epoch" in everything.stderr + everything.stdout


def test_new_epoch_names_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = run_taskflow(["db", "new-epoch"], {"TASKFLOW_DATA_DIR": str(tmp_path / "d"),
                                                "TASKFLOW_ENV": "production"}, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "JWT_SECRET" in result.stderr


async def test_live_joins_racing_new_epoch_never_mix_epochs(server: TaskflowServer,
                                                            deployment: Deployment,
                                                            tmp_path: Path) -> None:
    """Joins with the old epoch while `db new-epoch` runs: each ack is either the old epoch
    with events, or the new one with resync; never the new epoch with events for a `since`
    of the old (0 of N)."""
    token = _register(server)
    board = _board_with_tasks(server, token, 3)
    old = server.get(f"/api/v1/boards/{board['id']}", token=token).json()["epoch"]
    clients = [await LiveClient(server.url, token).connect() for _ in range(12)]
    acks: list[Any] = []

    async def rejoin(client: LiveClient, renew: asyncio.Task[Any]) -> None:
        while True:
            done = renew.done()  # one more join after the renewal ended
            acks.append(await client.call("board:join", {"board_id": board["id"], "since": 1,
                                                         "epoch": old}))
            if done:
                return
            await asyncio.sleep(0.05)  # pacing: 20 joins/s per socket, under its 30/s limit

    try:
        renew = asyncio.create_task(asyncio.to_thread(
            run_taskflow, ["db", "new-epoch"], {**deployment.env, "TASKFLOW_LOG_LEVEL": "WARNING"},
            cwd=tmp_path))
        await asyncio.gather(*(rejoin(client, renew) for client in clients))
        assert (await renew).returncode == 0
    finally:
        for client in clients:
            await client.close()
    bad = [a for a in acks if not a["ok"] or (a["epoch"] == old) == bool(a.get("resync"))]
    assert bad == [], bad[:3]
    assert acks[-1]["epoch"] != old and acks[-1]["resync"] is True
    assert sum(a["epoch"] == old for a in acks) >= len(clients), "the joins began after the renewal"
