#!/usr/bin/env python3
"""Bus benchmark: what each instance of a cluster receives from Redis, and its CPU, when
many boards are served by different instances.

    .venv/bin/python loadtests/bus.py                          # 4 instances x 1,000 boards
    .venv/bin/python loadtests/bus.py --compare 3c63a6d        # ... beside that older commit
    .venv/bin/python loadtests/bus.py --boards 200 --writes 2  # a quick check

For each version measured (this checkout, and with --compare REF that commit, checked out
into a temporary git worktree and run from this checkout's virtualenv), it starts
`loadtests/cluster.sh up N` (N instances + nginx) on a private redis-server, registers
users and creates the boards through the REST API, then connects --per-board websocket
subscribers to each board, straight to the board's home instance (board i lives on
instance i mod N; loadtests/peers/boards.js, one Node process). Then it writes --writes
tasks to every board, each through another instance than the board's home (with --writer,
all through instance N, which then serves no board), and waits until every subscriber has
every event. Measured per instance over that write phase:
  - bus messages: board messages the instance received from Redis. This checkout counts
    them itself (`taskflow_live_bus_messages_total`); a version with python-socketio's one
    channel receives every message published on it, which a subscriber of this script
    counts on that channel;
  - CPU seconds (utime + stime of the instance's process, from /proc).
Rate limits stay on: every user and socket comes from an address of its own
(X-Forwarded-For, which the cluster trusts from 127.0.0.1, like nginx's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from local import REPO, address, cluster, gauges, private_redis, server_of
from redis.asyncio import Redis

PEERS = REPO / "loadtests" / "peers"
PASSWORD = "bus benchmark password"
SHARED_CHANNEL = b"taskflow:live"  # python-socketio's channel (the manager's default name here)


@dataclass
class Side:
    label: str
    messages: dict[int, float] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)
    delivered: int = 0
    expected: int = 0
    strays: int = 0
    seconds: float = 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bus_messages(http: httpx.AsyncClient, url: str) -> float | None:
    return (await gauges(http, url)).get("taskflow_live_bus_messages_total")


class Generator:
    def __init__(self, sockets: list[dict[str, str]], node: str) -> None:
        fd, name = tempfile.mkstemp(suffix=".json", prefix="taskflow-bus-")
        self.config = Path(name)
        with os.fdopen(fd, "w") as config:
            json.dump({"sockets": sockets, "connect_concurrency": 20}, config)
        self.proc = subprocess.Popen([node, str(PEERS / "boards.js"), name],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=PEERS)

    def read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        import select

        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise SystemExit(f"bus: the generator said nothing for {timeout:g}s")
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"bus: the generator exited ({self.proc.wait()})")
        message: dict[str, Any] = json.loads(line)
        if message.get("phase") == "error":
            raise SystemExit(f"bus: generator: {message.get('error')}")
        return message

    def count(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return self.read(30)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.config.unlink(missing_ok=True)


async def measure(label: str, args: argparse.Namespace, state: Path, redis_url: str) -> Side:
    n = args.instances
    urls = {k: f"http://127.0.0.1:{(state / f'i{k}.port').read_text().strip()}"
            for k in range(1, n + 1)}
    pids = {k: int((state / f"i{k}.pid").read_text().strip()) for k in urls}
    side = Side(label)
    homes = n - 1 if args.writer else n  # instances that serve boards

    def write_to(home: int) -> int:
        return n if args.writer else 1 + home % n

    async with httpx.AsyncClient(timeout=30) as http:
        users = []
        for u in range(args.users):
            r = await http.post(f"{urls[1]}/api/v1/auth/register",
                                headers={"X-Forwarded-For": address(u)},
                                json={"email": f"bus-{u}-{time.time_ns()}@example.com",
                                      "password": PASSWORD, "name": f"Bus {u}"})
            r.raise_for_status()
            users.append((r.json()["access_token"], address(u)))
        boards: list[tuple[str, int, int]] = []  # board id, home instance, owner
        for b in range(args.boards):
            token, xff = users[b % len(users)]
            r = await http.post(f"{urls[1 + b % n]}/api/v1/boards", json={"name": f"bus {b}"},
                                headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": xff})
            r.raise_for_status()
            boards.append((r.json()["id"], 1 + b % homes, b % len(users)))
        sockets = [{"url": urls[home], "token": users[owner][0], "board_id": board_id,
                    "address": address(10_000 + len(boards) * s + i)}
                   for i, (board_id, home, owner) in enumerate(boards)
                   for s in range(args.per_board)]
        gen = Generator(sockets, args.node)
        try:
            ready = gen.read(300)
            print(f"bus: {label}: {ready['connected']} sockets joined {len(boards)} boards "
                  f"on {n} instances", file=sys.stderr)
            redis = Redis.from_url(redis_url)
            pubsub = redis.pubsub()
            await pubsub.subscribe(SHARED_CHANNEL)
            shared = 0

            async def count_shared() -> None:
                nonlocal shared
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        shared += 1

            counter = asyncio.create_task(count_shared())
            before_cpu = {k: cpu_seconds(pid) for k, pid in pids.items()}
            before_bus = {k: await bus_messages(http, url) for k, url in urls.items()}
            started = time.monotonic()
            queue: asyncio.Queue[tuple[str, int, int, int]] = asyncio.Queue()
            for w in range(args.writes):
                for board_id, home, owner in boards:
                    queue.put_nowait((board_id, home, owner, w))

            async def writer() -> None:
                while not queue.empty():
                    board_id, home, owner, w = queue.get_nowait()
                    token, xff = users[owner]
                    r = await http.post(f"{urls[write_to(home)]}/api/v1/tasks",
                                        json={"board_id": board_id, "title": f"w{w}"},
                                        headers={"Authorization": f"Bearer {token}",
                                                 "X-Forwarded-For": xff})
                    r.raise_for_status()

            await asyncio.gather(*(writer() for _ in range(args.concurrency)))
            side.expected = len(sockets) * args.writes
            deadline = time.monotonic() + 60
            while True:
                counted = gen.count()
                if counted["received"] >= side.expected or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)  # polling the generator's count (a benchmark, not a test)
            side.seconds = time.monotonic() - started
            side.delivered, side.strays = counted["received"], counted["strays"]
            side.cpu = {k: cpu_seconds(pid) - before_cpu[k] for k, pid in pids.items()}
            after_bus = {k: await bus_messages(http, url) for k, url in urls.items()}
            await asyncio.sleep(0.5)  # the last shared-channel messages reach the counter
            counter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await counter
            await pubsub.aclose()
            await redis.aclose()
            for k in urls:
                b0, b1 = before_bus[k], after_bus[k]
                side.messages[k] = (b1 - b0) if b0 is not None and b1 is not None else shared
        finally:
            gen.close()
    return side


def report(sides: list[Side], args: argparse.Namespace) -> None:
    through = (f"instance {args.instances}, which serves no board" if args.writer
               else "another instance")
    print(f"\n{args.instances} instances x {args.boards} boards, {args.per_board} subscriber(s) "
          f"per board on its home instance, {args.writes} writes per board through {through}")
    header = f"{'':28}" + "".join(f"{s.label:>24}" for s in sides)
    print(header)
    print("-" * len(header))
    for k in range(1, args.instances + 1):
        print(f"{f'i{k} bus messages':28}" + "".join(f"{s.messages[k]:>24,.0f}" for s in sides))
    for k in range(1, args.instances + 1):
        print(f"{f'i{k} CPU-s (write phase)':28}" + "".join(f"{s.cpu[k]:>24.2f}" for s in sides))
    print(f"{'bus messages, all':28}" + "".join(f"{sum(s.messages.values()):>24,.0f}" for s in sides))
    print(f"{'CPU-s, all instances':28}" + "".join(f"{sum(s.cpu.values()):>24.2f}" for s in sides))
    print(f"{'delivered / expected':28}" + "".join(
        f"{f'{s.delivered:,} / {s.expected:,}':>24}" for s in sides))
    print(f"{'events of other boards':28}" + "".join(f"{s.strays:>24,}" for s in sides))
    print(f"{'write phase (s)':28}" + "".join(f"{s.seconds:>24.1f}" for s in sides))


async def run(args: argparse.Namespace) -> None:
    sides = []
    versions: list[tuple[str, str | None]] = [("this checkout", None)]
    if args.compare:
        versions.insert(0, (args.compare, args.compare))
    for label, ref in versions:
        with private_redis() as redis_url, server_of(ref) as server, \
                cluster(args.instances, redis_url, server) as state:
            sides.append(await measure(label, args, state, redis_url))
    report(sides, args)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=4)
    p.add_argument("--boards", type=int, default=1000)
    p.add_argument("--per-board", type=int, default=1, help="subscribers per board")
    p.add_argument("--writes", type=int, default=3, help="writes per board")
    p.add_argument("--users", type=int, default=20, help="board owners (each writes to theirs)")
    p.add_argument("--concurrency", type=int, default=16, help="writes in flight")
    p.add_argument("--writer", action="store_true",
                   help="every write goes through the last instance, which serves no board (the "
                        "others' CPU is then the live path alone)")
    p.add_argument("--compare", metavar="REF", help="also measure this git commit, first")
    p.add_argument("--node", default=shutil.which("node") or "node")
    args = p.parse_args()
    if not (PEERS / "node_modules").is_dir():
        raise SystemExit("bus: run `bash loadtests/setup.sh node` first (socket.io-client)")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
