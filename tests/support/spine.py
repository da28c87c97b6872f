"""Shared pieces of the live-channel "spine" regression tests (tests/live/test_spine_*.py).

The module server runs with rate limits ON, with room for what these tests do on purpose:
hundreds of sockets from one address, writers going as fast as they can, and clients that
emit faster than a person would. Writers are REST clients that create and update tasks on a
board until told to stop; tests wait on their progress (`Writers.reached`), never on time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import METRICS_AUTH, TaskflowServer, serving

# Rate limits stay on: only their ceilings are raised to what the tests need.
SPINE_LIMITS = {
    "TASKFLOW_LIVE_EVENT_RATE": "1000/second",
    "TASKFLOW_LIVE_CONNECT_RATE": "5000/minute",
    "TASKFLOW_RATE_LIMIT_API": "100000/minute",
    "TASKFLOW_RATE_LIMIT_AUTH_ADDRESS": "300/minute;3000/hour",
}


@contextlib.contextmanager
def spine_server(base_env: dict[str, str], workdir: Path) -> Iterator[TaskflowServer]:
    """The module's server: the live tests' environment with the ceilings above."""
    env = {**base_env, **SPINE_LIMITS, "TASKFLOW_DATA_DIR": str(workdir / "data")}
    with serving(env, workdir) as running:
        yield running


async def gauges(http: httpx.AsyncClient, base: str = "") -> dict[str, float]:
    """Every unlabelled sample of GET /metrics (of the server at `base`, else the client's
    base URL), by name."""
    r = await http.get(f"{base}/metrics", headers=METRICS_AUTH)
    assert r.status_code == 200, r.status_code
    values: dict[str, float] = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#") or "{" in line:
            continue
        name, _, value = line.partition(" ")
        values[name] = float(value.split(" ")[0])
    return values


async def settle(http: httpx.AsyncClient, names: dict[str, float], *,
                 timeout: float) -> dict[str, float | None]:
    """Polls /metrics until each gauge in `names` is at or below its value there; returns
    the last values read (None for a gauge the server does not export: not waited for). A
    poll loop with a deadline: the condition is on server state that sends no message."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        now = await gauges(http)
        last = {name: now.get(name) for name in names}
        done = all(value is None or value <= names[name] for name, value in last.items())
        if done or loop.time() >= deadline:
            return last
        await asyncio.sleep(0.05)  # poll interval of the condition loop above


async def delete(person: Any, path: str) -> int:
    """DELETE /api/v1`path` as `person`; returns the status."""
    r = await person.http.delete(f"/api/v1{path}", headers=person.headers)
    status: int = r.status_code
    return status


async def board_seq(person: Any, board_id: str) -> int:
    r = await person.http.get(f"/api/v1/boards/{board_id}", headers=person.headers)
    assert r.status_code == 200, r.text
    seq: int = r.json()["seq"]
    return seq


class Writers:
    """Editors creating and updating tasks on one board as fast as they can, until stopped."""

    def __init__(self, people: list[Any], board_id: str, *, updates_per_task: int = 2) -> None:
        self.people = people
        self.board_id = board_id
        self.updates_per_task = updates_per_task
        self.writes = 0
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._progress = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []

    async def _wrote(self, r: httpx.Response) -> dict[str, Any]:
        if r.status_code not in (200, 201):
            self.failures.append(f"{r.request.method} {r.status_code} {r.text[:200]}")
            self._stop.set()
        async with self._progress:
            self.writes += 1
            self._progress.notify_all()
        body: dict[str, Any] = r.json()
        return body

    async def _write(self, person: Any, n: int) -> None:
        while not self._stop.is_set():
            task = await self._wrote(await person.http.post(
                "/api/v1/tasks", headers=person.headers,
                json={"board_id": self.board_id, "title": f"w{n}-{self.writes}"}))
            for i in range(self.updates_per_task):
                if self._stop.is_set() or "id" not in task:
                    break
                await self._wrote(await person.http.patch(
                    f"/api/v1/tasks/{task['id']}", headers=person.headers,
                    json={"title": f"w{n}-{self.writes}-{i}"}))

    def start(self) -> Writers:
        self._tasks = [asyncio.create_task(self._write(p, n)) for n, p in enumerate(self.people)]
        return self

    async def reached(self, writes: int, timeout: float = 30.0) -> None:
        """Returns once at least `writes` writes have been answered (or the writers stopped)."""
        async with self._progress:
            await asyncio.wait_for(
                self._progress.wait_for(lambda: self.writes >= writes or self._stop.is_set()),
                timeout)

    async def stop(self) -> None:
        """Stops the writers and waits for their last requests to be answered."""
        self._stop.set()
        async with self._progress:
            self._progress.notify_all()
        await asyncio.gather(*self._tasks)
        assert not self.failures, f"writers failed: {self.failures[:3]}"
