#!/usr/bin/env python3
"""Where an idle live connection's memory goes: tracemalloc over N websocket subscribers.

    .venv/bin/python loadtests/connmem.py                  # 500 subscribers
    .venv/bin/python loadtests/connmem.py --subscribers 2000 --top 25

Runs the shipped server in this process (the embedded store, Uvicorn as `taskflow serve`
configures it) with tracemalloc on, registers one user, then has the Node generator of
loadtests/peers open N websocket subscribers, each joined to one board, and idle. It
compares a snapshot taken before the connections with one taken when they are all joined
and prints the Python memory per connection, grouped by where it was allocated, and the
process's RSS growth per connection beside it (RSS also counts what tracemalloc cannot see:
the kernel's socket buffers are not in it either way). Needs loadtests/setup.sh node.
Runs on 127.0.0.1 only and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import socket
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def main(args: argparse.Namespace) -> None:
    import httpx
    import uvicorn

    from taskflow.app import asgi_app, create_app
    from taskflow.config import Settings
    from taskflow.serving import uvicorn_config

    workdir = Path(tempfile.mkdtemp(prefix="connmem-"))
    settings = Settings.from_environ({
        "TASKFLOW_ENV": "test", "TASKFLOW_DATA_DIR": str(workdir),
        "JWT_SECRET": "connmem-" + "x" * 40, "TASKFLOW_LIVE_CONNECT_RATE": "100000/minute",
        "TASKFLOW_LOG_LEVEL": "WARNING",
    })
    port = free_port()
    server = uvicorn.Server(uvicorn_config(asgi_app(create_app(settings)), "127.0.0.1", port))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (Uvicorn offers a flag, no event, to wait on)
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as http:
        r = await http.post("/api/v1/auth/register", json={
            "email": "mem@example.com", "password": "memory probe", "name": "Mem"})
        session = r.json()
        board = (await http.post("/api/v1/boards", json={"name": "Mem"}, headers={
            "Authorization": f"Bearer {session['access_token']}"})).json()

    tracemalloc.start(args.frames)
    gc.collect()
    before, rss_before = tracemalloc.take_snapshot(), rss_kb()
    config = {"url": url, "token": session["access_token"], "board_id": board["id"],
              "subscribers": args.subscribers, "writes": 0, "target": "taskflow",
              "idle_ms": 600_000, "limit_ms": 600_000}
    gen = await asyncio.create_subprocess_exec(
        "node", str(HERE / "peers" / "generator.js"), json.dumps(config),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert gen.stdout is not None
    while True:
        line = await asyncio.wait_for(gen.stdout.readline(), 120)
        if not line:
            sys.exit("the generator stopped before its subscribers were ready")
        if json.loads(line).get("phase") == "ready":
            break
    await asyncio.sleep(1.0)  # let the joins' presence updates settle
    gc.collect()
    after, rss_after = tracemalloc.take_snapshot(), rss_kb()
    n = args.subscribers
    stats = after.compare_to(before, "traceback" if args.traceback else "lineno")
    total = sum(s.size_diff for s in stats)
    print(f"{n} idle websocket subscribers: Python heap {total / n / 1024:.1f} kB per "
          f"connection (tracemalloc), RSS {(rss_after - rss_before) / n:.1f} kB per connection "
          f"(RSS includes tracemalloc's own bookkeeping)")
    for stat in stats[:args.top]:
        where = stat.traceback.format()[-1].strip() if not args.traceback else "\n    ".join(
            stat.traceback.format())
        print(f"{stat.size_diff / n:8.0f} B/conn {stat.count_diff / n:6.1f} blocks/conn  {where}")
    gen.kill()
    await gen.wait()
    server.should_exit = True
    await serving


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--traceback", action="store_true", help="group by whole tracebacks")
    asyncio.run(main(parser.parse_args()))
