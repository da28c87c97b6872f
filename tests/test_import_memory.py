"""A large import streams (the server's memory grows far less than the file it imports), and
one cut short by a crash is never seen and is cleaned up."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import cast

import httpx
import pytest

from taskflow.clock import SystemClock
from taskflow.realtime.local import LocalPublisher
from taskflow.services.changes import Recorder
from taskflow.services.imports import ImportService
from taskflow.services.ports import Publisher
from taskflow.storage.sqlite import SqliteStore
from tests.support.processes import TaskflowServer, serving
from tests.support.trello_gen import write_trello_export

SIZE = 24 * 1024 * 1024


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.timeout(600)
def test_a_large_trello_import_keeps_memory_well_below_its_size(tmp_path: Path) -> None:
    export = tmp_path / "big.json"
    cards = write_trello_export(export, SIZE)
    size = export.stat().st_size
    env = {"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test",
           "TASKFLOW_DATA_DIR": str(tmp_path / "data"), "TASKFLOW_MAX_IMPORT_MB": "64"}
    with serving(env, tmp_path / "work") as server, httpx.Client(base_url=server.url,
                                                                  timeout=600) as http:
        assert server.process is not None
        pid = server.process.pid
        r = http.post("/api/v1/auth/register", json={
            "email": f"big-{uuid.uuid4().hex[:8]}@example.com", "password": "correct horse",
            "name": "Big"})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}",
                   "Content-Type": "application/json"}
        # Warm up (code paths, the store's caches), then count peak memory from here on.
        small = Path(__file__).parent / "fixtures" / "trello_board.json"
        assert http.post("/api/v1/boards/import", content=small.read_bytes(),
                         headers=headers).status_code == 201
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM, the peak RSS
        before = _kib(pid, "VmRSS")

        def chunks() -> object:
            with export.open("rb") as file:
                while chunk := file.read(256 * 1024):
                    yield chunk

        r = http.post("/api/v1/boards/import", content=chunks(), headers=headers)
        assert r.status_code == 201, r.text
        peak = _kib(pid, "VmHWM")
        board = r.json()
        stats = http.get(f"/api/v1/boards/{board['id']}/stats", headers=headers).json()
        assert stats["total"] == cards
    growth = (peak - before) * 1024
    print(f"imported {size / 2**20:.1f} MB ({cards} cards): peak RSS grew "
          f"{growth / 2**20:.1f} MB")
    assert growth < size / 2, f"peak RSS grew {growth / 2**20:.1f} MB for a {size / 2**20:.1f} MB file"


def _rows(db: Path, sql: str, *params: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


async def _housekeeping(db: Path) -> int:
    """What app._chores does about imports (those started over 6 hours ago), for all of them."""
    store = await SqliteStore.open(db)
    try:
        clock = SystemClock()
        service = ImportService(store=store, recorder=Recorder(
            store=store, publisher=cast(Publisher, LocalPublisher()), clock=clock),
            clock=clock, max_tasks=1)
        return await service.purge_stale(clock.now() + timedelta(days=1))
    finally:
        await store.close()


@pytest.mark.timeout(600)
def test_a_crash_mid_import_leaves_an_invisible_board_that_housekeeping_deletes(
        tmp_path: Path) -> None:
    export = tmp_path / "big.json"
    write_trello_export(export, 12 * 1024 * 1024)
    data = tmp_path / "data"
    env = {"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test",
           "TASKFLOW_DATA_DIR": str(data), "TASKFLOW_MAX_IMPORT_MB": "64"}
    server = TaskflowServer(env=env, workdir=tmp_path / "work")
    server.start()
    try:
        http = httpx.Client(base_url=server.url, timeout=600)
        r = http.post("/api/v1/auth/register", json={
            "email": f"crash-{uuid.uuid4().hex[:8]}@example.com", "password": "correct horse",
            "name": "Crash"})
        token = r.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        db = next(data.glob("*.db"))
        failed: list[BaseException] = []

        def post() -> None:
            try:
                http.post("/api/v1/boards/import", content=export.read_bytes(), headers=headers)
            except httpx.HTTPError as exc:
                failed.append(exc)

        sender = threading.Thread(target=post)
        sender.start()
        # Kill the server once the staging board holds tasks: mid-import.
        deadline = time.monotonic() + 120
        while _rows(db, "SELECT COUNT(*) FROM tasks t JOIN imports i ON i.board_id = t.board_id"
                    ) < 200:
            assert time.monotonic() < deadline, "the import never started writing"
            time.sleep(0.02)  # polling the file for a condition, with a deadline
        server.kill()
        sender.join(30)
        assert failed, "the import answered although its server was killed"
        http.close()

        staged = _rows(db, "SELECT COUNT(*) FROM imports")
        assert staged == 1
        with sqlite3.connect(db) as conn:
            board_id = conn.execute("SELECT board_id FROM imports").fetchone()[0]
        server.start()
        with httpx.Client(base_url=server.url, timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            boards = client.get("/api/v1/boards").json()["items"]
            assert boards and all(b["id"] != board_id for b in boards)
            for path in (f"/api/v1/boards/{board_id}", f"/api/v1/boards/{board_id}/events",
                         f"/api/v1/boards/{board_id}/export", f"/api/v1/tasks?board_id={board_id}"):
                assert client.get(path).status_code == 404, path
            assert client.get("/api/v1/search?q=launch").json()["items"] == []
            assert client.get("/api/v1/tasks").json()["items"] == []
    finally:
        if server.running:
            server.stop()
    assert asyncio.run(_housekeeping(db)) == 1
    assert _rows(db, "SELECT COUNT(*) FROM imports") == 0
    assert _rows(db, "SELECT COUNT(*) FROM boards WHERE id = ?", board_id) == 0
    assert _rows(db, "SELECT COUNT(*) FROM tasks WHERE board_id = ?", board_id) == 0
    assert _rows(db, "SELECT COUNT(*) FROM boards b WHERE NOT EXISTS"
                     " (SELECT 1 FROM members m WHERE m.board_id = b.id)") == 0
