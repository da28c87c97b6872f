"""What the load-test scripts share to run things on this machine: free ports, a private
redis-server, and the server of another git commit for A/B runs.

Imported by the scripts beside it (`python loadtests/X.py` puts this directory on sys.path)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
CLUSTER_SH = REPO / "loadtests" / "cluster.sh"
# /metrics answers on an instance's public port only to its token: the servers started from
# here inherit this one (or the one already in the environment, for a cluster of your own).
METRICS_TOKEN = os.environ.setdefault("TASKFLOW_METRICS_TOKEN", secrets.token_urlsafe(24))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redis_server_args(port: int, workdir: Path) -> list[str]:
    """A throwaway redis-server: loopback only, no persistence, never the machine's 6379."""
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed: run `bash loadtests/setup.sh`")
    return [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--protected-mode", "yes", "--dir", str(workdir)]


def wait_redis(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not redis_ping(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the private redis-server on port {port} did not start")
        time.sleep(0.05)  # poll interval: redis-server sends nothing when it is ready


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of its own on a free port for as long as the block runs; its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="taskflow-redis-") as workdir:
        proc = subprocess.Popen(redis_server_args(port, Path(workdir)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_redis(port, proc)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


@contextlib.contextmanager
def server_of(ref: str | None) -> Iterator[str]:
    """The `taskflow` command: this checkout's, or REF's sources (a detached git worktree,
    removed afterwards) run on this checkout's virtualenv."""
    if ref is None:
        yield str(REPO / ".venv" / "bin" / "taskflow")
        return
    tree = Path(tempfile.mkdtemp(prefix="taskflow-ref-"))
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), ref],
                   check=True, capture_output=True)
    try:
        wrapper = tree / "taskflow-bin"
        wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{tree}/server" exec "{VENV_PYTHON}" '
                           f'-m taskflow "$@"\n')
        wrapper.chmod(0o755)
        yield str(wrapper)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                       capture_output=True, check=False)


def address(n: int) -> str:
    """A distinct client address per user or socket (198.18.0.0/15, the benchmark range),
    sent as X-Forwarded-For: the cluster trusts it from nginx's 127.0.0.1, so each simulated
    client has rate limits of its own."""
    return f"198.18.{n // 250}.{n % 250 + 1}"


@contextlib.contextmanager
def cluster(instances: int, redis_url: str, server: str,
            env: dict[str, str] | None = None) -> Iterator[Path]:
    """loadtests/cluster.sh with INSTANCES instances behind nginx on a free port, sharing
    `redis_url` and a new SQLite file; yields its state directory (cluster.env, i<k>.pid,
    i<k>.port, the logs); stopped and removed afterwards."""
    state = Path(tempfile.mkdtemp(prefix="taskflow-cluster-state-"))
    data = Path(tempfile.mkdtemp(prefix="taskflow-cluster-data-"))
    port = free_port()
    run_env = {**os.environ, "TASKFLOW_CLUSTER_DIR": str(state), "REDIS_URL": redis_url,
               "TASKFLOW_BIN": server, "TASKFLOW_ENV": "test", "TASKFLOW_DATA_DIR": str(data),
               **(env or {})}
    try:
        # The schema first, once: instances starting together on a new SQLite file can
        # collide while creating it ("database is locked", seen on a loaded machine).
        subprocess.run([server, "db", "init"], env=run_env, capture_output=True, text=True,
                       timeout=120, check=True)
        up = subprocess.run(["bash", str(CLUSTER_SH), "up", str(instances), str(port)],
                            env=run_env, capture_output=True, text=True, timeout=120,
                            check=False)
        if up.returncode != 0:
            raise SystemExit(f"cluster.sh up failed ({up.returncode}):\n"
                             + "\n".join((up.stdout + up.stderr).splitlines()[-30:]))
        yield state
    finally:
        # `down` gives each instance 15 s to stop before SIGKILL.
        subprocess.run(["bash", str(CLUSTER_SH), "down", str(port)], env=run_env,
                       capture_output=True, timeout=300, check=False)
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


async def gauges(http: httpx.AsyncClient, url: str) -> dict[str, float]:
    """Every unlabelled sample of the server at `url`'s /metrics, by name."""
    values = {}
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    for line in (await http.get(f"{url}/metrics", headers=auth)).text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            values[name] = float(value.split(" ")[0])
    return values
