"""Fixtures for the container tests: deploy/containers.sh on a real engine (podman, or docker).

The image is built once per run (cached layers and stand-in base images make a warm build
quick); one module-scoped fixture per thing started (the embedded container, the compose
stack, the Kubernetes pods), each torn down by `containers.sh down` whatever happened. Runs
on one machine take turns through a lock file: they share the engine's names and networks.

No engine is a failure, not a skip: scripts/bootstrap-system.sh installs podman. Outside CI,
TASKFLOW_TEST_CONTAINERS=0 skips these tests, saying so.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import LiveClients
from tests.support.live import Activity
from tests.support.restclient import Rest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "containers.sh"
LOCK = Path("/tmp/taskflow-containers.lock")
PROJECT = "taskflowct"
BUILD_TIMEOUT = 2400  # a cold build: stand-in base images, npm ci and pip install inside

NOTES: list[str] = []  # figures and facts for the end of the run (pytest_terminal_summary)


def note(line: str) -> None:
    NOTES.append(line)
    print(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if NOTES:
        terminalreporter.section("containers: what ran, and the figures")
        for line in NOTES:
            terminalreporter.write_line(line)


class ScriptFailed(RuntimeError):
    """containers.sh exited non-zero; the message carries its output."""


@dataclass
class Containers:
    """deploy/containers.sh with this run's state dir, and the engine it chose."""

    state: Path
    engine: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {**os.environ, "TASKFLOW_CONTAINERS_DIR": str(self.state),
                    "TASKFLOW_CONTAINERS_PROJECT": PROJECT,
                    "CONTAINERS_CONF": str(REPO / "deploy" / "podman" / "containers.conf")}

    def script(self, *args: str, timeout: float = 600, check: bool = True
               ) -> subprocess.CompletedProcess[str]:
        """Runs containers.sh; what it says (stderr) goes to the test's output."""
        started = time.monotonic()
        result = subprocess.run(["bash", str(SCRIPT), *args], env=self.env, cwd=REPO,
                                capture_output=True, text=True, timeout=timeout, check=False,
                                stdin=subprocess.DEVNULL)
        took = time.monotonic() - started
        print(f"$ containers.sh {' '.join(args)}  ({took:.1f} s, exit {result.returncode})\n"
              f"{result.stderr}")
        if check and result.returncode != 0:
            raise ScriptFailed(f"containers.sh {' '.join(args)} exited {result.returncode}:\n"
                               f"{result.stdout}\n{result.stderr}")
        return result

    def run(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        """The engine itself (podman ... / docker ...); returns stdout."""
        result = subprocess.run([self.engine, *args], env=self.env, capture_output=True,
                                text=True, timeout=timeout, check=False,
                                stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise ScriptFailed(f"{self.engine} {' '.join(args)} exited {result.returncode}:\n"
                               f"{result.stdout}\n{result.stderr}")
        return result.stdout.strip()

    def inspect(self, name: str, template: str) -> str:
        return self.run("inspect", "--format", template, name)

    def service(self, service: str) -> str:
        """The container of a compose service."""
        name = self.run("ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
                        "--filter", f"label=com.docker.compose.service={service}",
                        "--format", "{{.Names}}").splitlines()
        assert name, f"no container for compose service {service}"
        return name[0]

    def healthy(self, name: str) -> bool:
        """Runs the container's HEALTHCHECK once (containers.sh health)."""
        return self.script("health", name, timeout=60, check=False).returncode == 0


@dataclass
class Published:
    """Ports on 127.0.0.1: `port` (nginx, or the single container), instance K on port + K."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def instance_url(self, k: int) -> str:
        return f"http://127.0.0.1:{self.port + k}"


def free_port_run(n: int) -> int:
    """A port P such that P..P+n-1 are free on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base: int = probe.getsockname()[1]
        if base + n > 65000:
            continue
        with contextlib.ExitStack() as stack:
            try:
                for k in range(n):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", base + k))
            except OSError:
                continue
        return base
    raise RuntimeError(f"no run of {n} free ports")


@contextlib.contextmanager
def _machine_lock(timeout: float = 3600) -> Iterator[None]:
    """One container test run at a time on this machine (they share names and networks)."""
    with LOCK.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)  # poll interval of the lock above (flock has no timeout)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def containers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containers]:
    """The engine, a clean slate, and the images built (taskflow:local, taskflow-edge:local)."""
    if os.environ.get("TASKFLOW_TEST_CONTAINERS") == "0" and not os.environ.get("CI"):
        pytest.skip("TASKFLOW_TEST_CONTAINERS=0: the container tests were asked not to run")
    ctl = Containers(tmp_path_factory.mktemp("containers"))
    found = ctl.script("engine", check=False, timeout=120)
    if found.returncode != 0:
        pytest.fail(f"no container engine: {found.stderr.strip()} "
                    "(scripts/bootstrap-system.sh installs podman)", pytrace=False)
    ctl.engine = found.stdout.strip()
    with _machine_lock():
        ctl.script("down", timeout=300)  # whatever an interrupted run left
        started = time.monotonic()
        built = ctl.script("build", timeout=BUILD_TIMEOUT)
        note(f"engine: {ctl.engine}; build (stand-ins and images, cached when present): "
             f"{time.monotonic() - started:.0f} s")
        for line in built.stderr.splitlines():
            if any(key in line for key in ("stand-in", "web client", "built ", "python:",
                                           "node:", "nginx:", "redis:")):
                note("  " + line.removeprefix("containers.sh: "))
        try:
            yield ctl
        finally:
            ctl.script("down", timeout=300)


@pytest.fixture
def activity() -> Activity:
    return Activity()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


def rest_of(target: Published, http: httpx.AsyncClient) -> Rest:
    """tests.support.restclient.Rest on published ports (it needs url and instance_url)."""
    return Rest(target, http)  # type: ignore[arg-type]


def live_of(target: Published, activity: Activity) -> LiveClients:
    return LiveClients(target, activity)  # type: ignore[arg-type]
