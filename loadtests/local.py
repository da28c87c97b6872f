"""What the load-test scripts share to run things on this machine: free ports, a private
redis-server, and the server of another git commit for A/B runs.

Imported by the scripts beside it (`python loadtests/X.py` puts this directory on sys.path)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO / ".venv" / "bin" / "python"


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
