"""Real `taskflow` processes for tests: start on a free port, wait until healthy, stop or kill.

Only the standard library is used (http.client, subprocess), so these helpers run wherever
the server runs. Every process writes its stdout and stderr to one log file per start, which
is quoted in the error when a start fails.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TASKFLOW = str(Path(sys.executable).with_name("taskflow"))
# Every server a test starts serves /metrics on its public port to this token alone
# (http/metrics.py); METRICS_AUTH is the header that bears it.
METRICS_TOKEN = secrets.token_urlsafe(24)
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}
_PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(env: Mapping[str, str], tmp: Path | None = None) -> dict[str, str]:
    """`env` on top of a minimal environment: nothing from the test runner's own settings
    (REDIS_URL, JWT_SECRET...) leaks into the server."""
    base = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    base["PYTHONUNBUFFERED"] = "1"
    base["PYTHONDONTWRITEBYTECODE"] = "1"
    base["TASKFLOW_METRICS_TOKEN"] = METRICS_TOKEN
    if tmp is not None:
        base["HOME"] = str(tmp)
        base["TMPDIR"] = str(tmp)
    base.update(env)
    return base


def run_taskflow(args: list[str], env: Mapping[str, str], *, cwd: Path,
                 timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Runs `taskflow <args>` to completion (for commands expected to exit by themselves)."""
    return subprocess.run([TASKFLOW, *args], env=clean_env(env, cwd), cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def http_request(port: int, method: str, path: str, *, json: Any = None,
                 headers: Mapping[str, str] | None = None, token: str | None = None,
                 body: bytes | None = None, timeout: float = 10.0) -> HttpResponse:
    """One HTTP/1.1 request to 127.0.0.1:`port` (no proxies, no redirects)."""
    sent = dict(headers or {})
    if json is not None:
        body = jsonlib.dumps(json).encode()
        sent.setdefault("Content-Type", "application/json")
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read()
        return HttpResponse(status=response.status,
                            headers={k.lower(): v for k, v in response.getheaders()}, body=data)
    finally:
        conn.close()


class ServerFailed(RuntimeError):
    """The server did not start (or did not stop); the message carries its log."""


@dataclass
class TaskflowServer:
    """`taskflow serve` as a child process. start() may be called again after stop()/kill()
    (a restart on the same data dir); each start gets a fresh port and a fresh log file."""

    env: Mapping[str, str]
    workdir: Path
    name: str = "taskflow"
    start_timeout: float = 30.0
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    starts: int = 0
    _log_file: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> TaskflowServer:
        """Starts the process and returns once GET /api/v1/health answers 200."""
        assert not self.running, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        last_log = ""
        for _ in range(3):  # another process may grab the free port before the server binds it
            self._spawn()
            try:
                self._wait_healthy()
                return self
            except ServerFailed:
                last_log = self.log()
                if self.running or "address already in use" not in last_log.lower():
                    self.kill()
                    raise
                self._reap()
        raise ServerFailed(f"{self.name} could not bind a port; last log:\n{last_log}")

    def launch(self) -> None:
        """Starts the process without waiting for it (see start_together)."""
        assert not self.running, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._spawn()

    def wait_ready(self) -> None:
        """Waits until a launched process answers GET /api/v1/health (ServerFailed if not)."""
        try:
            self._wait_healthy()
        except ServerFailed:
            self.kill()
            raise

    def _spawn(self) -> None:
        self.starts += 1
        self.port = free_port()
        self.log_path = self.workdir / f"{self.name}-{self.starts}.log"
        self._log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [TASKFLOW, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=clean_env(self.env, self.workdir), cwd=self.workdir,
            stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise ServerFailed(f"{self.name} exited with {self.process and self.process.returncode}"
                                   f" before answering; log:\n{self.log()}")
            try:
                if http_request(self.port, "GET", "/api/v1/health", timeout=1.0).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)  # poll interval, not synchronisation: the loop waits for health
        raise ServerFailed(f"{self.name} not healthy after {self.start_timeout}s; log:\n{self.log()}")

    def log(self) -> str:
        """Everything the current (or last) run wrote to stdout and stderr."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def log_with(self, text: str, timeout: float = 10.0) -> str:
        """The log once it holds `text` (the server writes its log from a thread of its own,
        so a line logged before a response may land in the file just after it)."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the log file for one line, not synchronisation
        return log

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it hasn't exited within `timeout`; returns the exit code."""
        if self.process is None:
            raise ServerFailed("not started")
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self._reap()

    def kill(self) -> int:
        """SIGKILL: no shutdown code runs, like a crash or the OOM killer."""
        if self.process is None:
            raise ServerFailed("not started")
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(15.0)
        return self._reap()

    def _reap(self) -> int:
        assert self.process is not None
        code = self.process.wait(15.0)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    def request(self, method: str, path: str, **kwargs: Any) -> HttpResponse:
        return http_request(self.port, method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("PATCH", path, **kwargs)


@contextmanager
def start_together(servers: list[TaskflowServer]) -> Iterator[list[TaskflowServer]]:
    """Launches every server at once (no waiting between them), then waits for each to be
    healthy; all are stopped on the way out."""
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            if server.running:
                server.stop()
            elif server.process is not None and server._log_file is not None:
                server._reap()


@contextmanager
def serving(env: Mapping[str, str], workdir: Path, *, name: str = "taskflow") -> Iterator[TaskflowServer]:
    """A started server, stopped (or killed, if SIGTERM doesn't do it) on the way out."""
    server = TaskflowServer(env=env, workdir=workdir, name=name)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.stop()
