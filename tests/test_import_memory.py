"""A large import streams: the server's memory grows far less than the file it imports."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.processes import serving
from tests.support.trello_gen import write_trello_export

SIZE = 24 * 1024 * 1024


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.timeout(600)
def test_a_large_trello_import_keeps_memory_well_below_its_size(tmp_path: Path) -> None:
    export = tmp_path / "big.json"
    cards = write_trello_export(export, SIZE)
    size = export.stat().st_size
    env = {"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test",
           "TASKFLOW_DATA_DIR": str(tmp_path / "data"), "TASKFLOW_MAX_IMPORT_MB": "64"}
    with serving(env, tmp_path / "work") as server, httpx.Client(base_url=server.url,
                                                                  timeout=600) as http:
        assert server.process is not None
        pid = server.process.pid
        r = http.post("/api/v1/auth/register", json={
            "email": f"big-{uuid.uuid4().hex[:8]}@example.com", "password": "correct horse",
            "name": "Big"})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}",
                   "Content-Type": "application/json"}
        # Warm up (code paths, the store's caches), then count peak memory from here on.
        small = Path(__file__).parent / "fixtures" / "trello_board.json"
        assert http.post("/api/v1/boards/import", content=small.read_bytes(),
                         headers=headers).status_code == 201
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM, the peak RSS
        before = _kib(pid, "VmRSS")

        def chunks() -> object:
            with export.open("rb") as file:
                while chunk := file.read(256 * 1024):
                    yield chunk

        r = http.post("/api/v1/boards/import", content=chunks(), headers=headers)
        assert r.status_code == 201, r.text
        peak = _kib(pid, "VmHWM")
        board = r.json()
        stats = http.get(f"/api/v1/boards/{board['id']}/stats", headers=headers).json()
        assert stats["total"] == cards
    growth = (peak - before) * 1024
    print(f"imported {size / 2**20:.1f} MB ({cards} cards): peak RSS grew "
          f"{growth / 2**20:.1f} MB")
    assert growth < size / 2, f"peak RSS grew {growth / 2**20:.1f} MB for a {size / 2**20:.1f} MB file"
