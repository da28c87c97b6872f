"""Every request gets one access line, in the layout of every other log line."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from tests.support.processes import serving

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d INFO    \[(?P<rid>[^\]]+)\] "
                  r"(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) \d+\.\dms$")


def test_each_request_is_logged_once_with_its_request_id(tmp_path: Path) -> None:
    env = {"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test",
           "TASKFLOW_DATA_DIR": str(tmp_path / "data")}
    with serving(env, tmp_path) as server:
        sent = {f"log-{n}": ("/api/v1/health" if n % 2 else "/api/v1/nope") for n in range(20)}
        for rid, path in sent.items():
            server.get(path, headers={"X-Request-ID": rid})
        generated = server.get("/api/v1/health").header("X-Request-ID")
        deadline = time.monotonic() + 10
        while True:
            lines = [m for m in map(LINE.match, server.log().splitlines()) if m]
            logged = {m["rid"]: m for m in lines}
            if generated in logged or time.monotonic() > deadline:
                break
            time.sleep(0.05)  # polling the log file for the last line, not synchronisation
    assert generated in logged, server.log()[-2000:]
    for rid, path in sent.items():
        assert [m["rid"] for m in lines].count(rid) == 1
        assert logged[rid]["path"] == path
        assert logged[rid]["status"] == ("200" if path.endswith("health") else "404")
