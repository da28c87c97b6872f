"""REST throughput and latency of one TaskFlow instance, beside a bare Quart endpoint.

    .venv/bin/python loadtests/rest_bench.py [--src REV] [--rounds N] [--duration S]

The server under test (embedded SQLite, Uvicorn, uvloop) is pinned to CPU 0 with `taskset`,
`wrk` with 16 connections to CPU 1. Every round starts, in this order, a bare Quart app
answering one JSON route on the same Uvicorn configuration (the reference every ratio is
taken against), this checkout's server, and with `--src REV` that commit's server (its
sources in a temporary git worktree, run on this checkout's virtualenv), and measures on
each: health, a board with 4 members, a 50-task list (authenticated), task creation on a
new column and on a 10,000-task column, and a task update. Every round is printed; nothing
is a best-of-N.

Latency: each endpoint is run again at 80% of the throughput it just reached, with wrk's
`--latency` and a Lua `delay()` pacing each connection, the pace corrected by the rate each
paced run reached until one lands within 5% of the target (the rate it reached is printed
beside its figures). wrk is closed-loop (a slow answer
delays that connection's next request; wrk2's corrected open-loop figures are not in Debian),
so p99 there is a lower bound of what an open-loop client would see.

Rate limits stay on: the per-user API limit is raised (TASKFLOW_RATE_LIMIT_API) so that it
is counted on every request but never reached; any non-2xx answer fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from local import VENV_PYTHON, free_port, server_of

SERVER_CPU, CLIENT_CPU = "0", "1"
PAGE_SIZES = (50, 200)
BIG_COLUMN = 10_000


def bare_quart(port: int) -> None:
    """The reference: one Quart JSON route on TaskFlow's own Uvicorn configuration."""
    import uvicorn
    import uvloop
    from quart import Quart

    app = Quart("bare")

    @app.get("/api/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                            http="httptools", loop="none", lifespan="on")
    uvloop.run(uvicorn.Server(config).serve())


@contextlib.contextmanager
def running(cmd: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[str]:
    """`cmd` pinned to the server CPU, until it answers /api/v1/health."""
    with log.open("wb") as out:
        proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *cmd], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
                try:
                    if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd} not healthy in 30 s:\n{log.read_text()[-3000:]}")
                time.sleep(0.05)  # polling for health, not synchronisation
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@dataclass
class Target:
    """One endpoint: a method, a path and what wrk needs to call it."""

    name: str
    method: str = "GET"
    path: str = "/api/v1/health"
    token: str | None = None
    body: str | None = None  # a Lua expression giving the body ('"..." .. counter')


@dataclass
class Result:
    rps: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    paced_rps: float | None = None


LUA = """
counter = 0
local pace = {pace}
request = function()
  counter = counter + 1
  local body = {body}
  return wrk.format("{method}", "{path}", {{{headers}}}, body)
end
function delay() return pace end
local bad = 0
response = function(status, headers, body)
  if status >= 300 then
    bad = bad + 1
    if bad == 1 then io.stderr:write("non-2xx " .. status .. ": " .. body .. "\\n") end
  end
end
"""


def lua_script(target: Target, pace_ms: float) -> str:
    headers = ['["Accept"] = "application/json"']
    if target.token:
        headers.append(f'["Authorization"] = "Bearer {target.token}"')
    if target.body:
        headers.append('["Content-Type"] = "application/json"')
    return LUA.format(pace=f"{pace_ms:.3f}", body=target.body or "nil", method=target.method,
                      path=target.path, headers=", ".join(headers))


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, target: Target, seconds: float, connections: int,
        pace_ms: float = 0.0, workdir: Path | None = None) -> Result:
    """One wrk run; fails on any non-2xx answer or socket error."""
    script = Path(tempfile.mkstemp(suffix=".lua", dir=workdir)[1])
    script.write_text(lua_script(target, pace_ms))
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
           "--latency", "-s", str(script), url + target.path]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)
    out = done.stdout
    if done.returncode != 0 or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk on {target.name} failed:\n{out}\n{done.stderr}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    return Result(rps=rps, p50_ms=p50, p99_ms=p99)


def measure(url: str, target: Target, args: argparse.Namespace, workdir: Path) -> Result:
    """Throughput flat out, then p50/p99 with every connection paced to 80% of it."""
    full = wrk(url, target, args.duration, args.connections, workdir=workdir)
    if args.no_latency:
        return full
    # Each connection waits `pace` after an answer, so a connection's period is its latency
    # plus the pace, and N connections make N / period requests a second. The latency at
    # 80% load isn't known beforehand: start from the service time (1 / rate on one core) and
    # correct the pace by what the run reached, until it lands within 5% of the target.
    goal = 0.8 * full.rps
    pace = max(0.0, 1000 * (args.connections / goal - 1 / full.rps))
    for _ in range(args.pacing_tries):
        paced = wrk(url, target, args.duration, args.connections, pace_ms=pace, workdir=workdir)
        if abs(paced.rps - goal) <= 0.05 * goal:
            break
        pace = max(0.0, pace + 1000 * args.connections * (1 / goal - 1 / paced.rps))
    return Result(rps=full.rps, p50_ms=paced.p50_ms, p99_ms=paced.p99_ms, paced_rps=paced.rps)


async def prepare(url: str, big_column: int) -> dict[str, Any]:
    """Users, a board with 4 members, 1,000 tasks on it, and a second board with a
    `big_column`-task column (written 16 at a time over HTTP, like any client)."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        async def register(n: int) -> dict[str, Any]:
            r = await client.post("/api/v1/auth/register", json={
                "email": f"bench{n}-{secrets.token_hex(4)}@example.com",
                "password": "bench-password-1", "name": f"Bench {n}"})
            r.raise_for_status()
            return dict(r.json())

        owner, *others = [await register(n) for n in range(4)]
        auth = {"Authorization": f"Bearer {owner['access_token']}"}
        boards = []
        for name in ("bench", "big", "fresh"):
            r = await client.post("/api/v1/boards", json={"name": name}, headers=auth)
            r.raise_for_status()
            boards.append(r.json()["id"])
        board, big, fresh = boards
        for other in others:
            r = await client.post(f"/api/v1/boards/{board}/members", headers=auth,
                                  json={"email": other["user"]["email"], "role": "editor"})
            r.raise_for_status()

        async def fill(board_id: str, count: int) -> str:
            queue = list(range(count))
            last = ""

            async def worker() -> None:
                nonlocal last
                while queue:
                    n = queue.pop()
                    body = {"board_id": board_id, "title": f"task {n}", "tags": ["a", "b"],
                            "description": "x" * 80, "priority": "high"}
                    for attempt in range(3):  # a kept-alive connection the server just closed
                        try:
                            r = await client.post("/api/v1/tasks", headers=auth, json=body)
                            break
                        except (httpx.ReadError, httpx.RemoteProtocolError):
                            if attempt == 2:
                                raise
                    r.raise_for_status()
                    last = r.json()["id"]

            await asyncio.gather(*(worker() for _ in range(16)))
            return last

        task_id = await fill(board, 1000)
        await fill(big, big_column)
        return {"token": owner["access_token"], "board": board, "big": big, "fresh": fresh,
                "task": task_id}


def targets(s: dict[str, Any]) -> list[Target]:
    token = s["token"]
    post = '\'{"board_id":"%s","title":"bench ' + '\' .. counter .. \'"}\''

    def create(board: str) -> str:
        return post.replace("%s", board)

    return [
        Target("health"),
        Target("board", path=f"/api/v1/boards/{s['board']}", token=token),
        *[Target(f"list{n}", path=f"/api/v1/tasks?board_id={s['board']}&limit={n}", token=token)
          for n in PAGE_SIZES],
        Target("create", "POST", "/api/v1/tasks", token, create(s["fresh"])),
        Target("create@10k", "POST", "/api/v1/tasks", token, create(s["big"])),
        Target("update", "PATCH", f"/api/v1/tasks/{s['task']}", token,
               '\'{"title":"renamed \' .. counter .. \'"}\''),
    ]


def server_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TZ")}
    env.update({"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test",
                "TASKFLOW_DATA_DIR": str(data), "TASKFLOW_SERVER": "uvicorn",
                "TASKFLOW_LOG_LEVEL": "INFO",
                "TASKFLOW_RATE_LIMIT_API": "100000000/minute",
                "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def run_side(label: str, cmd: list[str], args: argparse.Namespace, work: Path,
             bare: float) -> dict[str, Result]:
    data = work / f"data-{label}"
    port = free_port()
    full = [*cmd, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(full, port, server_env(data), work / f"{label}.log") as url:
        state = asyncio.run(prepare(url, args.big_column))
        results = {}
        for target in targets(state):
            results[target.name] = measure(url, target, args, work)
            r = results[target.name]
            lat = f"p50 {r.p50_ms:.2f} ms p99 {r.p99_ms:.2f} ms at {r.paced_rps:.0f}/s" \
                if r.paced_rps else ""
            print(f"  {label:>8} {target.name:<11} {r.rps:8.0f}/s  {r.rps / bare:5.2f}x bare  {lat}",
                  flush=True)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", metavar="REV", help="also measure this git revision, in the same round")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--big-column", type=int, default=BIG_COLUMN)
    p.add_argument("--no-latency", action="store_true", help="skip the paced runs")
    p.add_argument("--pacing-tries", type=int, default=4,
                   help="paced runs per endpoint to land within 5%% of 80%% of its rate")
    p.add_argument("--json", type=Path, help="write every round's figures here")
    args = p.parse_args()
    if not shutil.which("wrk"):
        sys.exit("rest_bench: wrk not found (loadtests/setup.sh wrk installs it)")
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="taskflow-rest-bench-") as tmp, \
            contextlib.ExitStack() as stack:
        sides = {"this": [stack.enter_context(server_of(None))]}
        if args.src:
            sides[args.src[:8]] = [stack.enter_context(server_of(args.src))]
        for n in range(1, args.rounds + 1):
            work = Path(tmp) / f"round{n}"
            work.mkdir()
            port = free_port()
            bare_cmd = [str(VENV_PYTHON), str(Path(__file__).resolve()), "--bare", str(port)]
            with running(bare_cmd, port, dict(os.environ), work / "bare.log") as url:
                bare = measure(url, Target("bare"), args, work)
            print(f"round {n}: bare Quart {bare.rps:.0f}/s (p50 {bare.p50_ms:.2f} ms, "
                  f"p99 {bare.p99_ms:.2f} ms)", flush=True)
            record: dict[str, Any] = {"bare": vars(bare)}
            for label, cmd in sides.items():
                record[label] = {k: vars(v) for k, v in run_side(label, cmd, args, work,
                                                                  bare.rps).items()}
            rounds.append(record)
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=1))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare":
        bare_quart(int(sys.argv[2]))
    else:
        main()
