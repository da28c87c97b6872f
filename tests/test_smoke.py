from __future__ import annotations

from tests.support.api import make_board, make_task, register


async def test_register_board_task(client) -> None:  # type: ignore[no-untyped-def]
    ada = await register(client)
    board = await make_board(client, ada)
    task = await make_task(client, ada, board["id"], title="Hello")
    assert task["version"] == 1
    got = await client.get(f"/api/v1/tasks/{task['id']}", headers=ada.headers)
    assert got.status_code == 200
    assert got.headers["ETag"] == '"1"'
