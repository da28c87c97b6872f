"""The store stalls or fails under a real server process; what each client sees.

Two faults, injected from outside the process, with nothing of the server mocked:
- a stall: this test holds SQLite's write lock (BEGIN EXCLUSIVE on <data dir>/taskflow.db,
  as a backup tool or a stuck process would), so the server's writes wait out their busy
  timeout;
- a full disk: the server process gets a file-size limit (RLIMIT_FSIZE, set with prlimit)
  below what its write-ahead log needs, so every write the store or the blob store makes
  fails the way it fails on a full filesystem.
In both, a write answers 503 problem+json with Retry-After, changes nothing (no half-written
change, no event, no seq used), reads go on, and writes succeed again once the fault ends,
without a restart, with the board's seq carrying on without a gap.

The cluster's faults (instances killed, Redis restarted) are in tests/cluster.
"""

from __future__ import annotations

import asyncio
import resource
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.security.target import Api, Person, assert_problem, register
from tests.support.liveclient import LiveClient
from tests.support.processes import TaskflowServer, serving

# REQUESTED SERVER CHANGE S1 (see SECURITY.md, Known gaps): the server's SQLite busy timeout
# is a fixed 10 s today; TASKFLOW_SQLITE_BUSY_TIMEOUT_MS makes it a setting. Until the server
# reads it, the stall tests wait the full 10 s and their latency checks fail.
BUSY_TIMEOUT_MS = 1500
BUSY = BUSY_TIMEOUT_MS / 1000


@contextmanager
def _faults_server(workdir: Path) -> Iterator[TaskflowServer]:
    env = {"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test",
           "TASKFLOW_DATA_DIR": str(workdir / "data"),
           "TASKFLOW_SQLITE_BUSY_TIMEOUT_MS": str(BUSY_TIMEOUT_MS)}
    with serving(env, workdir, name="faults") as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskflowServer]:
    with _faults_server(tmp_path_factory.mktemp("faults")) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: TaskflowServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def people(http: httpx.Client) -> tuple[Person, Person]:
    return register(http, "Owner"), register(http, "Helper")


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[TaskflowServer, Team]]:
    """A server of its own, for a test whose fault may leave the process unusable."""
    with _faults_server(tmp_path) as running, httpx.Client(base_url=running.url, timeout=30) as client:
        yield running, Team(Api(client), register(client, "Owner"), register(client, "Helper"))


class Team:
    """A board with a helper who has a task assigned: removing the helper is a write of
    several rows and events (member:removed, then task:updated)."""

    def __init__(self, api: Api, owner: Person, helper: Person) -> None:
        self.api, self.owner, self.helper = api, owner, helper
        self.board = api.board(owner, "Faults", helper=(helper, "editor"))
        self.task = api.task(owner, self.board["id"], assignee_id=helper.id)

    def state(self) -> Any:
        b = self.board["id"]
        return (self.api.ok("GET", f"/boards/{b}", self.owner),
                self.api.ok("GET", f"/tasks?board_id={b}", self.owner)["items"],
                self.api.ok("GET", f"/boards/{b}/events", self.owner))

    def remove_helper(self, **kwargs: Any) -> httpx.Response:
        return self.api.call("DELETE", f"/boards/{self.board['id']}/members/{self.helper.id}",
                             self.owner, **kwargs)


@pytest.fixture
def team(http: httpx.Client, people: tuple[Person, Person]) -> Team:
    return Team(Api(http), *people)


@contextmanager
def write_lock(server: TaskflowServer) -> Iterator[None]:
    """Holds SQLite's write lock on the server's database from this process."""
    db = sqlite3.connect(server.workdir / "data" / "taskflow.db", isolation_level=None, timeout=10)
    try:
        db.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


@contextmanager
def full_disk(server: TaskflowServer) -> Iterator[None]:
    """Caps the size of any file the server writes at its write-ahead log's current size."""
    assert server.process is not None
    wal = server.workdir / "data" / "taskflow.db-wal"
    log = server.log_path
    assert log is not None and log.stat().st_size < wal.stat().st_size // 2, \
        "the server's log would hit the cap before the database does"
    previous = resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE,
                                (wal.stat().st_size, resource.RLIM_INFINITY))
    try:
        yield
    finally:
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, previous)


def _assert_unavailable(response: httpx.Response) -> None:
    assert_problem(response, 503, "service_unavailable")
    retry_after = response.headers.get("retry-after", "")
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60, retry_after


async def _recovers_without_a_gap(server: TaskflowServer, team: Team, seq: int) -> None:
    """The refused write, retried after the fault, succeeds with the next seqs; a live
    subscriber sees exactly those events, nothing from the refused attempt."""
    viewer = LiveClient(server.url, team.owner.token)
    await viewer.connect()
    try:
        assert (await viewer.join(team.board["id"], since=seq))["events"] == []
        assert team.remove_helper().status_code == 204
        await viewer.wait_until(lambda: len(viewer.board_events()) >= 2)
        events = viewer.board_events()
        assert [(e["seq"], e["type"]) for e in events] == [(seq + 1, "member:removed"),
                                                           (seq + 2, "task:updated")]
    finally:
        await viewer.close()


async def test_a_write_stalled_past_the_busy_timeout_is_503(server: TaskflowServer, team: Team) -> None:
    before = team.state()
    with write_lock(server):
        started = time.monotonic()
        read = team.api.call("GET", f"/boards/{team.board['id']}", team.owner)
        assert read.status_code == 200 and time.monotonic() - started < BUSY, "reads don't wait"
        started = time.monotonic()
        response = team.remove_helper()
        waited = time.monotonic() - started
    _assert_unavailable(response)
    assert team.state() == before
    await _recovers_without_a_gap(server, team, before[0]["seq"])
    assert waited < BUSY + 3, f"answered after {waited:.1f}s: TASKFLOW_SQLITE_BUSY_TIMEOUT_MS unread"
    assert waited >= BUSY * 0.8, f"answered after {waited:.1f}s: it did not wait for the lock"


async def test_concurrent_stalled_writes_each_answer_within_the_busy_timeout(
        fresh: tuple[TaskflowServer, Team]) -> None:
    server, team = fresh
    limit = BUSY + 1.2
    async with httpx.AsyncClient(base_url=server.url, timeout=limit) as client:
        async def write(i: int) -> httpx.Response:
            return await client.post("/api/v1/tasks", headers=team.owner.headers,
                                     json={"board_id": team.board["id"], "title": f"queued {i}"})

        with write_lock(server):
            responses = await asyncio.gather(*(write(i) for i in range(3)))
    for response in responses:
        _assert_unavailable(response)


async def test_a_write_abandoned_by_its_client_leaves_the_store_usable(
        fresh: tuple[TaskflowServer, Team]) -> None:
    server, team = fresh
    async with httpx.AsyncClient(base_url=server.url, timeout=BUSY / 3) as impatient:
        with write_lock(server), pytest.raises(httpx.ReadTimeout):
            await impatient.post("/api/v1/tasks", headers=team.owner.headers,
                                 json={"board_id": team.board["id"], "title": "abandoned"})
    # The abandoned write may still land once the lock is free; after that, writes work...
    retry = team.api.call("POST", "/tasks", team.owner, json={"board_id": team.board["id"],
                                                              "title": "next"})
    assert retry.status_code == 201, retry.text
    # ...and the database is not left locked for the other processes sharing it.
    db = sqlite3.connect(server.workdir / "data" / "taskflow.db", isolation_level=None, timeout=BUSY)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    finally:
        db.close()


async def test_a_full_disk_is_503_and_writes_resume(server: TaskflowServer, team: Team) -> None:
    before = team.state()
    with full_disk(server):
        _assert_unavailable(team.remove_helper())
        _assert_unavailable(team.api.call("POST", "/tasks", team.owner,
                                          json={"board_id": team.board["id"], "title": "no room"}))
        assert team.api.call("GET", f"/tasks/{team.task['id']}", team.owner).status_code == 200
    assert team.state() == before
    await _recovers_without_a_gap(server, team, before[0]["seq"])


def _partial_files(server: TaskflowServer) -> list[Path]:
    return list((server.workdir / "data").rglob("*.partial"))


def test_a_full_disk_refuses_uploads_cleanly(server: TaskflowServer, team: Team) -> None:
    path = f"/tasks/{team.task['id']}/attachments"
    with full_disk(server):
        size = (server.workdir / "data" / "taskflow.db-wal").stat().st_size + 1024
        response = team.api.call("POST", path, team.owner, files={"file": ("big.bin", b"x" * size)})
    assert team.api.ok("GET", path, team.owner)["items"] == []
    assert _partial_files(server) == []
    _assert_unavailable(response)
