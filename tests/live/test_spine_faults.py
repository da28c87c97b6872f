"""The live channel's spine under faults, against one real server process.

- A store that fails while a socket connects: the connect is refused with `unavailable`,
  promptly, and leaves no half-open engine.io session behind.
- A permanent hole in a board's event log: the joined sockets are told to refetch
  (`board:resync`) instead of the board going silent.
The re-join racing a member's removal is in tests/cluster/test_spine_cluster.py: the
removal must travel through Redis for the race to be reachable.

Server behaviour assumed beyond CONTRACT.md: the `taskflow_live_sockets` gauge on /metrics
(engine.io sessions open on this instance) and the `board:resync` `{board_id, seq}` event.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from tests.live.conftest import LIVE_ENV
from tests.support.liveclient import LiveClient
from tests.support.processes import METRICS_AUTH, TaskflowServer, serving

SPINE_ENV = {
    **LIVE_ENV,
    # Limits stay on, with room for the many actors of the race tests below.
    "TASKFLOW_RATE_LIMIT_API": "50000/minute",
    "TASKFLOW_LIVE_CONNECT_RATE": "3000/minute",
    "TASKFLOW_LIVE_EVENT_RATE": "200/second",
}
BUSY_TIMEOUT_MS = 1000
PROMPT = 3.5  # seconds a refused connect may take while the store fails (busy timeout + slack)
RESYNC_WITHIN = 15.0

# SQLite's WAL index (<db>-shm): the byte locks of the unix VFS (WAL_WRITE_LOCK and
# WAL_RECOVER_LOCK) and the last byte of the first of the header's two copies.
SHM_WRITE_LOCK, SHM_RECOVER_LOCK, SHM_HEADER_BYTE = 120, 122, 47


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskflowServer]:
    workdir: Path = tmp_path_factory.mktemp("spine")
    with serving({**SPINE_ENV, "TASKFLOW_DATA_DIR": str(workdir / "data")}, workdir) as running:
        yield running


def _db(server: TaskflowServer) -> Path:
    return server.workdir / "data" / "taskflow.db"


@contextmanager
def wal_recovery_stall(db: Path) -> Iterator[None]:
    """Every read of `db` by the server waits out its busy timeout and fails with SQLITE_BUSY
    ("database is locked"), as while another process rebuilds a crashed writer's WAL index:
    this process holds the index's write and recovery locks and makes its header unreadable
    (its two copies differ). Restores the byte, then releases the locks, on the way out."""
    fd = os.open(f"{db}-shm", os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX, 1, SHM_WRITE_LOCK)  # waits out a running write, if any
        fcntl.lockf(fd, fcntl.LOCK_EX, 1, SHM_RECOVER_LOCK)
        original = os.pread(fd, 1, SHM_HEADER_BYTE)
        os.pwrite(fd, bytes([original[0] ^ 0xFF]), SHM_HEADER_BYTE)
        try:
            yield
        finally:
            os.pwrite(fd, original, SHM_HEADER_BYTE)
    finally:
        os.close(fd)  # releases this process's locks on the file


async def live_sockets(http: httpx.AsyncClient) -> float | None:
    """The `taskflow_live_sockets` gauge (summed over its samples); None when not exported."""
    text = (await http.get("/metrics", headers=METRICS_AUTH)).text
    samples = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("taskflow_live_sockets") and not line.startswith("#")]
    return sum(samples) if samples else None


async def _attempt(url: str, token: str, wait: float) -> tuple[float, Any, bool]:
    """One connect: (seconds until it ended, the connect_error data, connected?)."""
    client = LiveClient(url, token)
    started = time.monotonic()
    try:
        await client.sio.connect(url, auth={"token": token}, transports=client.transports,
                                 wait_timeout=wait)
        connected = True
    except socketio.exceptions.ConnectionError:
        connected = False
    took = time.monotonic() - started
    await client.close()
    return took, client.connect_error, connected


async def test_connect_while_the_store_fails_is_refused_unavailable_and_leaks_nothing(
        tmp_path: Path) -> None:
    env = {**SPINE_ENV, "TASKFLOW_DATA_DIR": str(tmp_path / "data"),
           "TASKFLOW_SQLITE_BUSY_TIMEOUT_MS": str(BUSY_TIMEOUT_MS)}
    with serving(env, tmp_path, name="storefault") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
            r = await http.post("/api/v1/auth/register", json={
                "email": f"sf-{secrets.token_hex(4)}@example.com", "password": "live password",
                "name": "Sf"})
            assert r.status_code == 201, r.text
            token = r.json()["access_token"]
            baseline = await live_sockets(http)
            outcomes: list[tuple[float, Any, bool]] = []
            with wal_recovery_stall(_db(server)):
                # The fault is real: the server's own reads fail.
                assert (await http.get("/api/v1/boards", headers={
                    "Authorization": f"Bearer {token}"})).status_code == 503

                async def lane() -> None:
                    for _ in range(5):
                        outcomes.append(await _attempt(server.url, token, PROMPT))

                # Two at a time: the server has one reader connection, so a refusal may wait
                # for one other read's busy timeout.
                await asyncio.gather(lane(), lane())
            bad = [(round(took, 2), error, connected) for took, error, connected in outcomes
                   if connected or took > PROMPT or error != {"message": "unavailable"}]
            assert bad == [], (f"{len(bad)} of {len(outcomes)} connects during the store fault "
                               f"did not end within {PROMPT}s with connect_error `unavailable` "
                               f"(seconds, connect_error, connected): {bad}")

            assert baseline is not None, "no taskflow_live_sockets gauge on /metrics"
            deadline = time.monotonic() + 10
            while (now := await live_sockets(http)) is None or now > baseline:
                assert time.monotonic() < deadline, \
                    f"taskflow_live_sockets stays at {now}, baseline {baseline}: sessions leaked"
                await asyncio.sleep(0.1)  # poll interval of the gauge condition above
            after = LiveClient(server.url, token)
            try:
                await after.connect()
                assert after.sio.connected
            finally:
                await after.close()


def _inject_hole(db: Path, board: dict[str, Any], actor_id: str) -> int:
    """Appends an event two above the board's seq, skipping one, as one committed transaction
    from this process; returns the seq skipped."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=10)
    try:
        conn.execute("BEGIN IMMEDIATE")
        (latest,) = conn.execute("SELECT seq FROM boards WHERE id = ?", (board["id"],)).fetchone()
        data = {k: v for k, v in board.items() if k != "role"}
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        conn.execute("INSERT INTO events (board_id, seq, type, actor_id, at, data)"
                     " VALUES (?, ?, 'board:updated', ?, ?, ?)",
                     (board["id"], latest + 2, actor_id, at, json.dumps(data)))
        conn.execute("UPDATE boards SET seq = ? WHERE id = ?", (latest + 2, board["id"]))
        conn.execute("COMMIT")
        return int(latest) + 1
    finally:
        conn.close()


async def test_a_permanent_hole_in_the_event_log_resyncs_and_delivery_goes_on(
        server: TaskflowServer, person: Any, clients: Any) -> None:
    ada, bob = await person("Ada"), await person("Bob")
    board = await ada.board("Holed")
    await ada.add(board, bob)
    await ada.task(board, "before")
    sockets = [await clients(ada.token), await clients(bob.token)]
    for live in sockets:
        assert (await live.join(board["id"]))["ok"] is True

    full = (await ada.http.get(f"/api/v1/boards/{board['id']}", headers=ada.headers)).json()
    skipped = await asyncio.to_thread(_inject_hole, _db(server), full, ada.id)

    def resynced(live: LiveClient) -> Any:
        return lambda: any(d.get("board_id") == board["id"] for d in live.named("board:resync"))

    told = await asyncio.gather(*(s.holds_within(resynced(s), RESYNC_WITHIN) for s in sockets))
    after = await ada.task(board, "after the hole")
    write_seq = skipped + 2
    delivered = await asyncio.gather(*(s.holds_within(lambda s=s: write_seq in [
        e["seq"] for e in s.board_events(board["id"])], 5) for s in sockets))
    report = [(told[i], delivered[i], [e["seq"] for e in s.board_events(board["id"])])
              for i, s in enumerate(sockets)]
    assert all(told), (f"board:resync not received within {RESYNC_WITHIN}s after seq {skipped} "
                       f"went missing (resync?, next write seq {write_seq} delivered?, seqs "
                       f"received) per socket: {report}")
    for live in sockets:
        resync = next(d for d in live.named("board:resync") if d.get("board_id") == board["id"])
        assert set(resync) >= {"board_id", "seq"} and skipped <= resync["seq"] <= skipped + 1, resync
    assert all(delivered), (f"task:created seq {write_seq} (task {after['id']}) not delivered "
                            f"after the resync: {report}")
