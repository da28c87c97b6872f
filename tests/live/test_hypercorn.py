"""Hypercorn stays supported: the same app, REST and live, on TASKFLOW_SERVER=hypercorn."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from tests.support.liveclient import LiveClient
from tests.support.processes import serving


@pytest.mark.parametrize("transports", [["websocket"], ["polling", "websocket"]])
async def test_rest_and_live_on_hypercorn(tmp_path: Path, transports: list[str]) -> None:
    env = {"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_SERVER": "hypercorn",
           "TASKFLOW_DATA_DIR": str(tmp_path / "data")}
    with serving(env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            r = await http.post("/api/v1/auth/register", json={
                "email": "hyper@example.com", "password": "hypercorn!", "name": "H"})
            token = r.json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            board = (await http.post("/api/v1/boards", json={"name": "h"}, headers=headers)).json()
            live = await LiveClient(server.url, token, transports=transports).connect()
            try:
                assert (await live.join(board["id"]))["ok"] is True
                await http.post("/api/v1/tasks", json={"board_id": board["id"], "title": "x"},
                                headers=headers)
                await live.wait_until(lambda: len(live.board_events(board["id"])) == 1)
            finally:
                await live.close()
        assert "serving on hypercorn" in server.log()
        assert server.stop() == 0
