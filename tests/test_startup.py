"""Several instances starting at once on one new SQLite file all come up.

Setting WAL mode and creating the schema take the file's write lock; an instance that meets
another one holding it must wait (busy_timeout), not die with "database is locked".
"""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.support.processes import TaskflowServer, start_together


def test_instances_starting_together_on_a_new_sqlite_file_all_become_ready(tmp_path: Path) -> None:
    env = {
        "JWT_SECRET": secrets.token_urlsafe(48),
        "TASKFLOW_ENV": "test",
        "TASKFLOW_DATA_DIR": str(tmp_path / "data"),  # shared: one new database file
    }
    servers = [TaskflowServer(env=env, workdir=tmp_path / f"i{n}", name=f"taskflow-{n}")
               for n in range(4)]
    with start_together(servers):
        for server in servers:
            assert server.get("/api/v1/ready").status == 200, server.log()
        token = servers[0].post("/api/v1/auth/register", json={
            "email": "a@example.com", "password": "correct horse", "name": "A"}).json()
        # every instance serves the same store: a login made on one is known to the others
        for server in servers[1:]:
            assert server.get("/api/v1/users/me", token=token["access_token"]).status == 200
