"""TASKFLOW_REDIS_MODE=cluster against a real Redis Cluster (3 masters + 3 replicas of our own,
on free ports: never the machine's Redis): rate limits counted across instances, presence, the
cache, readiness, and all of them through a planned failover and a master's crash."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
from redis.asyncio import RedisCluster

from taskflow.app import create_app
from taskflow.cache import RedisCache
from taskflow.config import RateLimits, Settings
from taskflow.ratelimit import KEY_PREFIX
from taskflow.realtime.presence import RedisPresence
from tests.support.api import Account, problem, register
from tests.support.processes import free_port
from tests.support.rediscluster import RedisClusterServer

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol

PROXY = ("127.0.0.1", 40000)
BOGUS_REFRESH = {"refresh_token": "not-a-token"}  # 401 without bcrypt: a cheap auth request


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServer]:
    cluster = RedisClusterServer(tmp_path_factory.mktemp("rediscluster")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def client(redis_cluster: RedisClusterServer) -> AsyncIterator[RedisCluster]:
    """A cluster client of the test's own, to look at what the app wrote."""
    redis = RedisCluster.from_url(redis_cluster.url)
    yield redis
    await redis.aclose()


def cluster_settings(make_settings: Callable[..., Settings], redis_cluster: RedisClusterServer,
                     **limits: str) -> Settings:
    base = {"login_per_account": "100/minute", "auth_per_address": "100/minute",
            "api_per_user": "100/minute"}
    return make_settings(redis_url=redis_cluster.url, redis_mode="cluster",
                         rate_limits=RateLimits(enabled=True, **{**base, **limits}))


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[TestClientProtocol]:
    app = create_app(settings)
    async with app.test_app():
        yield app.test_client()


def doc_ip() -> str:
    return f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::{secrets.token_hex(2)}"


async def me(app: TestClientProtocol, account: Account) -> int:
    return int((await app.get("/api/v1/users/me", headers=account.headers)).status_code)


async def refresh(app: TestClientProtocol, address: str) -> int:
    response = await app.post("/api/v1/auth/refresh", json=BOGUS_REFRESH,
                              headers={"X-Forwarded-For": address}, scope_base={"client": PROXY})
    return int(response.status_code)


async def keys_of(redis: RedisCluster, pattern: str) -> list[bytes]:
    found: list[bytes] = await redis.keys(pattern, target_nodes=RedisCluster.PRIMARIES)
    return found


async def until(condition: Callable[[], Any], timeout: float, what: str,
                every: float = 0.05) -> None:
    """Waits until `condition()` (awaited when it returns an awaitable) is truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)  # poll interval of the condition above


# --- rate limits ----------------------------------------------------------------------------
async def test_api_limit_counts_across_instances_on_a_cluster(
        make_settings: Callable[..., Settings], redis_cluster: RedisClusterServer,
        client: RedisCluster) -> None:
    settings = cluster_settings(make_settings, redis_cluster, api_per_user="3/minute")
    async with running(settings) as one, running(settings) as two:
        ada = await register(one, name="Ada")
        assert [await me(one, ada), await me(two, ada), await me(one, ada)] == [200, 200, 200]
        await problem(await two.get("/api/v1/users/me", headers=ada.headers), 429, "rate_limited")
        await problem(await one.get("/api/v1/users/me", headers=ada.headers), 429, "rate_limited")
    keys = await keys_of(client, f"{KEY_PREFIX}:*{ada.id}*")
    assert keys, "the user's API counter is in the cluster"
    for key in keys:
        assert 0 < await client.ttl(key) <= 120, key


async def test_a_window_rolls_over_on_one_slot(
        make_settings: Callable[..., Settings], redis_cluster: RedisClusterServer,
        client: RedisCluster) -> None:
    """The sliding window's script renames the current counter to the previous one once a
    window has passed: both keys must be on one slot, or the script fails (and the limiter,
    failing open, would stop limiting)."""
    settings = cluster_settings(make_settings, redis_cluster, auth_per_address="3/second")
    address = doc_ip()
    async with running(settings) as app:
        assert [await refresh(app, address) for _ in range(4)] == [401, 401, 401, 429]

        async def shifted() -> bool:
            return bool(await keys_of(client, f"{KEY_PREFIX}:*{address}*/-1"))

        async def allowed_again() -> bool:
            return await refresh(app, address) == 401 and await shifted()

        await until(allowed_again, 10, "the window to roll over")
        # Still limiting after the roll-over: the script ran on both keys.
        statuses = [await refresh(app, address) for _ in range(8)]
        assert 429 in statuses, statuses
    current = await keys_of(client, f"{KEY_PREFIX}:*{address}*")
    slots = {client.keyslot(key) for key in current}
    assert len(current) == 2 and len(slots) == 1, (current, slots)


async def test_counters_spread_over_the_cluster(
        make_settings: Callable[..., Settings], redis_cluster: RedisClusterServer,
        client: RedisCluster) -> None:
    """Each counter has a hash tag of its own (none in our prefix): different addresses'
    counters land on different slots and masters, not all on one node."""
    settings = cluster_settings(make_settings, redis_cluster, auth_per_address="5/minute")
    addresses = [doc_ip() for _ in range(12)]
    async with running(settings) as app:
        for address in addresses:
            assert await refresh(app, address) == 401
    assert "{" not in KEY_PREFIX
    slots = set()
    for address in addresses:
        keys = await keys_of(client, f"{KEY_PREFIX}:*{address}*")
        assert len(keys) == 1, keys
        slots.add(client.keyslot(keys[0]))
    nodes = {client.nodes_manager.get_node_from_slot(slot).name for slot in slots}
    assert len(nodes) > 1, (slots, nodes)


# --- presence ---------------------------------------------------------------------------------
def boards_on_every_master(redis: RedisCluster, per_node: int = 2) -> list[str]:
    """Board ids whose presence keys live on each of the masters, `per_node` of each."""
    found: dict[str, list[str]] = {}
    while len(found) < 3 or any(len(ids) < per_node for ids in found.values()):
        board_id = secrets.token_hex(12)
        node = redis.nodes_manager.get_node_from_slot(redis.keyslot(board_id)).name
        if len(found.setdefault(node, [])) < per_node:
            found[node].append(board_id)
    return [board_id for ids in found.values() for board_id in ids]


async def test_presence_on_a_cluster(client: RedisCluster) -> None:
    await client.initialize()
    boards = boards_on_every_master(client)
    one = RedisPresence(client, instance_id="one", ttl=30)
    two = RedisPresence(client, instance_id="two", ttl=30)
    for board_id in boards:
        # put: a MULTI on the board's key, whose hash tag is the board id.
        await one.put(board_id, {"u1": "Ada", "u2": "Bob"})
        await two.put(board_id, {"u2": "Bob", "u3": "Cy"})
        key = f"taskflow:presence:{{{board_id}}}"
        assert client.keyslot(key) == client.keyslot(board_id)
        assert await client.zcard(key) == 4
        assert await one.viewers(board_id) == [
            {"user_id": "u1", "name": "Ada"}, {"user_id": "u2", "name": "Bob"},
            {"user_id": "u3", "name": "Cy"}]
    await one.put(boards[0], {"u1": "Ada"})  # Bob left on instance one: only its entry goes
    assert [v["user_id"] for v in await two.viewers(boards[0])] == ["u1", "u2", "u3"]
    await two.put(boards[0], {})
    assert [v["user_id"] for v in await one.viewers(boards[0])] == ["u1"]

    # refresh: one pipeline over boards on every master pushes every entry's expiry out.
    before = {b: await client.zscore(f"taskflow:presence:{{{b}}}", '["u3", "Cy", "two"]')
              for b in boards[1:]}
    longer = RedisPresence(client, instance_id="two", ttl=50)
    assert await longer.refresh({b: {"u3": "Cy"} for b in boards[1:]}) == set()
    for board_id in boards[1:]:
        after = await client.zscore(f"taskflow:presence:{{{board_id}}}", '["u3", "Cy", "two"]')
        assert after is not None and before[board_id] is not None
        assert after > before[board_id] + 15, (board_id, before[board_id], after)
    await client.delete(*(f"taskflow:presence:{{{b}}}" for b in boards))


# --- cache ------------------------------------------------------------------------------------
async def test_cache_delete_spans_slots(client: RedisCluster) -> None:
    await client.initialize()
    cache = RedisCache(client)
    keys = [f"stats:test:{secrets.token_hex(8)}" for _ in range(12)]
    for key in keys:
        await cache.set(key, key.encode(), 60)
    nodes = {client.nodes_manager.get_node_from_slot(client.keyslot(f"taskflow:cache:{k}")).name
             for k in keys}
    assert len(nodes) > 1, "the keys span masters"
    assert [await cache.get(key) for key in keys] == [key.encode() for key in keys]
    await cache.delete(*keys)
    assert [await cache.get(key) for key in keys] == [None] * len(keys)
    assert (cache.hits, cache.misses) == (len(keys), len(keys))


async def test_stats_are_cached_in_the_cluster(
        make_settings: Callable[..., Settings], redis_cluster: RedisClusterServer,
        client: RedisCluster) -> None:
    settings = cluster_settings(make_settings, redis_cluster)
    async with running(settings) as one, running(settings) as two:
        ada = await register(one, name="Ada")
        board = (await (await one.post("/api/v1/boards", json={"name": "B"},
                                       headers=ada.headers)).get_json())
        path = f"/api/v1/boards/{board['id']}/stats"
        first = await (await one.get(path, headers=ada.headers)).get_json()
        assert await keys_of(client, f"taskflow:cache:stats:board:{board['id']}:*")
        assert await (await two.get(path, headers=ada.headers)).get_json() == first
        created = await two.post("/api/v1/tasks", json={"board_id": board["id"], "title": "T"},
                                 headers=ada.headers)
        assert created.status_code == 201
        after = await (await one.get(path, headers=ada.headers)).get_json()
        assert after != first  # a write moves the board's seq, so the cached entry is not reused


# --- readiness --------------------------------------------------------------------------------
async def test_ready_in_cluster_mode(make_settings: Callable[..., Settings],
                                     redis_cluster: RedisClusterServer) -> None:
    async with running(cluster_settings(make_settings, redis_cluster)) as app:
        response = await app.get("/api/v1/ready")
        assert response.status_code == 200
        assert (await response.get_json())["checks"]["redis"] == "ok"
    nobody = make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_mode="cluster")
    async with running(nobody) as app:
        response = await problem(await app.get("/api/v1/ready"), 503, "service_unavailable")
        assert response["checks"]["redis"].startswith("down"), response
        # No node answers: the cluster client raises RedisClusterUnreachableError, which is
        # no RedisError; the cache must still take it as a miss, the limiter let requests by.
        ada = await register(app, name="Ada")
        board = await (await app.post("/api/v1/boards", json={"name": "B"},
                                      headers=ada.headers)).get_json()
        stats = await app.get(f"/api/v1/boards/{board['id']}/stats", headers=ada.headers)
        assert stats.status_code == 200, await stats.get_data(as_text=True)


# --- failover (last: they change which node is master) -------------------------------------
async def test_a_planned_failover_keeps_counts_and_entries(
        make_settings: Callable[..., Settings], redis_cluster: RedisClusterServer,
        client: RedisCluster) -> None:
    settings = cluster_settings(make_settings, redis_cluster, auth_per_address="3/minute")
    address = doc_ip()
    await client.initialize()
    cache = RedisCache(client)
    async with running(settings) as app:
        assert [await refresh(app, address) for _ in range(2)] == [401, 401]
        key = (await keys_of(client, f"{KEY_PREFIX}:*{address}*"))[0]
        owner = client.nodes_manager.get_node_from_slot(client.keyslot(key))
        await cache.set("failover", b"kept", 60)
        await asyncio.to_thread(redis_cluster.failover, owner.port)
        # The counter was replicated before the promotion: one hit left, then 429.
        assert [await refresh(app, address) for _ in range(2)] == [401, 429]
        assert await cache.get("failover") == b"kept"
        assert (await app.get("/api/v1/ready")).status_code == 200


async def test_a_crashed_master_is_replaced_and_limits_count_again(
        make_settings: Callable[..., Settings], redis_cluster: RedisClusterServer,
        client: RedisCluster) -> None:
    settings = cluster_settings(make_settings, redis_cluster, auth_per_address="3/minute")
    await client.initialize()
    named = redis_cluster.port  # the node REDIS_URL names stays up
    victim = next(p for p in redis_cluster.masters() if p != named)
    # An address whose counter lives on the master that will crash.
    address = next(a for a in iter(doc_ip, None)
                   if client.nodes_manager.get_node_from_slot(client.keyslot(
                       f"{KEY_PREFIX}:{{LIMITER/auth-address/{a}/3/1/minute}}")).port == victim)
    async with running(settings) as app:
        assert await refresh(app, address) == 401
        assert await keys_of(client, f"{KEY_PREFIX}:*{address}*"), "the key name guess holds"
        await asyncio.to_thread(redis_cluster.kill_master, victim)

        async def limited() -> bool:  # fails open until the client has the new topology
            return await refresh(app, address) == 429

        await until(limited, 30, "the limiter to count on the promoted replica", every=0.2)
        assert (await app.get("/api/v1/ready")).status_code == 200
