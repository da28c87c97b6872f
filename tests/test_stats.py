"""Stats: right numbers, cached, and every write that changes them is seen at once."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from taskflow.app import create_app
from tests.support.api import make_board, make_task, register


async def _stats(client: Any, headers: dict[str, str], board_id: str | None = None) -> dict[str, Any]:
    path = f"/api/v1/boards/{board_id}/stats" if board_id else "/api/v1/stats"
    r = await client.get(path, headers=headers)
    assert r.status_code == 200
    body: dict[str, Any] = await r.get_json()
    return body


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


async def test_stats_count_what_the_contract_says(client: Any) -> None:
    ada = await register(client)
    board = await make_board(client, ada)
    bid = board["id"]
    await make_task(client, ada, bid, due_date=_iso(timedelta(days=-1)))          # overdue
    await make_task(client, ada, bid, due_date=_iso(timedelta(hours=20)))         # due soon
    await make_task(client, ada, bid, status="in_progress", due_date=_iso(timedelta(days=9)))
    await make_task(client, ada, bid, status="done", due_date=_iso(timedelta(days=-3)))
    stats = await _stats(client, ada.headers, bid)
    todo, doing, done = (c["id"] for c in board["columns"])
    assert stats == {"total": 4, "by_status": {"todo": 2, "in_progress": 1, "done": 1},
                     "overdue": 1, "due_soon": 1, "completed_last_7_days": 1,
                     "by_column": {todo: 2, doing: 1, done: 1}}


async def test_every_write_is_visible_in_the_next_read(client: Any) -> None:
    ada, bob = await register(client), await register(client, name="Bob")
    board = await make_board(client, ada)
    bid = board["id"]
    assert (await _stats(client, ada.headers, bid))["total"] == 0   # now cached
    task = await make_task(client, ada, bid)
    assert (await _stats(client, ada.headers, bid))["total"] == 1
    await client.patch(f"/api/v1/tasks/{task['id']}", headers=ada.headers, json={"status": "done"})
    assert (await _stats(client, ada.headers, bid))["by_status"]["done"] == 1
    assert (await _stats(client, ada.headers))["by_status"]["done"] == 1
    # joining a board changes the member's own stats
    assert (await _stats(client, bob.headers))["total"] == 0
    await client.post(f"/api/v1/boards/{bid}/members", headers=ada.headers,
                      json={"email": bob.email, "role": "viewer"})
    assert (await _stats(client, bob.headers))["total"] == 1
    await client.delete(f"/api/v1/tasks/{task['id']}", headers=ada.headers)
    assert (await _stats(client, ada.headers, bid))["total"] == 0
    assert (await _stats(client, bob.headers))["total"] == 0


async def test_stats_are_served_from_the_cache(app: Any, client: Any) -> None:
    ada = await register(client)
    board = await make_board(client, ada)
    cache = app.extensions["taskflow"].cache
    await _stats(client, ada.headers, board["id"])
    hits = cache.hits
    await _stats(client, ada.headers, board["id"])
    assert cache.hits == hits + 1


async def test_redis_cache_is_shared_and_read_your_writes_holds_across_instances(
    make_settings: Any,
) -> None:
    settings = make_settings(redis_url="redis://127.0.0.1:6379/0")
    first, second = create_app(settings), create_app(settings)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(first.test_app())
        await stack.enter_async_context(second.test_app())
        one, two = first.test_client(), second.test_client()
        ada = await register(one)
        board = await make_board(one, ada)
        assert (await _stats(two, ada.headers, board["id"]))["total"] == 0
        await make_task(one, ada, board["id"])
        assert (await _stats(two, ada.headers, board["id"]))["total"] == 1
        hits = second.extensions["taskflow"].cache.hits
        assert (await _stats(one, ada.headers, board["id"]))["total"] == 1
        assert (await _stats(two, ada.headers, board["id"]))["total"] == 1
        assert second.extensions["taskflow"].cache.hits == hits + 1
