"""REST through a cluster for the cluster tests: via nginx or straight to one instance (httpx)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.cluster import Cluster
from tests.support.live import Activity
from tests.support.processes import http_request

PASSWORD = "cluster password 1"
_names = itertools.count(1)


@dataclass
class Person:
    """A registered user and the session it got at registration."""

    id: str
    email: str
    name: str
    token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(cluster: Cluster, name: str) -> Person:
    """Registers through nginx (blocking: module fixtures have no event loop)."""
    email = f"{name.lower()}-{next(_names)}-{secrets.token_hex(3)}@example.com"
    r = http_request(cluster.port, "POST", "/api/v1/auth/register",
                     json={"email": email, "password": PASSWORD, "name": name})
    assert r.status == 201, (r.status, r.body)
    body = r.json()
    return Person(id=body["user"]["id"], email=email, name=name, token=body["access_token"],
                  refresh_token=body["refresh_token"])


class Rest:
    """The REST API of a cluster: `instance=None` goes through nginx, `instance=K` to instance K."""

    def __init__(self, cluster: Cluster, http: httpx.AsyncClient) -> None:
        self.cluster = cluster
        self.http = http

    def url(self, path: str, instance: int | None) -> str:
        base = self.cluster.url if instance is None else self.cluster.instance_url(instance)
        return f"{base}/api/v1{path}"

    async def call(self, method: str, path: str, who: Person | None = None, *,
                   instance: int | None = None, json: Any = None, token: str | None = None,
                   ) -> httpx.Response:
        headers = {}
        if token or who is not None:
            headers["Authorization"] = f"Bearer {token or (who.token if who else '')}"
        return await self.http.request(method, self.url(path, instance), json=json, headers=headers)

    async def ok(self, method: str, path: str, who: Person | None = None, *,
                 instance: int | None = None, json: Any = None, status: int = 200) -> Any:
        """The call, asserting its status; returns the JSON body (None for 204)."""
        r = await self.call(method, path, who, instance=instance, json=json)
        assert r.status_code == status, (method, path, instance, r.status_code, r.text)
        return r.json() if r.content else None

    async def new_board(self, owner: Person, members: dict[str, Person] | None = None,
                        name: str = "Cluster board") -> dict[str, Any]:
        """A board owned by `owner`; `members` maps role -> person (roles may repeat via suffix)."""
        board: dict[str, Any] = await self.ok("POST", "/boards", owner, json={"name": name},
                                              status=201)
        for role, person in (members or {}).items():
            await self.ok("POST", f"/boards/{board['id']}/members", owner,
                          json={"email": person.email, "role": role.split("#")[0]}, status=201)
        return board

    async def task(self, who: Person, board_id: str, *, instance: int | None = None,
                   **fields: Any) -> dict[str, Any]:
        body = {"board_id": board_id, "title": "task", **fields}
        task: dict[str, Any] = await self.ok("POST", "/tasks", who, instance=instance, json=body,
                                             status=201)
        return task

    async def events(self, who: Person, board_id: str) -> tuple[list[dict[str, Any]], int]:
        """The board's whole event log (paged) and its latest_seq."""
        items: list[dict[str, Any]] = []
        since = 0
        while True:
            page = await self.ok("GET", f"/boards/{board_id}/events?since={since}&limit=1000", who)
            items.extend(page["items"])
            if not page["items"] or page["items"][-1]["seq"] >= page["latest_seq"]:
                return items, page["latest_seq"]
            since = page["items"][-1]["seq"]


@dataclass
class TaskWriter:
    """Keeps creating tasks on a board, cycling over `routes` (None: nginx, K: instance K),
    until stopped. Only acknowledged (201) writes count; the others are kept as failures."""

    rest: Rest
    who: Person
    board_id: str
    activity: Activity
    routes: tuple[int | None, ...] = (None,)
    pace: float = 0.1
    acked: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> TaskWriter:
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        for n in itertools.count():
            if self._stop.is_set():
                return
            route = self.routes[n % len(self.routes)]
            try:
                r = await self.rest.call("POST", "/tasks", self.who, instance=route,
                                         json={"board_id": self.board_id, "title": f"w{n}"})
            except httpx.HTTPError as exc:
                self.failures.append(f"#{n} via {route}: {exc!r}")
            else:
                if r.status_code == 201:
                    self.acked.append(r.json())
                else:
                    self.failures.append(f"#{n} via {route}: {r.status_code} {r.text[:200]}")
            self.activity.poke()
            # Pacing (a steady stream, not a flood on 2 shared cores), not synchronisation.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.pace)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def wait_acked(self, count: int, timeout: float, what: str = "") -> None:
        """Waits until `count` writes in all have been acknowledged."""
        await self.activity.until(
            lambda: len(self.acked) >= count, timeout=timeout,
            what=lambda: f"{count} acknowledged writes {what} (have {len(self.acked)}, "
                         f"failures {self.failures[-3:]})")
