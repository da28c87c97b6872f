#!/usr/bin/env python3
"""Fan-out benchmark: TaskFlow's broadcast path beside a Node socket.io reference, one machine, one run.

    python3 loadtests/fanout.py                       # 50x400, 500x200 and 5000x20, 3 runs each
    python3 loadtests/fanout.py --scales 500x200 --runs 1                # one scale, a quick check
    python3 loadtests/fanout.py --scales 10000x1 --idle-seconds 60       # idle heartbeat cost

For each run it starts, one after the other (the order alternates between runs):
  - TaskFlow: one `taskflow serve` process (REDIS_URL set, HTTP rate limits off: benchmark
    only), pinned to --server-core;
  - the reference: loadtests/peers/server.js, Node socket.io 4.8 with the Redis adapter,
    doing the same room broadcast, pinned to the same core;
and drives each with the same generator (loadtests/peers/generator.js, one Node process
pinned to --generator-core): N websocket subscribers join one board, then M writes are sent
one after the other (TaskFlow: POST /api/v1/tasks; reference: POST /broadcast with a task of
the same shape) and every receipt is timed.

Measured per server and scale (N subscribers x M writes): deliveries per second (receipts /
first send to last receipt), server CPU seconds per 100k deliveries (utime+stime of the
server's processes from /proc over the broadcast phase), memory per idle connection (server
RSS after the N subscribers joined minus before, / N), connects per second and server CPU-ms
per connect (websocket + auth + join, over the connect phase), REST-to-first-receipt (p50,
p95, p99) and first-to-last-receipt per write, and the share delivered. With --idle-seconds
it also holds the N connections idle that long (heartbeats only) and reports the server's
CPU share of one core over that time. It prints a table per scale with TaskFlow's figures
as multiples of the reference's, and writes everything to
loadtests/reports/fanout-<UTC time>.json.

Redis: a private redis-server (no persistence) on a free port when `redis-server` is
installed, else --redis-url (default the machine's, redis://127.0.0.1:6379/0), so that no
other TaskFlow on the machine shares the broadcast channel. Everything runs on 127.0.0.1;
every phase is bounded by --timeout and every process started here is stopped on the way out.
Standard library only: any Python 3.11 runs it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local import free_port, redis_ping, redis_server_args

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = HERE / "peers"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scales", default="50x400,500x200,5000x20",
                   help="comma-separated SUBSCRIBERSxWRITES, each measured in every run "
                        "(default 50x400,500x200,5000x20)")
    p.add_argument("--subscribers", type=int, default=None,
                   help="one scale: websocket subscribers (with --writes; replaces --scales)")
    p.add_argument("--writes", type=int, default=None, help="one scale: writes per server and run")
    p.add_argument("--idle-seconds", type=float, default=0.0,
                   help="hold the connections idle this long and measure the server's CPU (default 0: skip)")
    p.add_argument("--runs", type=int, default=3, help="runs; each measures every server (default 3)")
    p.add_argument("--write-concurrency", type=int, default=1,
                   help="writes in flight at once (default 1: each waits for the previous answer)")
    p.add_argument("--servers", default="taskflow,node",
                   help="which servers, comma-separated: taskflow, node (default both)")
    p.add_argument("--server-core", type=int, default=0, help="CPU the server is pinned to (default 0)")
    p.add_argument("--generator-core", type=int, default=1, help="CPU the generator is pinned to (default 1)")
    p.add_argument("--taskflow-bin", default=str(REPO / ".venv" / "bin" / "taskflow"),
                   help="the taskflow command (default <repo>/.venv/bin/taskflow)")
    p.add_argument("--taskflow-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra setting for the TaskFlow server, e.g. TASKFLOW_SERVER=hypercorn (repeatable)")
    p.add_argument("--node", default="node", help="the node command (default node)")
    p.add_argument("--redis-url", default="",
                   help="use this Redis instead of a private redis-server (e.g. redis://127.0.0.1:6379/0)")
    p.add_argument("--timeout", type=float, default=180.0,
                   help="seconds any one phase (start, connect, broadcast) may take (default 180)")
    p.add_argument("--json", default="", help="report path (default loadtests/reports/fanout-<time>.json)")
    p.add_argument("--keep", action="store_true", help="keep the work dir (server logs, data) afterwards")
    args = p.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(args.servers) - {"taskflow", "node"}
    if unknown or not args.servers:
        p.error(f"--servers: unknown {sorted(unknown)}; choose from taskflow, node")
    if args.subscribers is not None or args.writes is not None:
        args.scales = [(args.subscribers or 500, args.writes or 200)]
    else:
        try:
            args.scales = [tuple(int(n) for n in item.lower().split("x", 1))
                           for item in args.scales.split(",") if item.strip()]
        except ValueError:
            p.error(f"--scales wants SUBSCRIBERSxWRITES[,...], got {args.scales!r}")
    if not args.scales or any(len(sc) != 2 or min(sc) < 1 for sc in args.scales):
        p.error("--scales: each scale needs at least 1 subscriber and 1 write")
    if min(args.runs, args.write_concurrency) < 1:
        p.error("--runs and --write-concurrency must be at least 1")
    for item in args.taskflow_env:
        if "=" not in item:
            p.error(f"--taskflow-env wants NAME=VALUE, got {item!r}")
    return args


class BenchError(RuntimeError):
    pass


# ---- processes and /proc --------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    kids, tree, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(kids.get(p, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its descendants, in seconds."""
    total = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / CLK_TCK


def rss_bytes(pid: int) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)


@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    pin: bool
    procs: list[Proc] = field(default_factory=list)

    def pinned(self, core: int, cmd: list[str]) -> list[str]:
        return ["taskset", "-c", str(core), *cmd] if self.pin else cmd

    def start(self, name: str, cmd: list[str], env: dict[str, str], *, stdin: bool = False,
              stdout_pipe: bool = False) -> Proc:
        log = self.work / f"{name}.log"
        handle = log.open("ab")
        # Our own commands, no shell; each in its own session so that stopping it stops its children.
        popen = subprocess.Popen(cmd, env=env, cwd=self.work, start_new_session=True,
                                 stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                 stdout=subprocess.PIPE if stdout_pipe else handle, stderr=handle)
        handle.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()


def base_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ") if k in os.environ}
    env["HOME"] = os.environ.get("HOME") or tempfile.gettempdir()
    return env


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise BenchError(f"{what}: {proc.name} exited ({proc.popen.returncode}); log:\n{proc.tail()}")
        with suppress(OSError, http.client.HTTPException):
            if check():
                return
        time.sleep(0.1)
    raise BenchError(f"{what}: not done after {timeout:g}s" + (f"; log:\n{proc.tail()}" if proc else ""))


def http_json(port: int, method: str, path: str, body: Any = None, token: str | None = None,
              timeout: float = 30.0) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def healthy(port: int, path: str) -> bool:
    return http_json(port, "GET", path, timeout=2.0)[0] == 200


# ---- servers --------------------------------------------------------------------------------


@dataclass
class Target:
    """A started server: where it listens, its process, and what the generator needs."""

    kind: str
    port: int
    proc: Proc
    token: str
    board_id: str


def start_taskflow(bench: Bench, redis_url: str, run: int) -> Target:
    args = bench.args
    port = free_port()
    data = bench.work / f"taskflow-data-{run}-{secrets.token_hex(3)}"
    data.mkdir()
    env = {**base_env(),
           "TASKFLOW_ENV": "production",
           "JWT_SECRET": secrets.token_urlsafe(48),
           "TASKFLOW_DATA_DIR": str(data),
           "REDIS_URL": redis_url,
           # Benchmark only: one client address opens every connection and sends every write.
           "TASKFLOW_RATE_LIMITS": "off",
           "TASKFLOW_LIVE_CONNECT_RATE": f"{max(1000, max(n for n, _ in args.scales) * 4)}/minute",
           "PYTHONUNBUFFERED": "1"}
    for item in args.taskflow_env:
        name, _, value = item.partition("=")
        env[name] = value
    serve = [args.taskflow_bin, "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd = bench.pinned(args.server_core, serve)
    proc = bench.start(f"taskflow-{run}", cmd, env)
    wait_until(lambda: healthy(port, "/api/v1/health"), args.timeout, "TaskFlow start", proc)
    email = f"fanout-{secrets.token_hex(6)}@example.com"
    status, session = http_json(port, "POST", "/api/v1/auth/register",
                                {"email": email, "password": secrets.token_urlsafe(16), "name": "Fan-out"})
    if status != 201:
        raise BenchError(f"TaskFlow register: {status} {session}")
    token = session["access_token"]
    status, board = http_json(port, "POST", "/api/v1/boards", {"name": "Fan-out"}, token)
    if status != 201:
        raise BenchError(f"TaskFlow board: {status} {board}")
    for i in range(3):  # warm the write path before anything is measured
        status, _ = http_json(port, "POST", "/api/v1/tasks",
                              {"board_id": board["id"], "title": f"warm-up {i}"}, token)
        if status != 201:
            raise BenchError(f"TaskFlow warm-up write: {status}")
    return Target("taskflow", port, proc, token, board["id"])


def start_node(bench: Bench, redis_url: str, run: int) -> Target:
    args = bench.args
    port = free_port()
    token = secrets.token_urlsafe(24)
    env = {**base_env(), "PORT": str(port), "REDIS_URL": redis_url, "TOKEN": token, "NODE_ENV": "production"}
    cmd = bench.pinned(args.server_core, [args.node, str(PEERS / "server.js")])
    proc = bench.start(f"node-{run}", cmd, env)
    wait_until(lambda: healthy(port, "/health"), args.timeout, "Node reference start", proc)
    board_id = f"fanout-{secrets.token_hex(4)}"
    for _ in range(3):
        status, _ = http_json(port, "POST", "/broadcast",
                              {"board_id": board_id, "type": "task:created", "data": {"title": "warm-up"}})
        if status != 201:
            raise BenchError(f"Node warm-up write: {status}")
    return Target("node", port, proc, token, board_id)


STARTERS = {"taskflow": start_taskflow, "node": start_node}


# ---- one measurement ------------------------------------------------------------------------


def read_phase(stream: IO[bytes], timeout: float, proc: Proc) -> dict[str, Any]:
    """The next JSON line the generator prints, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"generator said nothing for {timeout:g}s; log:\n{proc.tail()}")
            if not sel.select(min(left, 1.0)):
                if not proc.alive():
                    raise BenchError(f"generator exited ({proc.popen.returncode}); log:\n{proc.tail()}")
                continue
            line = stream.readline()
            if not line:
                raise BenchError(f"generator closed its output; log:\n{proc.tail()}")
            with suppress(ValueError):
                message: dict[str, Any] = json.loads(line)
                if message.get("phase") == "error":
                    raise BenchError(f"generator: {message.get('error')}")
                return message


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def measure(bench: Bench, kind: str, redis_url: str, run: int, subscribers: int,
            writes: int) -> dict[str, Any]:
    args = bench.args
    target = STARTERS[kind](bench, redis_url, run)
    pid = target.proc.popen.pid
    gen: Proc | None = None
    idle_cpu_share = None
    try:
        time.sleep(0.5)
        rss_before = rss_bytes(pid)
        config = {"url": f"http://127.0.0.1:{target.port}", "token": target.token,
                  "board_id": target.board_id, "subscribers": subscribers, "writes": writes,
                  "target": kind, "connect_concurrency": 25, "write_concurrency": args.write_concurrency,
                  "idle_ms": 5000,
                  "limit_ms": int(args.timeout * 1000)}
        cmd = bench.pinned(args.generator_core, [args.node, str(PEERS / "generator.js"), json.dumps(config)])
        connect_cpu_before = cpu_seconds(pid)
        gen = bench.start(f"generator-{kind}-{run}", cmd, base_env(), stdin=True, stdout_pipe=True)
        assert gen.popen.stdout is not None and gen.popen.stdin is not None
        ready = read_phase(gen.popen.stdout, args.timeout, gen)
        connect_cpu = cpu_seconds(pid) - connect_cpu_before
        time.sleep(1.0)  # let the server settle after the joins before reading its memory
        rss_after = rss_bytes(pid)
        if args.idle_seconds > 0:
            idle_before, idle_wall = cpu_seconds(pid), time.monotonic()
            time.sleep(args.idle_seconds)  # a benchmark's measuring window, not a synchronisation
            idle_cpu_share = (cpu_seconds(pid) - idle_before) / (time.monotonic() - idle_wall)
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        gen.popen.stdin.write(b"go\n")
        gen.popen.stdin.flush()
        done = read_phase(gen.popen.stdout, args.timeout + 90, gen)
        cpu_after, wall_after = cpu_seconds(pid), time.monotonic()
    finally:
        if gen is not None:
            bench.stop(gen)
        bench.stop(target.proc)

    sent, first, last, acked = done["sent"], done["first"], done["last"], done["acked"]
    received = int(done["received"])
    expected = int(done["expected"])
    firsts = [f - s for s, f in zip(sent, first, strict=True) if f is not None and s is not None]
    spreads = [la - f for f, la in zip(first, last, strict=True) if f is not None and la is not None]
    rests = [a - s for s, a in zip(sent, acked, strict=True) if a is not None and s is not None]
    receipts_end = max((t for t in last if t is not None), default=None)
    window_s = (receipts_end - min(sent)) / 1000 if receipts_end is not None else None
    cpu_s = cpu_after - cpu_before
    return {
        "server": kind,
        "run": run,
        "subscribers": int(done["subscribers"]),
        "writes": int(done["writes"]),
        "expected": expected,
        "delivered": received,
        "delivered_share": received / expected if expected else None,
        "write_errors": done["write_errors"],
        "disconnects": done["disconnects"],
        "stray_events": done["strays"],
        "connect_s": ready["connect_ms"] / 1000,
        "connects_per_s": subscribers / (ready["connect_ms"] / 1000) if ready["connect_ms"] else None,
        "connect_cpu_ms": connect_cpu / subscribers * 1000,
        "idle_cpu_share": idle_cpu_share,
        "broadcast_window_s": window_s,
        "deliveries_per_s": received / window_s if window_s else None,
        "server_cpu_s": cpu_s,
        "server_cpu_s_per_100k": cpu_s / received * 1e5 if received else None,
        "cpu_sampling_window_s": wall_after - wall_before,
        "rss_before_bytes": rss_before,
        "rss_after_bytes": rss_after,
        "kb_per_connection": (rss_after - rss_before) / subscribers / 1024,
        "rest_ms_p50": pct(rests, 50),
        "first_receipt_ms_p50": pct(firsts, 50),
        "first_receipt_ms_p95": pct(firsts, 95),
        "first_receipt_ms_p99": pct(firsts, 99),
        "first_to_last_ms_p50": pct(spreads, 50),
        "first_to_last_ms_p95": pct(spreads, 95),
        "generator_cpu_s": done["generator_cpu_s"],
    }


# ---- report ---------------------------------------------------------------------------------

# (key, label, format); TaskFlow / Node ratios for all but the last two.
ROWS: list[tuple[str, str, str]] = [
    ("deliveries_per_s", "deliveries/s", "{:,.0f}"),
    ("server_cpu_s_per_100k", "server CPU-s per 100k deliveries", "{:.2f}"),
    ("kb_per_connection", "kB per idle connection", "{:.1f}"),
    ("connects_per_s", "connects per s (websocket + join)", "{:,.0f}"),
    ("connect_cpu_ms", "server CPU-ms per connect", "{:.2f}"),
    ("idle_cpu_share", "idle: share of a core (heartbeats)", "{:.2%}"),
    ("first_receipt_ms_p50", "REST -> first receipt p50 (ms)", "{:.1f}"),
    ("first_receipt_ms_p95", "REST -> first receipt p95 (ms)", "{:.1f}"),
    ("first_receipt_ms_p99", "REST -> first receipt p99 (ms)", "{:.1f}"),
    ("first_to_last_ms_p50", "first -> last receipt p50 (ms)", "{:.1f}"),
    ("first_to_last_ms_p95", "first -> last receipt p95 (ms)", "{:.1f}"),
    ("rest_ms_p50", "write request round trip p50 (ms)", "{:.1f}"),
    ("connect_s", "connect + join all (s)", "{:.2f}"),
    ("delivered_share", "delivered", "{:.2%}"),
    ("generator_cpu_s", "generator CPU-s (broadcast phase)", "{:.2f}"),
]


def median_of(results: list[dict[str, Any]], server: str, key: str) -> float | None:
    values = [r[key] for r in results if r["server"] == server and r.get(key) is not None]
    return statistics.median(values) if values else None


def scale_of(result: dict[str, Any]) -> str:
    return f"{result['subscribers']}x{result['writes']}"


def summarize_scales(results: list[dict[str, Any]], servers: list[str]) -> dict[str, Any]:
    """One summary per scale, in the order measured, and how TaskFlow's cost per delivery
    moves with the number of subscribers."""
    scales = list(dict.fromkeys(scale_of(r) for r in results))
    by_scale = {sc: summarize([r for r in results if scale_of(r) == sc], servers) for sc in scales}
    cost = {sc: by_scale[sc].get("taskflow", {}).get("server_cpu_s_per_100k") for sc in scales}
    known = [c for c in cost.values() if c]
    return {"scales": by_scale, "taskflow_cpu_per_100k_by_scale": cost,
            "taskflow_cost_spread": max(known) / min(known) if len(known) > 1 else None}


def summarize(results: list[dict[str, Any]], servers: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {s: {key: median_of(results, s, key) for key, _, _ in ROWS} for s in servers}
    if {"taskflow", "node"} <= set(servers):
        ratios: dict[str, Any] = {}
        for key, _, _ in ROWS[:-2]:
            per_run = []
            for run in sorted({r["run"] for r in results}):
                t = next((r.get(key) for r in results if r["run"] == run and r["server"] == "taskflow"), None)
                n = next((r.get(key) for r in results if r["run"] == run and r["server"] == "node"), None)
                if t is not None and n:
                    per_run.append(t / n)
            ratios[key] = {"median": statistics.median(per_run) if per_run else None, "per_run": per_run}
        summary["taskflow_over_node"] = ratios
    return summary


def render(summary: dict[str, Any], servers: list[str], runs: int) -> str:
    both = "taskflow_over_node" in summary
    head = f"{'metric (median of ' + str(runs) + ' run' + ('s' if runs > 1 else '') + ')':38}"
    head += "".join(f"{s:>14}" for s in servers) + (f"{'TaskFlow / Node':>18}{'per run':>24}" if both else "")
    lines = [head, "-" * len(head)]
    for key, label, fmt in ROWS:
        row = f"{label:38}"
        for s in servers:
            value = summary[s][key]
            row += f"{fmt.format(value) if value is not None else '-':>14}"
        if both and key in summary["taskflow_over_node"]:
            ratio = summary["taskflow_over_node"][key]
            median = ratio["median"]
            row += f"{f'{median:.2f}x' if median is not None else '-':>18}"
            row += f"{' '.join(f'{r:.2f}' for r in ratio['per_run']):>24}"
        lines.append(row)
    return "\n".join(lines)


# ---- main -----------------------------------------------------------------------------------


@contextmanager
def redis_for(bench: Bench) -> Iterator[str]:
    if bench.args.redis_url:
        yield bench.args.redis_url
        return
    server = shutil.which("redis-server")
    if server is None:
        url = "redis://127.0.0.1:6379/0"
        print(f"fanout: redis-server not installed: using {url} (shared with whatever else uses it)",
              file=sys.stderr)
        yield url
        return
    port = free_port()
    proc = bench.start("redis", redis_server_args(port, bench.work), base_env())
    wait_until(lambda: redis_ping(port), 30, "private redis-server start", proc)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        bench.stop(proc)


def check_tools(args: argparse.Namespace) -> None:
    if "taskflow" in args.servers and not os.access(args.taskflow_bin, os.X_OK):
        raise BenchError(f"{args.taskflow_bin} not found: create the server's environment "
                         "(bash scripts/bootstrap.sh) or pass --taskflow-bin")
    if shutil.which(args.node) is None:
        raise BenchError(f"{args.node} not found (Node 20+ is needed for the generator)")
    if not (PEERS / "node_modules" / "socket.io-client").is_dir():
        raise BenchError("loadtests/peers/node_modules is missing: run loadtests/setup.sh node")


def machine_facts(pin: bool, args: argparse.Namespace) -> dict[str, Any]:
    cpu = ""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    node = subprocess.run([args.node, "--version"], capture_output=True, text=True,
                          check=False, timeout=30)
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "load_average": os.getloadavg(),
            "pinned": pin, "server_core": args.server_core if pin else None,
            "generator_core": args.generator_core if pin else None,
            "python": platform.python_version(), "node": node.stdout.strip(), "kernel": platform.release()}


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM: stop what was started, like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_tools(args)
    except BenchError as exc:
        print(f"fanout: {exc}", file=sys.stderr)
        return 2
    cpus = os.cpu_count() or 1
    pin = shutil.which("taskset") is not None and cpus >= 2 \
        and max(args.server_core, args.generator_core) < cpus and args.server_core != args.generator_core
    if not pin:
        print("fanout: server and generator NOT pinned (needs taskset and two distinct cores)",
              file=sys.stderr)
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"fanout: load average is {load:.2f}: other work on this machine skews the figures",
              file=sys.stderr)
    started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    report_path = Path(args.json) if args.json else HERE / "reports" / f"fanout-{started}.json"
    work = Path(tempfile.mkdtemp(prefix="taskflow-fanout-"))
    bench = Bench(args, work, pin)
    facts = machine_facts(pin, args)
    results: list[dict[str, Any]] = []
    interrupted = False
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with redis_for(bench) as redis_url:
            for run in range(1, args.runs + 1):
                order = args.servers if run % 2 else list(reversed(args.servers))
                for (subscribers, writes), kind in ((sc, k) for sc in args.scales for k in order):
                    print(f"fanout: run {run}/{args.runs}: {kind}, {subscribers} subscribers, "
                          f"{writes} writes", file=sys.stderr)
                    result = measure(bench, kind, redis_url, run, subscribers, writes)
                    results.append(result)
                    print(f"fanout:   {result['delivered']}/{result['expected']} delivered, "
                          f"{result['deliveries_per_s'] or 0:,.0f}/s, "
                          f"{result['server_cpu_s_per_100k'] or 0:.2f} CPU-s/100k, "
                          f"{result['kb_per_connection']:.1f} kB/conn", file=sys.stderr)
    except BenchError as exc:
        print(f"fanout: {exc}", file=sys.stderr)
        interrupted = True
    except KeyboardInterrupt:
        print("fanout: interrupted", file=sys.stderr)
        interrupted = True
    finally:
        bench.stop_all()
        signal.signal(signal.SIGTERM, previous)
        if args.keep or interrupted:
            print(f"fanout: work dir (logs) kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not results:
        return 1
    servers = [s for s in args.servers if any(r["server"] == s for r in results)]
    summary = summarize_scales(results, servers)
    report = {"started": started, "complete": not interrupted,
              "config": {"scales": [f"{n}x{w}" for n, w in args.scales], "runs": args.runs,
                         "idle_seconds": args.idle_seconds,
                         "write_concurrency": args.write_concurrency,
                         "servers": args.servers, "taskflow_env": args.taskflow_env,
                         "redis": "private" if not args.redis_url and shutil.which("redis-server")
                         else args.redis_url or "redis://127.0.0.1:6379/0"},
              "machine": facts, "results": results, "summary": summary}
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    runs = len({r["run"] for r in results})
    for scale, scale_summary in summary["scales"].items():
        subscribers, writes = scale.split("x")
        print(f"\n{subscribers} subscribers x {writes} writes")
        print(render(scale_summary, servers, runs))
    if summary["taskflow_cost_spread"]:
        costs = ", ".join(f"{sc}: {c:.2f}" for sc, c in summary["taskflow_cpu_per_100k_by_scale"].items()
                          if c is not None)
        print(f"\nTaskFlow CPU-s per 100k deliveries by scale: {costs} "
              f"(highest / lowest {summary['taskflow_cost_spread']:.2f})")
    print(f"\nreport: {report_path}")
    short = [r for r in results if r["delivered"] < r["expected"] or r["write_errors"]]
    for r in short:
        print(f"WARNING: run {r['run']} {r['server']}: {r['delivered']}/{r['expected']} delivered, "
              f"write errors {r['write_errors']}", file=sys.stderr)
    return 1 if interrupted or short else 0


if __name__ == "__main__":
    sys.exit(main())
