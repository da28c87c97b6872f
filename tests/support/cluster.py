"""A real TaskFlow cluster for tests: N instances + nginx (loadtests/cluster.sh) and a private Redis.

The Redis is always our own `redis-server` on a free port, never the machine's: tests may stop
and restart it, and its keys (rate-limit counters, presence, pub/sub) stay out of everyone
else's way. Only the standard library is used; every process started here is stopped by
`down()` / `stop()`, which the fixtures call on the way out whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import clean_env, free_port, http_request
from tests.support.rediscluster import RedisClusterServer

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "loadtests" / "cluster.sh"
REDIS_SERVER = "redis-server"


class ClusterFailed(RuntimeError):
    """cluster.sh or redis-server did not do what was asked; the message carries their output."""


def _redis_ping(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A private `redis-server` (no persistence) that can be stopped and started on one port."""

    workdir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Starts it (on the same port as before, if it ran before) and waits for PONG."""
        assert not self.running, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        self.starts += 1
        log = (self.workdir / f"redis-{self.starts}.log").open("wb")
        try:
            self.process = subprocess.Popen(
                [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                 "--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=clean_env({}))
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                break
            if _redis_ping(self.port):
                return self
            time.sleep(0.05)  # poll interval of the PING condition above
        self.stop()
        raise ClusterFailed(f"redis-server on port {self.port} did not answer PING in {timeout}s")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Signals our own redis-server process (only it) and reaps it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.process = None


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" not in line or line.lstrip().startswith("#"):
            continue
        key, _, raw = line.partition("=")
        parts = shlex.split(raw)
        values[key.strip()] = parts[0] if parts else ""
    return values


@dataclass
class Cluster:
    """What `cluster.sh up` started: nginx on `port`, instance K (1-based) on `instance_ports[K-1]`."""

    state_dir: Path
    env: dict[str, str]
    port: int = 0
    instance_ports: list[int] = field(default_factory=list)
    redis: RedisServer | RedisClusterServer | None = None

    @property
    def url(self) -> str:
        """nginx: what clients use."""
        return f"http://127.0.0.1:{self.port}"

    def instance_url(self, k: int) -> str:
        return f"http://127.0.0.1:{self.instance_ports[k - 1]}"

    @property
    def size(self) -> int:
        return len(self.instance_ports)

    def _run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        # Every command gets the same environment: restarted instances inherit it too.
        result = subprocess.run(["bash", str(CLUSTER_SH), *args], env=self.env, cwd=REPO,
                                capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise ClusterFailed(f"cluster.sh {' '.join(args)} exited {result.returncode}:\n"
                                f"{result.stdout}\n{result.stderr}\n{self.logs()}")
        return result

    @classmethod
    def up(cls, n: int, state_dir: Path, *, redis: RedisServer | RedisClusterServer,
           env: Mapping[str, str] | None = None) -> Cluster:
        """Starts N instances + nginx sharing `redis`; returns once all answer health."""
        passed = {k: os.environ[k] for k in ("TASKFLOW_BIN",) if k in os.environ}
        cluster_env = clean_env({
            **passed,  # another server command, as cluster.sh allows
            "TASKFLOW_CLUSTER_DIR": str(state_dir),
            "REDIS_URL": redis.url,
            "TASKFLOW_CLUSTER_TIMEOUT": "60",
            **(env or {}),
        })
        last: ClusterFailed | None = None
        for _ in range(3):  # the free port may be taken before nginx binds it
            cluster = cls(state_dir=state_dir, env=cluster_env, port=free_port(), redis=redis)
            try:
                cluster._run("up", str(n), str(cluster.port))
            except ClusterFailed as exc:
                last = exc
                if "already in use" not in str(exc):
                    raise
                continue
            facts = _read_env_file(state_dir / "cluster.env")
            if facts.get("CLUSTER_REDIS_URL") != redis.url:
                cluster.down()
                raise ClusterFailed(f"cluster uses {facts.get('CLUSTER_REDIS_URL')}, not {redis.url}")
            cluster.instance_ports = [int(p) for p in facts["INSTANCE_PORTS"].split()]
            return cluster
        raise ClusterFailed(f"no free port for nginx after 3 tries: {last}")

    def down(self) -> None:
        """Stops nginx and every instance (cluster.sh down); the state dir keeps the logs."""
        if (self.state_dir / "cluster.env").exists():
            self._run("down", str(self.port))

    def kill_instance(self, k: int) -> None:
        """SIGKILL instance K (its whole process group): a crash."""
        self._run("kill-instance", str(k), str(self.port), timeout=30)

    def stop_instance(self, k: int) -> None:
        """SIGTERM instance K: a graceful stop (a rolling deploy, a scale-in)."""
        self._run("stop-instance", str(k), str(self.port), timeout=60)

    def restart_instance(self, k: int) -> None:
        """(Re)starts instance K on its port and waits for its health."""
        self._run("restart-instance", str(k), str(self.port))

    def instance_alive(self, k: int) -> bool:
        try:
            return http_request(self.instance_ports[k - 1], "GET", "/api/v1/health",
                                timeout=2).status == 200
        except OSError:
            return False

    def wait_routed(self, k: int, timeout: float = 15.0) -> None:
        """Waits until nginx hands Socket.IO handshakes to instance K again (after a restart,
        nginx keeps a server that failed out of rotation for its fail_timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                r = http_request(self.port, "GET", "/socket.io/?EIO=4&transport=polling", timeout=2)
                if r.status == 200 and f'"sid":"i{k}.' in r.body.decode().replace(" ", ""):
                    return
            time.sleep(0.1)  # poll interval of the condition above
        raise ClusterFailed(f"nginx did not route a handshake to i{k} within {timeout}s")

    def logs(self, lines: int = 30) -> str:
        """The last lines of every instance's and nginx's log, for failure messages."""
        out = []
        for path in [*sorted(self.state_dir.glob("i*.log")), self.state_dir / "nginx-error.log"]:
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out)
