"""A stdout nobody reads must not stop the server: logging never blocks the event loop.

A real `taskflow serve` whose stdout is a pipe this test never reads. Once the pipe is full
(its 64 KiB are checked to be filled, or the test would prove nothing), a server that wrote
its log on the event loop would freeze at its next line: every request and socket with it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import secrets
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from taskflow.observability import BackgroundWriter
from tests.support.liveclient import LiveClient
from tests.support.processes import TASKFLOW, clean_env, free_port, http_request

REQUESTS = 3000  # ~100 bytes of access line each: several times the pipe's capacity


def _pending_bytes(fd: int) -> int:
    """Bytes written into the pipe and not read yet."""
    buffer = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buffer)
    return int.from_bytes(buffer, "little")


@pytest.fixture
def unread_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {"TASKFLOW_DATA_DIR": str(tmp_path / "data"), "JWT_SECRET": secrets.token_urlsafe(48),
           "TASKFLOW_ENV": "test", "TASKFLOW_RATE_LIMIT_API": "100000/minute"}
    with open(tmp_path / "stderr.log", "wb") as stderr:
        process = subprocess.Popen([TASKFLOW, "serve", "--port", str(port)], cwd=tmp_path,
                                   env=clean_env(env, tmp_path), stdout=subprocess.PIPE,
                                   stderr=stderr)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if http_request(port, "GET", "/api/v1/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "did not start"
            time.sleep(0.05)  # polling a starting process's port, not synchronisation
        yield process, port
    finally:
        process.terminate()
        try:
            process.communicate(timeout=15)  # reads (and so unblocks) the pipe on the way out
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


async def test_requests_and_live_delivery_go_on_while_stdout_is_not_read(
        unread_server: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = unread_server
    assert process.stdout is not None
    pipe = process.stdout.fileno()
    capacity = fcntl.fcntl(pipe, 1032)  # F_GETPIPE_SZ
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        r = await http.post("/api/v1/auth/register", json={
            "email": "stall@example.com", "name": "Stall", "password": "correct horse battery"})
        assert r.status_code == 201, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        board = (await http.post("/api/v1/boards", json={"name": "Logs"}, headers=headers)).json()
        live = await LiveClient(url, r.json()["access_token"]).connect()
        try:
            assert (await live.join(board["id"]))["ok"] is True
            # Every request logs an access line; no one reads them.
            started = time.monotonic()
            for start in range(0, REQUESTS, 50):
                batch = [http.get("/api/v1/health") for _ in range(min(50, REQUESTS - start))]
                statuses = {response.status_code for response in await asyncio.gather(*batch)}
                assert statuses == {200}, statuses
            took = time.monotonic() - started
            # Full, as far as a pipe of 4 KiB pages fills with a batch that doesn't fit whole.
            assert _pending_bytes(pipe) >= capacity - 8192, (
                f"the pipe holds {_pending_bytes(pipe)} of {capacity} bytes: not stalled")
            # The pipe is full and stays unread: the server still answers and delivers.
            created = await http.post("/api/v1/tasks", json={"board_id": board["id"],
                                                             "title": "after the stall"},
                                      headers=headers)
            assert created.status_code == 201, created.text
            await live.wait_until(lambda: [e["type"] for e in live.board_events(board["id"])]
                                  == ["task:created"], timeout=5)
        finally:
            await live.close()
    print(f"\n{REQUESTS} requests in {took:.1f} s with stdout stalled "
          f"(pipe of {capacity} bytes full)")

    # Reading again: the writer catches up, and nothing below its bound was lost.
    os.set_blocking(pipe, False)
    seen = b""
    deadline = time.monotonic() + 15
    while seen.count(b"GET /api/v1/health 200") < REQUESTS and time.monotonic() < deadline:
        try:
            seen += os.read(pipe, 1 << 16)
        except BlockingIOError:
            await asyncio.sleep(0.05)  # polling the pipe, not synchronisation
    assert seen.count(b"GET /api/v1/health 200") >= REQUESTS, seen[-2000:]
    assert b"dropped" not in seen


def test_the_writer_drops_and_counts_beyond_its_bound_and_says_so() -> None:
    """BackgroundWriter on a real pipe that is not read: writes never block; past the bound
    they are dropped and counted, and the first write after the reader returns says so."""
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    writer = BackgroundWriter(stream, max_pending=100)
    line = "x" * 1000 + "\n"
    started = time.monotonic()
    for _ in range(500):  # 500 kB into a 64 kB pipe: the writer thread blocks on it
        writer.write(line)
    assert time.monotonic() - started < 1.0, "a write waited for the stream"
    assert writer.dropped > 0
    dropped = writer.dropped
    os.set_blocking(read_end, False)
    seen = b""
    deadline = time.monotonic() + 10
    while b"log line(s) dropped" not in seen and time.monotonic() < deadline:
        try:
            seen += os.read(read_end, 1 << 16)
        except BlockingIOError:
            writer.write("after\n")
            time.sleep(0.01)  # polling the pipe, not synchronisation
    said = re.search(rb"WARNING \[-\] (\d+) log line\(s\) dropped", seen)
    assert said, seen[-500:]
    # What was dropped before the reader returned, and any "after" that met a full queue too.
    assert dropped <= int(said[1]) <= writer.dropped
    stream.close()
    os.close(read_end)
