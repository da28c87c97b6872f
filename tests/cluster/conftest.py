"""Fixtures for the cluster tests: one real cluster per module and Redis mode (3 instances +
nginx + a private Redis, via loadtests/cluster.sh), users registered once per module, live
clients of both kinds closed after each test, and the cluster's logs printed when a test fails.

Every module runs twice: on a single redis-server ([single]) and on a Redis Cluster of 3
masters + 3 replicas with TASKFLOW_REDIS_MODE=cluster ([cluster]); both are our own, on free
ports. TASKFLOW_TEST_REDIS_MODES (comma-separated) narrows that, e.g. to `cluster`."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cluster import Cluster, RedisServer
from tests.support.live import DEFAULT, WEBSOCKET, Activity, JsHub, LiveClient, PyLiveClient
from tests.support.rediscluster import RedisClusterServer
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


def _redis_modes() -> list[str]:
    wanted = os.environ.get("TASKFLOW_TEST_REDIS_MODES", "single,cluster")
    modes = [m.strip() for m in wanted.split(",") if m.strip()]
    unknown = set(modes) - {"single", "cluster"}
    assert modes and not unknown, f"TASKFLOW_TEST_REDIS_MODES: {wanted!r}"
    return modes


@pytest.fixture(scope="module", params=_redis_modes())
def redis_mode(request: pytest.FixtureRequest) -> str:
    """TASKFLOW_REDIS_MODE of the module's cluster: single or cluster."""
    mode: str = request.param
    return mode


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, cluster_env: dict[str, str],
            redis_mode: str) -> Iterator[Cluster]:
    for tool in ("nginx", "redis-server", "redis-cli", "node"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.fail(f"{tool} is needed for the cluster tests (scripts/bootstrap.sh test)")
    workdir = tmp_path_factory.mktemp(f"cluster-{redis_mode}")
    redis: RedisServer | RedisClusterServer = (
        RedisClusterServer(workdir / "redis") if redis_mode == "cluster"
        else RedisServer(workdir / "redis"))
    redis.start()
    try:
        running = Cluster.up(INSTANCES, workdir / "state", redis=redis,
                             env={"TASKFLOW_REDIS_MODE": redis_mode, **cluster_env})
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
