"""Fixtures for the cluster tests: one real cluster per module (3 instances + nginx + a private
Redis, via loadtests/cluster.sh), users registered once per module, live clients of both kinds
closed after each test, and the cluster's logs printed when a test fails."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cluster import Cluster, RedisServer
from tests.support.live import DEFAULT, WEBSOCKET, Activity, JsHub, LiveClient, PyLiveClient
from tests.support.restclient import Person, Rest, register

INSTANCES = 3
# (kind, transports): python-socketio and socket.io-client, each with its default transport
# (long-polling, then the websocket upgrade) and websocket-only.
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("py", DEFAULT), ("py", WEBSOCKET), ("js", DEFAULT), ("js", WEBSOCKET))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def cluster_env() -> dict[str, str]:
    """Extra environment for the module's cluster; a module overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, cluster_env: dict[str, str]) -> Iterator[Cluster]:
    for tool in ("nginx", "redis-server", "node"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.fail(f"{tool} is needed for the cluster tests (scripts/bootstrap.sh test)")
    workdir = tmp_path_factory.mktemp("cluster")
    redis = RedisServer(workdir / "redis").start()
    try:
        running = Cluster.up(INSTANCES, workdir / "state", redis=redis, env=cluster_env)
        try:
            yield running
        finally:
            running.down()
    finally:
        redis.stop()


@pytest.fixture(autouse=True)
def _cluster_logs_on_failure(request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[None]:
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(f"\n==== cluster logs ({cluster.state_dir})\n{cluster.logs(40)}")


@pytest.fixture(scope="module")
def people(cluster: Cluster) -> dict[str, Person]:
    """Three users per module (bcrypt makes each cost ~0.3 s of CPU): Ada, Bob and Cy."""
    return {name: register(cluster, name) for name in ("Ada", "Bob", "Cy")}


@pytest.fixture
async def rest(cluster: Cluster) -> AsyncIterator[Rest]:
    async with httpx.AsyncClient(timeout=15) as http:
        yield Rest(cluster, http)


@pytest.fixture
def activity() -> Activity:
    return Activity()


class LiveClients:
    """Makes connected live clients of either kind; everything is closed after the test."""

    def __init__(self, cluster: Cluster, activity: Activity) -> None:
        self.cluster = cluster
        self.activity = activity
        self.opened: list[LiveClient] = []
        self.hub: JsHub | None = None

    async def make(self, kind: str, transports: tuple[str, ...], name: str) -> LiveClient:
        client: LiveClient
        if kind == "py":
            client = PyLiveClient(name, self.activity, transports)
        else:
            if self.hub is None:
                self.hub = await JsHub(self.activity).start()
            client = self.hub.client(name, transports)
        self.opened.append(client)
        return client

    async def connect(self, kind: str, transports: tuple[str, ...], who: Person, *,
                      on: int | None = None, token: str | None = None,
                      headers: dict[str, str] | None = None) -> LiveClient:
        """A client of `who` connected through nginx (with `who`'s token unless `token`); with
        `on=K`, retried until nginx has placed it on instance K (handshakes go round robin)."""
        for _ in range(4 * INSTANCES):
            client = await self.make(kind, transports, who.name)
            await client.connect(self.cluster.url, token or who.token, headers=headers)
            if on is None or client.instance == f"i{on}":
                return client
            await client.close()
            self.opened.remove(client)
        raise AssertionError(f"nginx never placed a {kind} client on i{on}")

    async def close(self) -> None:
        for client in self.opened:
            await client.close()
        if self.hub is not None:
            await self.hub.close()


@pytest.fixture
async def live(cluster: Cluster, activity: Activity) -> AsyncIterator[LiveClients]:
    clients = LiveClients(cluster, activity)
    try:
        yield clients
    finally:
        await clients.close()
