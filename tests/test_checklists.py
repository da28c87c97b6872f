"""Checklist items on tasks: shape, roles, limits, versions, events, concurrent ticks."""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Captured
from tests.support.api import make_board, make_task, problem, register
from tests.support.processes import TaskflowServer, start_together


@pytest.fixture
async def team(client: Any) -> dict[str, Any]:
    owner = await register(client, name="Owner")
    editor = await register(client, name="Editor")
    viewer = await register(client, name="Viewer")
    board = await make_board(client, owner, members={"e": editor, "v": viewer},
                             roles={"v": "viewer"})
    task = await make_task(client, owner, board["id"], title="Ship it")
    return {"owner": owner, "editor": editor, "viewer": viewer, "board": board, "task": task}


def _url(team: dict[str, Any], item_id: str | None = None) -> str:
    base = f"/api/v1/tasks/{team['task']['id']}/checklist"
    return base if item_id is None else f"{base}/{item_id}"


async def _add(client: Any, team: dict[str, Any], text: str, **fields: Any) -> dict[str, Any]:
    r = await client.post(_url(team), headers=team["editor"].headers, json={"text": text, **fields})
    assert r.status_code == 201, await r.get_data(as_text=True)
    item: dict[str, Any] = await r.get_json()
    return item


async def _task(client: Any, team: dict[str, Any]) -> dict[str, Any]:
    r = await client.get(f"/api/v1/tasks/{team['task']['id']}", headers=team["viewer"].headers)
    body: dict[str, Any] = await r.get_json()
    return body


async def test_items_are_added_ticked_renamed_reordered_and_deleted(
        client: Any, team: dict[str, Any], published: Captured) -> None:
    assert team["task"]["checklist"] == []
    first = await _add(client, team, "  Write tests ")
    assert first == {"id": first["id"], "text": "Write tests", "done": False, "position": 1024.0}
    second = await _add(client, team, "Ship", done=True)
    assert (second["position"], second["done"]) == (2048.0, True)
    r = await client.patch(_url(team, first["id"]), headers=team["editor"].headers,
                           json={"done": True, "text": "Write more tests"})
    assert r.status_code == 200
    assert r.headers["ETag"] == '"4"'
    assert (await r.get_json())["text"] == "Write more tests"
    # Reorder: a position before the first item.
    r = await client.patch(_url(team, second["id"]), headers=team["editor"].headers,
                           json={"position": 512})
    task = await _task(client, team)
    assert [i["id"] for i in task["checklist"]] == [second["id"], first["id"]]
    assert task["version"] == 5
    r = await client.delete(_url(team, second["id"]), headers=team["editor"].headers)
    assert r.status_code == 204 and r.headers["ETag"] == '"6"'
    task = await _task(client, team)
    assert [(i["text"], i["done"]) for i in task["checklist"]] == [("Write more tests", True)]
    # One task:updated per change, carrying the task view with its checklist.
    events = [e for e in published.of_board(team["board"]["id"]) if e.type == "task:updated"]
    assert [e.data["version"] for e in events] == [2, 3, 4, 5, 6]
    assert events[-1].data == task
    # Listings carry the checklist too.
    r = await client.get(f"/api/v1/tasks?board_id={team['board']['id']}",
                         headers=team["owner"].headers)
    assert (await r.get_json())["items"][0]["checklist"] == task["checklist"]


async def test_a_change_that_changes_nothing_emits_nothing(client: Any, team: dict[str, Any],
                                                           published: Captured) -> None:
    item = await _add(client, team, "Once")
    before = len(published.events)
    r = await client.patch(_url(team, item["id"]), headers=team["editor"].headers,
                           json={"text": "Once", "done": False})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'
    assert len(published.events) == before
    assert (await _task(client, team))["version"] == 2


async def test_roles_and_unknown_items(client: Any, team: dict[str, Any]) -> None:
    item = await _add(client, team, "x")
    viewer, stranger = team["viewer"], await register(client, name="Eve")
    await problem(await client.post(_url(team), headers=viewer.headers, json={"text": "y"}),
                  403, "forbidden")
    await problem(await client.patch(_url(team, item["id"]), headers=viewer.headers,
                                     json={"done": True}), 403, "forbidden")
    await problem(await client.delete(_url(team, item["id"]), headers=viewer.headers), 403)
    await problem(await client.post(_url(team), headers=stranger.headers, json={"text": "y"}),
                  404, "not_found")
    await problem(await client.patch(_url(team, "nope"), headers=team["editor"].headers,
                                     json={"done": True}), 404, "not_found")
    await problem(await client.delete(_url(team, "nope"), headers=team["owner"].headers), 404)


async def test_validation_and_the_item_limit(client: Any, team: dict[str, Any]) -> None:
    editor = team["editor"].headers
    for body in ({"text": ""}, {"text": "x" * 501}, {"text": "ok", "id": "x"},
                 {"text": "ok", "position": "nan"}, {}):
        await problem(await client.post(_url(team), headers=editor, json=body), 422,
                      "validation_failed")
    item = await _add(client, team, "x" * 500)
    for body in ({"text": None}, {"done": None}, {"version": 3}):
        await problem(await client.patch(_url(team, item["id"]), headers=editor, json=body), 422)
    for n in range(99):
        await _add(client, team, f"item {n}")
    await problem(await client.post(_url(team), headers=editor, json={"text": "101st"}), 422,
                  "validation_failed")
    assert len((await _task(client, team))["checklist"]) == 100


async def test_stale_if_match_is_412_with_the_current_task(client: Any,
                                                           team: dict[str, Any]) -> None:
    item = await _add(client, team, "x")  # version 2
    stale = {**team["editor"].headers, "If-Match": '"1"'}
    body = await problem(await client.patch(_url(team, item["id"]), headers=stale,
                                            json={"done": True}), 412, "precondition_failed")
    assert body["current"]["version"] == 2 and body["current"]["checklist"][0]["done"] is False
    await problem(await client.post(_url(team), headers=stale, json={"text": "y"}), 412)
    await problem(await client.delete(_url(team, item["id"]), headers=stale), 412)
    fresh = {**team["editor"].headers, "If-Match": '"2"'}
    r = await client.patch(_url(team, item["id"]), headers=fresh, json={"done": True})
    assert r.status_code == 200 and r.headers["ETag"] == '"3"'


async def test_crowded_positions_are_spread_out_again(client: Any, team: dict[str, Any]) -> None:
    a = await _add(client, team, "a")
    b = await _add(client, team, "b")
    low, high = a["position"], b["position"]
    for n in range(60):  # halve the gap until it is too small
        mid = (low + high) / 2
        r = await client.patch(_url(team, b["id"] if n % 2 else a["id"]),
                               headers=team["editor"].headers, json={"position": mid})
        assert r.status_code == 200
        low, high = (low, mid) if n % 2 else (mid, high)
    positions = [i["position"] for i in (await _task(client, team))["checklist"]]
    assert positions == sorted(positions) and len(set(positions)) == 2
    assert positions[1] - positions[0] >= 1e-6


async def test_concurrent_ticks_of_different_items_all_land(client: Any, team: dict[str, Any],
                                                            published: Captured) -> None:
    items = [await _add(client, team, f"item {n}") for n in range(40)]
    before = len(published.events)
    writers = [team["editor"], team["owner"]]

    async def tick(n: int, item: dict[str, Any]) -> int:
        r = await client.patch(_url(team, item["id"]), headers=writers[n % 2].headers,
                               json={"done": True})
        return int(r.status_code)

    statuses = await asyncio.gather(*(tick(n, item) for n, item in enumerate(items)))
    assert statuses == [200] * len(items)
    task = await _task(client, team)
    lost = [i for i in task["checklist"] if not i["done"]]
    assert len(lost) == 0, f"{len(lost)} of {len(items)} ticks lost"
    assert task["version"] == 1 + 40 + 40
    assert len(published.events) - before == 40


def test_concurrent_ticks_through_two_server_processes_all_land(tmp_path: Path) -> None:
    """Two `taskflow serve` processes on one SQLite file, 60 ticks of different items sent
    to both at once from 12 threads: each write re-reads the task in its transaction, so
    none is lost (a read-modify-write outside it would drop the other process's ticks)."""
    env = {"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test",
           "TASKFLOW_DATA_DIR": str(tmp_path / "data")}
    servers = [TaskflowServer(env=env, workdir=tmp_path / f"i{n}", name=f"taskflow-{n}")
               for n in range(2)]
    with start_together(servers):
        first = servers[0]
        session = first.post("/api/v1/auth/register", json={
            "email": "race@example.com", "password": "correct horse", "name": "R"}).json()
        token = session["access_token"]
        board = first.post("/api/v1/boards", json={"name": "Race"}, token=token).json()
        task = first.post("/api/v1/tasks", json={"board_id": board["id"], "title": "T"},
                          token=token).json()
        url = f"/api/v1/tasks/{task['id']}/checklist"
        items = [first.post(url, json={"text": f"item {n}"}, token=token).json()
                 for n in range(60)]

        def tick(n: int) -> int:
            server = servers[n % 2]
            return server.patch(f"{url}/{items[n]['id']}", json={"done": True}, token=token,
                                timeout=30).status

        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(tick, range(len(items))))
        assert statuses == [200] * len(items), statuses
        final = servers[1].get(f"/api/v1/tasks/{task['id']}", token=token).json()
        lost = [i["text"] for i in final["checklist"] if not i["done"]]
        assert lost == [], f"{len(lost)} of {len(items)} ticks lost"
        assert final["version"] == 1 + 60 + 60
