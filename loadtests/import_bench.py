"""POST /api/v1/boards/import of a large generated Trello export: time and peak server RSS.

    .venv/bin/python loadtests/import_bench.py [--mb 100] [--keep]

Generates a Trello board export of about `--mb` MB (tests/support/trello_gen.py: cards with
long descriptions, checklists on a fifth of them, comments filling the rest), starts
`taskflow serve` (embedded SQLite, Uvicorn) with TASKFLOW_MAX_IMPORT_MB above that size,
imports the small hand-written fixture once (warm-up), resets the server's peak RSS
(/proc/PID/clear_refs), streams the big file to it, and prints the time the import took,
the server's RSS before and its peak during the import, and what was imported; then it
exports that board as JSON (streamed) and prints the same for the export.
A benchmark: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from local import REPO, free_port

sys.path.insert(0, str(REPO))
from tests.support.trello_gen import write_trello_export


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="import-bench-"))
    export = work / "trello.json"
    started = time.perf_counter()
    cards = write_trello_export(export, args.mb * 1024 * 1024)
    size = export.stat().st_size
    print(f"generated {size / 2**20:.1f} MB, {cards} cards in "
          f"{time.perf_counter() - started:.1f} s")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TZ")}
    env.update({"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test",
                "TASKFLOW_DATA_DIR": str(work / "data"), "TASKFLOW_SERVER": "uvicorn",
                "TASKFLOW_MAX_IMPORT_MB": str(args.mb * 2),
                "TASKFLOW_IMPORT_MAX_TASKS": "10000000"})
    log = (work / "server.log").open("wb")
    proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "taskflow"), "serve", "--host",
                             "127.0.0.1", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"server not healthy; see {work / 'server.log'}")
            time.sleep(0.05)  # polling for health, not synchronisation
        with httpx.Client(base_url=url, timeout=3600) as http:
            session = http.post("/api/v1/auth/register", json={
                "email": "bench@example.com", "password": "correct horse", "name": "Bench"})
            headers = {"Authorization": f"Bearer {session.json()['access_token']}",
                       "Content-Type": "application/json"}
            small = REPO / "tests" / "fixtures" / "trello_board.json"
            http.post("/api/v1/boards/import", content=small.read_bytes(), headers=headers)
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
            before = kib(proc.pid, "VmRSS")

            def chunks() -> Iterator[bytes]:
                with export.open("rb") as file:
                    while chunk := file.read(256 * 1024):
                        yield chunk

            started = time.perf_counter()
            r = http.post("/api/v1/boards/import", content=chunks(), headers=headers)
            took = time.perf_counter() - started
            peak = kib(proc.pid, "VmHWM")
            if r.status_code != 201:
                raise RuntimeError(f"import answered {r.status_code}: {r.text[:500]}")
            board = r.json()
            stats = http.get(f"/api/v1/boards/{board['id']}/stats", headers=headers).json()
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
            settled = kib(proc.pid, "VmRSS")
            started = time.perf_counter()
            exported = 0
            with http.stream("GET", f"/api/v1/boards/{board['id']}/export",
                             headers=headers) as response:
                for chunk in response.iter_bytes():
                    exported += len(chunk)
            export_took = time.perf_counter() - started
            export_peak = kib(proc.pid, "VmHWM")
        print(f"imported {size / 2**20:.1f} MB: {stats['total']} tasks, {board['seq']} events "
              f"in {took:.1f} s ({size / 2**20 / took:.2f} MB/s)")
        print(f"server RSS before {before / 1024:.1f} MB, peak during the import "
              f"{peak / 1024:.1f} MB (+{(peak - before) / 1024:.1f} MB)")
        print(f"exported it again as JSON: {exported / 2**20:.1f} MB in {export_took:.1f} s; "
              f"server RSS {settled / 1024:.1f} MB before, peak {export_peak / 1024:.1f} MB "
              f"(+{(export_peak - settled) / 1024:.1f} MB)")
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
