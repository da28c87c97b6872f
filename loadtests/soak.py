#!/usr/bin/env python3
"""Soak: a 3-instance cluster under a steady mix for a long while; fails when something grows
without bound.

    .venv/bin/python loadtests/soak.py                    # 20 minutes, a sample every 30 s
    .venv/bin/python loadtests/soak.py --minutes 5 --interval 10

It starts its own redis-server (never the machine's) and `loadtests/cluster.sh up 3` on a
new SQLite file, then keeps up, through nginx, for the whole run:
  - REST users: workers creating, moving, listing and deleting tasks on their boards (each
    board is kept between 20 and 60 tasks, so the data itself stays level);
  - live users: Socket.IO clients (python-socketio, websocket) that each hop between the three
    boards their user belongs to (join, then leave), and reconnect now and then;
  - logins: a user signs in, refreshes and signs out again, in a loop;
  - every user's access token is refreshed before it expires, and live clients answer
    `auth:expiring` with `auth:refresh`, as the web client does.
Every `--interval` seconds it samples each instance's RSS, open file descriptors, asyncio
tasks (`taskflow_asyncio_tasks`), board streams (`taskflow_live_streams`) and Engine.IO
sessions (`taskflow_live_sockets`), and Redis' key count and presence entries. At the end it
fits a line to the second half of each series (the first half is warm-up: caches, pools,
JIT-less Python settling) and fails (exit 1) when one rises by more than its tolerance over
that half; it also fails when the workload itself saw errors. Figures go to stdout and
`loadtests/reports/soak-<time>.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import socketio
from local import REPO, address, cluster, gauges, private_redis, server_of
from redis.asyncio import Redis

PASSWORD = "soak test password"
REPORTS = REPO / "loadtests" / "reports"

# Series -> (absolute, relative) tolerance for the rise over the second half: a rise above
# both fails. Loose enough for a steady workload's noise, tight enough to catch a leak that
# would grow for as long as the process runs.
TOLERANCE: dict[str, tuple[float, float]] = {
    "rss_mb": (8.0, 0.08),
    "fds": (12.0, 0.15),
    "asyncio_tasks": (25.0, 0.15),
    "live_streams": (4.0, 0.5),
    "live_sockets": (6.0, 0.5),
    "redis_keys": (40.0, 0.25),
    "presence_entries": (8.0, 0.5),
}


@dataclass
class User:
    n: int
    email: str
    token: str
    refresh: str
    boards: list[str] = field(default_factory=list)

    @property
    def xff(self) -> str:
        return address(self.n)


@dataclass
class Counts:
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    joins: int = 0
    leaves: int = 0
    reconnects: int = 0
    logins: int = 0
    refreshes: int = 0

    def error(self, what: str) -> None:
        if len(self.errors) < 50:
            self.errors.append(what)
        else:
            self.errors[-1] = f"... and more ({what})"


class Workload:
    def __init__(self, url: str, args: argparse.Namespace) -> None:
        self.url = url
        self.args = args
        self.http = httpx.AsyncClient(base_url=url, timeout=30)
        self.users: list[User] = []
        self.counts = Counts()
        self.stopping = asyncio.Event()

    def headers(self, user: User) -> dict[str, str]:
        return {"Authorization": f"Bearer {user.token}", "X-Forwarded-For": user.xff}

    async def call(self, method: str, path: str, user: User | None, *, ok: tuple[int, ...],
                   **kwargs: Any) -> httpx.Response:
        headers = self.headers(user) if user else {}
        headers.update(kwargs.pop("headers", {}))
        r = await self.http.request(method, path, headers=headers, **kwargs)
        self.counts.requests += 1
        if r.status_code not in ok:
            self.counts.error(f"{method} {path} -> {r.status_code} {r.text[:200]}")
        return r

    async def setup(self) -> None:
        stamp = time.time_ns()
        for n in range(self.args.users):
            email = f"soak-{n}-{stamp}@example.com"
            r = await self.http.post("/api/v1/auth/register", json={
                "email": email, "password": PASSWORD, "name": f"Soak {n}"},
                headers={"X-Forwarded-For": address(n)})
            r.raise_for_status()
            body = r.json()
            self.users.append(User(n, email, body["access_token"], body["refresh_token"]))
        for user in self.users:
            r = await self.call("POST", "/api/v1/boards", user, ok=(201,),
                                json={"name": f"Board of {user.n}"})
            user.boards.append(r.json()["id"])
        # Each user also edits the next two users' boards: three boards to hop between.
        for user in self.users:
            for k in (1, 2):
                other = self.users[(user.n + k) % len(self.users)]
                await self.call("POST", f"/api/v1/boards/{user.boards[0]}/members", user,
                                ok=(201,), json={"email": other.email, "role": "editor"})
                other.boards.append(user.boards[0])

    async def _refresh(self, user: User) -> None:
        r = await self.call("POST", "/api/v1/auth/refresh", None, ok=(200,),
                            json={"refresh_token": user.refresh},
                            headers={"X-Forwarded-For": user.xff})
        if r.status_code == 200:
            body = r.json()
            user.token, user.refresh = body["access_token"], body["refresh_token"]
            self.counts.refreshes += 1

    async def tokens(self) -> None:
        """Every access token is refreshed well before its 15 minutes are up."""
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), 600)
            except TimeoutError:
                for user in self.users:
                    await self._refresh(user)

    async def rest_worker(self, k: int) -> None:
        rng = random.Random(k)
        while not self.stopping.is_set():
            user = rng.choice(self.users)
            board = rng.choice(user.boards)
            listed = await self.call("GET", f"/api/v1/tasks?board_id={board}&limit=100", user,
                                     ok=(200,))
            items = listed.json().get("items", []) if listed.status_code == 200 else []
            if len(items) < 20 or (len(items) < 60 and rng.random() < 0.6):
                await self.call("POST", "/api/v1/tasks", user, ok=(201,),
                                json={"board_id": board, "title": f"soak {rng.random():.6f}"})
            elif items:
                victim = rng.choice(items)
                await self.call("DELETE", f"/api/v1/tasks/{victim['id']}", user,
                                ok=(204, 404))
            if items:
                task = rng.choice(items)
                status = rng.choice(["todo", "in_progress", "done"])
                await self.call("PATCH", f"/api/v1/tasks/{task['id']}", user,
                                ok=(200, 404, 409), json={"status": status})
            await self.pause(self.args.rest_pause)

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    def _client(self, user: User) -> tuple[socketio.AsyncClient, asyncio.Event]:
        """A live client that renews its token when told it expires; the event is set if
        it expired all the same."""
        client = socketio.AsyncClient(reconnection=False)
        expired = asyncio.Event()

        @client.on("auth:expiring")  # type: ignore[misc]
        async def _expiring(data: Any) -> None:
            ack = await client.call("auth:refresh", {"token": user.token}, timeout=10)
            if not ack.get("ok"):
                self.counts.error(f"auth:refresh refused: {ack}")

        @client.on("auth:expired")  # type: ignore[misc]
        async def _expired(data: Any) -> None:
            expired.set()

        return client, expired

    async def live_user(self, k: int) -> None:
        rng = random.Random(1000 + k)
        user = self.users[k % len(self.users)]
        while not self.stopping.is_set():
            client, expired = self._client(user)
            try:
                await client.connect(self.url, transports=["websocket"],
                                     auth={"token": user.token},
                                     headers={"X-Forwarded-For": address(5000 + k)},
                                     wait_timeout=10)
            except Exception as exc:
                self.counts.error(f"live connect: {exc}")
                await self.pause(2)
                continue
            lifetime = time.monotonic() + rng.uniform(*self.args.reconnect_every)
            joined: str | None = None
            try:
                while not self.stopping.is_set() and time.monotonic() < lifetime:
                    if expired.is_set() or not client.connected:
                        self.counts.error("a live client was disconnected by the server")
                        break
                    board = rng.choice([b for b in user.boards if b != joined] or user.boards)
                    if joined is not None:
                        ack = await client.call("board:leave", {"board_id": joined}, timeout=10)
                        self.counts.leaves += 1
                        if not ack.get("ok"):
                            self.counts.error(f"board:leave: {ack}")
                    ack = await client.call("board:join", {"board_id": board, "since": None},
                                            timeout=10)
                    self.counts.joins += 1
                    if ack.get("ok"):
                        joined = board
                    else:
                        joined = None
                        self.counts.error(f"board:join: {ack}")
                    await self.pause(rng.uniform(*self.args.hop_every))
            except Exception as exc:
                self.counts.error(f"live: {type(exc).__name__}: {exc}")
            finally:
                await client.disconnect()
                self.counts.reconnects += 1

    async def logins(self) -> None:
        rng = random.Random(7)
        while not self.stopping.is_set():
            user = rng.choice(self.users)
            r = await self.call("POST", "/api/v1/auth/login", None, ok=(200,),
                                json={"email": user.email, "password": PASSWORD},
                                headers={"X-Forwarded-For": user.xff})
            if r.status_code == 200:
                self.counts.logins += 1
                session = r.json()
                r = await self.call("POST", "/api/v1/auth/refresh", None, ok=(200,),
                                    json={"refresh_token": session["refresh_token"]},
                                    headers={"X-Forwarded-For": user.xff})
                if r.status_code == 200:
                    fresh = r.json()
                    await self.call("POST", "/api/v1/auth/logout", None, ok=(204,),
                                    json={"refresh_token": fresh["refresh_token"]},
                                    headers={"Authorization": f"Bearer {fresh['access_token']}",
                                             "X-Forwarded-For": user.xff})
            await self.pause(self.args.login_pause)


# --- sampling -------------------------------------------------------------------------------

def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def sample(http: httpx.AsyncClient, state: Path, redis: Redis,
                 instances: int) -> dict[str, Any]:
    row: dict[str, Any] = {"t": time.monotonic()}
    for k in range(1, instances + 1):
        pid = int((state / f"i{k}.pid").read_text().strip())
        port = (state / f"i{k}.port").read_text().strip()
        metrics = await gauges(http, f"http://127.0.0.1:{port}")
        row[f"i{k}"] = {
            "rss_mb": _rss_mb(pid),
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "asyncio_tasks": metrics.get("taskflow_asyncio_tasks", 0.0),
            "live_streams": metrics.get("taskflow_live_streams", 0.0),
            "live_sockets": metrics.get("taskflow_live_sockets", 0.0),
        }
    presence = 0
    async for key in redis.scan_iter(match="taskflow:presence:*", count=500):
        presence += await redis.zcard(key)
    row["redis"] = {"redis_keys": await redis.dbsize(), "presence_entries": presence}
    return row


def _slope(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 2 or len(set(xs)) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def verdict(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per series: first, last, mean, and the fitted rise over the second half."""
    half = samples[len(samples) // 2:]
    out = []
    for group in [key for key in samples[0] if key != "t"]:
        for name in samples[0][group]:
            ys = [s[group][name] for s in half]
            xs = [s["t"] for s in half]
            rise = _slope(xs, ys) * (xs[-1] - xs[0]) if len(xs) > 1 else 0.0
            mean = statistics.fmean(ys)
            absolute, relative = TOLERANCE[name]
            grows = rise > absolute and rise > relative * max(mean, 1.0)
            out.append({"series": f"{group}.{name}", "first": samples[0][group][name],
                        "last": samples[-1][group][name], "mean_second_half": mean,
                        "rise_second_half": rise, "tolerance": [absolute, relative],
                        "grows": grows})
    return out


async def run(args: argparse.Namespace) -> int:
    with private_redis() as redis_url, server_of(None) as server, \
            cluster(args.instances, redis_url, server) as state:
        facts = dict(line.split("=", 1) for line in
                     (state / "cluster.env").read_text().splitlines() if "=" in line)
        url = facts["CLUSTER_URL"].strip("'")
        load = Workload(url, args)
        redis = Redis.from_url(redis_url)
        samples: list[dict[str, Any]] = []
        try:
            await load.setup()
            tasks = [asyncio.create_task(load.rest_worker(k)) for k in range(args.rest_workers)]
            tasks += [asyncio.create_task(load.live_user(k)) for k in range(args.live_users)]
            tasks += [asyncio.create_task(load.logins()), asyncio.create_task(load.tokens())]
            started = time.monotonic()
            end = started + args.minutes * 60
            async with httpx.AsyncClient(timeout=30) as http:
                while True:
                    samples.append(await sample(http, state, redis, args.instances))
                    row = samples[-1]
                    print(f"[{row['t'] - started:7.0f}s] " + "  ".join(
                        f"i{k}: {row[f'i{k}']['rss_mb']:.0f} MB {row[f'i{k}']['fds']:.0f} fd "
                        f"{row[f'i{k}']['asyncio_tasks']:.0f} tasks"
                        for k in range(1, args.instances + 1))
                        + f"  redis: {row['redis']['redis_keys']} keys, "
                          f"{row['redis']['presence_entries']} present"
                        + f"  | {load.counts.requests} requests, {load.counts.joins} joins, "
                          f"{len(load.counts.errors)} errors", flush=True)
                    if time.monotonic() >= end:
                        break
                    await asyncio.sleep(min(args.interval, max(0.0, end - time.monotonic())))
            load.stopping.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            load.stopping.set()
            await load.http.aclose()
            await redis.aclose()
    results = verdict(samples)
    print(f"\n{'series':34}{'first':>10}{'last':>10}{'2nd-half mean':>15}{'2nd-half rise':>15}")
    for r in results:
        flag = "  GROWS" if r["grows"] else ""
        print(f"{r['series']:34}{r['first']:>10.1f}{r['last']:>10.1f}"
              f"{r['mean_second_half']:>15.1f}{r['rise_second_half']:>+15.1f}{flag}")
    c = load.counts
    print(f"\nworkload: {c.requests:,} REST requests, {c.joins:,} joins, {c.leaves:,} leaves, "
          f"{c.reconnects:,} live sessions, {c.logins:,} login cycles, {c.refreshes:,} token "
          f"refreshes; {len(c.errors)} errors")
    for error in c.errors[:10]:
        print(f"  error: {error}")
    REPORTS.mkdir(parents=True, exist_ok=True)
    report = REPORTS / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    report.write_text(json.dumps({"args": vars(args), "samples": samples, "verdict": results,
                                  "counts": c.__dict__, "load_average": os.getloadavg()},
                                 indent=1, default=str))
    print(f"report: {report}")
    growing = [r["series"] for r in results if r["grows"]]
    if growing or c.errors:
        print(f"soak: FAILED ({', '.join(growing) or 'no growth'}; {len(c.errors)} workload "
              "errors)", file=sys.stderr)
        return 1
    print("soak: nothing grew without bound")
    return 0


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    p.add_argument("--instances", type=int, default=3)
    p.add_argument("--users", type=int, default=12)
    p.add_argument("--rest-workers", type=int, default=4)
    p.add_argument("--rest-pause", type=float, default=0.2, help="seconds between a worker's rounds")
    p.add_argument("--live-users", type=int, default=30)
    p.add_argument("--hop-every", type=_range, default=(2.0, 6.0),
                   help="seconds on a board before hopping, as LOW,HIGH")
    p.add_argument("--reconnect-every", type=_range, default=(30.0, 90.0),
                   help="seconds a live session lasts, as LOW,HIGH")
    # 10 s: 12 users then sign in 30 times an hour each, under the login limit (50 an hour
    # per account by default); at 5 s a run past 50 minutes met it.
    p.add_argument("--login-pause", type=float, default=10.0)
    args = p.parse_args()
    if args.minutes * 60 < 4 * args.interval:
        raise SystemExit("soak: need at least 4 samples (--minutes vs --interval)")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
