"""The MongoDB the storage tests run against: a real server when TASKFLOW_TEST_MONGODB_URI is
set, else the NX-27017 emulator (PyPI `nx-27017`: the MongoDB wire protocol over SQLite),
started here on a free 127.0.0.1 port and stopped at the end.

No package registry reachable here ships a MongoDB server, so the emulator is the stand-in;
what it does not cover is listed in EMULATOR_GAPS (and in the README), and the tests that
need it skip on the emulator with that reason.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.support.processes import clean_env, free_port

# nx-27017 through a launcher that fixes one upstream bug (see nx_launcher.py).
EMULATOR = [sys.executable, str(Path(__file__).with_name("nx_launcher.py"))]
REAL_URI_VARIABLE = "TASKFLOW_TEST_MONGODB_URI"

# Why a test can't run on the emulator; each reason names the gap (measured with nx-27017 0.8.1).
EMULATOR_GAPS = {
    "concurrent-transactions": (
        "NX-27017 runs every session's transaction on one shared SQLite connection (a second "
        "open transaction is a nested SAVEPOINT): concurrent transactions commit or roll back "
        "each other's writes and never raise WriteConflict/TransientTransactionError"),
    "isolation": (
        "NX-27017 has no transaction isolation: writes of an open transaction are visible to "
        "every other client before commit"),
}


@dataclass
class MongoTarget:
    """Where the MongoDB tests go; `emulator` tells whether EMULATOR_GAPS apply."""

    uri: str
    emulator: bool
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log: Any = field(default=None, repr=False)

    def database_uri(self, database: str) -> str:
        """The target's URI naming `database` (options and credentials kept)."""
        parts = urlsplit(self.uri)
        return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


def mongo_target(workdir: Path) -> MongoTarget:
    """The real server of TASKFLOW_TEST_MONGODB_URI, or a fresh emulator in `workdir`."""
    real = os.environ.get(REAL_URI_VARIABLE, "").strip()
    if real:
        return MongoTarget(uri=real, emulator=False)
    return start_emulator(workdir)


def start_emulator(workdir: Path, timeout: float = 20.0) -> MongoTarget:
    """NX-27017 on a free port, databases in memory; raises with its log if it won't listen."""
    workdir.mkdir(parents=True, exist_ok=True)
    last = ""
    for _ in range(3):  # another process may take the free port before the emulator binds it
        port = free_port()
        log_path = workdir / f"nx-27017-{port}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [*EMULATOR, "--data-dir", "memory", "--host", "127.0.0.1", "--port", str(port),
             "--log-file", str(workdir / f"nx-{port}.internal.log"),
             "--pid-file", str(workdir / f"nx-{port}.pid")],
            env=clean_env({}, workdir), cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        target = MongoTarget(uri=f"mongodb://127.0.0.1:{port}/", emulator=True, process=process,
                             log_path=log_path, _log=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if _answers(port):
                return target
            time.sleep(0.05)  # poll interval while the emulator starts listening
        last = target.log()
        target.stop()
    raise RuntimeError(f"the MongoDB emulator ({' '.join(EMULATOR)}) did not start; its log:\n{last}")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
