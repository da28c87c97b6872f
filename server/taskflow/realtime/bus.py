"""The bus between instances: Redis sharded pub/sub, a channel per board and per user.

python-socketio's Redis manager publishes everything on one channel, so every instance
receives and decodes every event of every board, served here or not, and a cluster of N
instances does N times the bus work of one. Here a board's events travel on the board's
channel, which an instance subscribes to only while it has a stream for the board (a
socket joined, or a join in flight), and a user's notices (`auth:revoked`,
`boards:changed`) on the user's channel, subscribed while the user has a connection here.
Whatever else python-socketio sends between instances goes on one shared channel.

The commands are Redis 7's sharded ones (SPUBLISH, SSUBSCRIBE): on Redis Cluster a message
reaches only the shard that owns its channel's slot, and every channel name carries a hash
tag (`{<id>}`). On a single Redis they behave like PUBLISH and SUBSCRIBE.

Subscriptions are counted (`want`, `drop`) and applied by one task that batches them;
`ready` waits until Redis has confirmed a channel, so that a join can read the event log
knowing that every event committed after the read will reach it on the bus. While Redis is
unreachable nothing is confirmed and `ready` answers at once (False): the router's sweep
and gap fill, which read the event log, are what delivers then. redis-py re-subscribes on
reconnect. When a channel's slot leaves a node (a failover demotes it, a resharding moves the
slot), Redis ends the subscription itself with a `sunsubscribe` that redis-py does not take
for one (it still counts the channel as subscribed): the bus subscribes to it again, on the
node the client's slot map names now.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from loguru import logger
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

POLL_SECONDS = 1.0  # how long one read waits for a message (single Redis)
# On a cluster a read holds its node's connection, so a subscribe there waits for it to end.
NODE_POLL_SECONDS = 0.1
NODES_CHECK_SECONDS = 1.0  # how often the cluster reader looks for nodes to read
RESTART_AFTER_FAILURES = 3  # failed reads of a node (~0.35 s) before subscribing afresh
RETRY_SECONDS = (0.1, 0.25, 0.5, 1.0)  # pauses between attempts while Redis is unreachable


class Bus:
    def __init__(self, redis: Redis | RedisCluster, *, prefix: str = "taskflow:live",
                 received: Callable[[str], None] | None = None) -> None:
        self._redis = redis
        self._cluster = isinstance(redis, RedisCluster)
        self._pubsub: Any = redis.pubsub()
        self._prefix = prefix
        self._received = received  # called with the channel's kind for each message
        self.shared = f"{prefix}:{{shared}}"
        self._wanted: dict[str, int] = {}
        self._subscribed: set[str] = set()  # asked of Redis
        self._confirmed: set[str] = set()  # confirmed by Redis
        self._board_prefix = f"{prefix}:board:"
        self._confirmed_boards = 0  # board channels in _confirmed (a /metrics gauge)
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._wake = asyncio.Event()
        self._asked = asyncio.Event()  # set once a first SSUBSCRIBE went out
        self._healthy = True
        self._syncer: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    # --- names ---------------------------------------------------------------------------
    def board(self, board_id: str) -> str:
        return f"{self._prefix}:board:{{{board_id}}}"

    def user(self, user_id: str) -> str:
        return f"{self._prefix}:user:{{{user_id}}}"

    def _kind(self, channel: str) -> str:
        return channel[len(self._prefix) + 1:].split(":", 1)[0]

    @property
    def board_subscriptions(self) -> int:
        return self._confirmed_boards

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self.want(self.shared)
        self._syncer = asyncio.create_task(self._sync())

    async def close(self) -> None:
        if self._syncer is not None:
            self._syncer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncer
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.cancel()
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()

    # --- subscriptions -------------------------------------------------------------------
    def want(self, channel: str) -> None:
        count = self._wanted.get(channel, 0)
        self._wanted[channel] = count + 1
        if count == 0 and channel not in self._subscribed:
            self._wake.set()

    def drop(self, channel: str) -> None:
        count = self._wanted.get(channel, 0) - 1
        if count > 0:
            self._wanted[channel] = count
            return
        self._wanted.pop(channel, None)
        if channel in self._subscribed:
            self._wake.set()

    async def ready(self, channel: str, timeout: float = 2.0) -> bool:
        """Whether Redis confirmed the subscription (waits up to `timeout` while it is up)."""
        if channel in self._confirmed:
            return True
        if not self._healthy or channel not in self._wanted:
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(channel, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(channel, None)

    async def _sync(self) -> None:
        """Applies the wanted set to Redis, a batch at a time."""
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            add = [c for c in self._wanted if c not in self._subscribed]
            remove = [c for c in self._subscribed if c not in self._wanted]
            # Marked before the command goes out: its confirmation may be read before the
            # command's call returns.
            self._subscribed.update(add)
            self._subscribed.difference_update(remove)
            self._unconfirm(remove)
            try:
                if add:
                    await self._pubsub.ssubscribe(*add)
                    self._asked.set()
                if remove:
                    await self._pubsub.sunsubscribe(*remove)
                failures = 0
            except Exception as exc:
                if isinstance(exc, ResponseError) and "unknown command" in str(exc).lower():
                    logger.error("live bus: this Redis has no sharded pub/sub ({}); TaskFlow "
                                 "needs Redis 7 or newer, and live events between instances "
                                 "will only arrive through the event log sweep", exc)
                    return
                self._subscribed.difference_update(add)  # both asked again on the retry
                self._subscribed.update(remove)
                self._healthy = False
                logger.warning("live bus: subscribing failed, retrying: {}", exc)
                await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                failures += 1
                self._wake.set()

    # --- messages ------------------------------------------------------------------------
    async def publish(self, channel: str, payload: str) -> None:
        await self._redis.spublish(channel, payload)

    async def messages(self) -> AsyncIterator[bytes]:
        """Every message of the subscribed channels, as Redis delivers them."""
        await self._asked.wait()  # reading needs the connection the first SSUBSCRIBE opens
        read = self._read_cluster() if self._cluster else self._read_single()
        async for message in read:
            kind = _text(message["type"])
            channel = _text(message["channel"])
            if kind == "smessage":
                if self._received is not None:
                    self._received(self._kind(channel))
                yield message["data"]
            elif kind == "ssubscribe":
                self._confirm(channel)
            elif kind == "sunsubscribe":
                self._ended_by_redis(channel)

    async def _read_single(self) -> AsyncIterator[dict[str, Any]]:
        failures = 0
        while True:
            try:
                message = await self._pubsub.get_message(timeout=POLL_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._unhealthy(exc, list(self._confirmed), first=failures == 0)
                await _pause(failures)
                failures += 1
                continue
            failures = 0
            self._recovered()
            if message is not None:
                yield message

    async def _read_cluster(self) -> AsyncIterator[dict[str, Any]]:
        """One reader per node that holds subscriptions: a message on one node never waits
        out a poll of another (redis-py's own reader polls the nodes in turn)."""
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        readers: dict[str, asyncio.Task[None]] = {}
        read_from: Any = None
        try:
            while True:
                pubsub = self._pubsub
                if pubsub is not read_from:  # subscribed afresh: the old readers are done
                    for task in readers.values():
                        task.cancel()
                    readers.clear()
                    read_from = pubsub
                for name in list(pubsub.node_pubsub_mapping):
                    reader = readers.get(name)
                    if reader is None or reader.done():
                        readers[name] = asyncio.create_task(self._read_node(pubsub, name, inbox))
                for name in [n for n, r in readers.items() if r.done()]:
                    del readers[name]
                try:
                    yield await asyncio.wait_for(inbox.get(), NODES_CHECK_SECONDS)
                except TimeoutError:
                    continue  # look for nodes that took channels over (failover, migration)
        finally:
            for reader in readers.values():
                reader.cancel()

    async def _read_node(self, pubsub: Any, name: str,
                         inbox: asyncio.Queue[dict[str, Any]]) -> None:
        failures = 0
        while self._pubsub is pubsub and name in pubsub.node_pubsub_mapping:
            node = self._redis.get_node(node_name=name)  # type: ignore[union-attr]
            if node is None:
                return
            started = time.monotonic()
            try:
                # Bounded: a subscribe on this node waits for the poll to end.
                message = await pubsub.get_sharded_message(timeout=NODE_POLL_SECONDS,
                                                           target_node=node)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                held = pubsub.node_pubsub_mapping.get(name)
                lost = [_text(c) for c in held.shard_channels] if held is not None else []
                self._unhealthy(exc, lost, first=failures == 0)
                failures += 1
                if failures >= RESTART_AFTER_FAILURES:
                    self._restart(pubsub)
                    return
                await _pause(failures - 1)
                continue
            failures = 0
            self._recovered()
            if message is not None:
                inbox.put_nowait(message)
            elif time.monotonic() - started < NODE_POLL_SECONDS / 2:
                # An empty answer without the wait: the node's pubsub has no connection
                # (after a restart, until a subscribe opens one). Polling again at once
                # would never give the event loop back.
                await asyncio.sleep(NODE_POLL_SECONDS)

    def _restart(self, pubsub: Any) -> None:
        """A node holding subscriptions stays unreachable (a crashed master): start over with
        a new pub/sub, whose subscriptions go where the client's slot map says now (it is
        refreshed as commands meet the failover). redis-py's own repair first unsubscribes
        on the dead node, and waits for the next topology refresh when it can't."""
        if self._pubsub is not pubsub:
            return  # already restarted
        logger.warning("live bus: a Redis node stays unreachable; subscribing afresh")
        self._pubsub = self._redis.pubsub()
        self._subscribed.clear()
        self._unconfirm(list(self._confirmed))
        self._wake.set()
        if self._closing is None or self._closing.done():
            self._closing = asyncio.create_task(self._close_quietly(pubsub))

    async def _close_quietly(self, pubsub: Any) -> None:
        with contextlib.suppress(Exception):
            await pubsub.aclose()

    def _confirm(self, channel: str) -> None:
        if channel not in self._subscribed or channel in self._confirmed:
            return  # dropped meanwhile, or confirmed again (asked twice)
        self._confirmed.add(channel)
        if channel.startswith(self._board_prefix):
            self._confirmed_boards += 1
        for waiter in self._waiters.get(channel, []):
            if not waiter.done():
                waiter.set_result(None)

    def _unconfirm(self, channels: Iterable[str]) -> None:
        for channel in channels:
            if channel in self._confirmed:
                self._confirmed.remove(channel)
                if channel.startswith(self._board_prefix):
                    self._confirmed_boards -= 1

    def _ended_by_redis(self, channel: str) -> None:
        """A `sunsubscribe` the bus didn't ask for (its own leave `_subscribed` first): the
        channel's slot left that node, so it is asked for again, where the slot is now (a
        replica of the slot serves sharded subscribers too)."""
        if channel not in self._subscribed or channel not in self._wanted:
            return
        logger.info("live bus: Redis ended the subscription to {} (its slot moved); "
                    "subscribing again", channel)
        self._subscribed.discard(channel)
        self._unconfirm([channel])
        self._wake.set()

    def _unhealthy(self, exc: Exception, lost: Iterable[str], *, first: bool) -> None:
        """Channels on an unreachable connection count as unconfirmed until Redis confirms
        them again (redis-py re-subscribes on reconnect and after a failover)."""
        if first:
            logger.warning("live bus: Redis unreachable, retrying: {}", exc)
        self._healthy = self._cluster  # on a cluster, the other nodes may be fine
        self._unconfirm(lost)

    def _recovered(self) -> None:
        if not self._healthy:
            self._healthy = True
            logger.info("live bus: Redis reachable again")


async def _pause(failures: int) -> None:
    await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
