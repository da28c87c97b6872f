"""Columns per board: the REST surface, tasks placed by column, their events and stats."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from taskflow.app import create_app
from taskflow.config import RateLimits, Settings
from tests.conftest import Captured
from tests.support.api import Account, make_board, make_task, problem, register


@pytest.fixture
async def team(client: Any) -> dict[str, Any]:
    owner, editor, viewer, stranger = [await register(client, name=n)
                                       for n in ("Owner", "Editor", "Viewer", "Stranger")]
    board = await make_board(client, owner, members={"editor": editor, "viewer": viewer},
                             roles={"viewer": "viewer"})
    return {"owner": owner, "editor": editor, "viewer": viewer, "stranger": stranger,
            "board": board, "bid": board["id"]}


def _cols(board: dict[str, Any]) -> list[tuple[str, str, int | None]]:
    return [(c["name"], c["category"], c["wip_limit"]) for c in board["columns"]]


async def _board(client: Any, who: Account, bid: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/boards/{bid}", headers=who.headers)
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


async def _add(client: Any, who: Account, bid: str, **body: Any) -> Any:
    return await client.post(f"/api/v1/boards/{bid}/columns", headers=who.headers, json=body)


async def test_new_boards_get_one_column_per_category(client: Any, team: dict[str, Any]) -> None:
    board = team["board"]
    assert _cols(board) == [("To do", "todo", None), ("In progress", "in_progress", None),
                            ("Done", "done", None)]
    listing = await (await client.get("/api/v1/boards", headers=team["owner"].headers)).get_json()
    assert all(len(b["columns"]) == 3 for b in listing["items"])  # the personal board too


async def test_editors_manage_columns_and_viewers_cannot(client: Any, team: dict[str, Any],
                                                         published: Captured) -> None:
    bid, editor = team["bid"], team["editor"]
    review = await _add(client, editor, bid, name="Review", category="in_progress", wip_limit=2,
                        before_id=team["board"]["columns"][2]["id"])
    assert review.status_code == 201
    column = await review.get_json()
    assert (column["name"], column["category"], column["wip_limit"]) == (
        "Review", "in_progress", 2)
    board = await _board(client, editor, bid)
    assert [c["name"] for c in board["columns"]] == ["To do", "In progress", "Review", "Done"]
    last = published.of_board(bid)[-1]
    assert last.type == "board:updated" and last.seq == board["seq"]
    assert last.data["columns"] == board["columns"] and "role" not in last.data

    at_end = await (await _add(client, team["owner"], bid, name="Icebox",
                               category="todo")).get_json()
    assert (await _board(client, editor, bid))["columns"][-1]["id"] == at_end["id"]

    patched = await client.patch(f"/api/v1/boards/{bid}/columns/{column['id']}",
                                 headers=editor.headers, json={"name": "QA", "wip_limit": None})
    assert (await patched.get_json()) == {**column, "name": "QA", "wip_limit": None}
    same = await client.patch(f"/api/v1/boards/{bid}/columns/{column['id']}",
                              headers=editor.headers, json={"name": "QA"})
    assert same.status_code == 200 and published.of_board(bid)[-1].type == "board:updated"
    seq = (await _board(client, editor, bid))["seq"]
    assert seq == published.of_board(bid)[-1].seq  # a no-op rename records nothing

    viewer, stranger = team["viewer"], team["stranger"]
    await problem(await _add(client, viewer, bid, name="X", category="todo"), 403, "forbidden")
    await problem(await _add(client, stranger, bid, name="X", category="todo"), 404, "not_found")
    await problem(await client.patch(f"/api/v1/boards/{bid}/columns/{column['id']}",
                                     headers=viewer.headers, json={"name": "Y"}), 403)
    await problem(await client.delete(f"/api/v1/boards/{bid}/columns/{column['id']}",
                                      headers=viewer.headers), 403)
    await problem(await client.put(f"/api/v1/boards/{bid}/columns/order", headers=viewer.headers,
                                   json={"column_ids": [column["id"]]}), 403)


async def test_column_validation(client: Any, team: dict[str, Any]) -> None:
    bid, owner = team["bid"], team["owner"]
    await problem(await _add(client, owner, bid, name="to DO", category="todo"), 409,
                  "column_name_taken")
    for body in ({"name": "", "category": "todo"}, {"name": "x" * 61, "category": "todo"},
                 {"name": "A", "category": "blocked"}, {"name": "A", "category": "todo",
                                                        "wip_limit": 0},
                 {"name": "A", "category": "todo", "wip_limit": 1001},
                 {"name": "A", "category": "todo", "id": "x"},
                 {"name": "A", "category": "todo", "before_id": "nope"}):
        await problem(await _add(client, owner, bid, **body), 422, "validation_failed")
    first = team["board"]["columns"][0]["id"]
    await problem(await client.patch(f"/api/v1/boards/{bid}/columns/{first}",
                                     headers=owner.headers, json={"category": "done"}), 422)
    await problem(await client.patch(f"/api/v1/boards/{bid}/columns/{first}",
                                     headers=owner.headers, json={"name": "done"}), 409,
                  "column_name_taken")
    await problem(await client.patch(f"/api/v1/boards/{bid}/columns/nope",
                                     headers=owner.headers, json={"name": "Z"}), 404, "not_found")
    renamed = await client.patch(f"/api/v1/boards/{bid}/columns/{first}", headers=owner.headers,
                                 json={"name": "TO DO"})  # its own name in another case
    assert renamed.status_code == 200
    for n in range(47):
        assert (await _add(client, owner, bid, name=f"c{n}", category="todo")).status_code == 201
    await problem(await _add(client, owner, bid, name="one too many", category="todo"), 409,
                  "too_many_columns")


async def test_reorder_takes_a_permutation(client: Any, team: dict[str, Any],
                                           published: Captured) -> None:
    bid, owner = team["bid"], team["owner"]
    ids = [c["id"] for c in team["board"]["columns"]]
    url = f"/api/v1/boards/{bid}/columns/order"
    response = await client.put(url, headers=owner.headers,
                                json={"column_ids": [ids[2], ids[0], ids[1]]})
    assert response.status_code == 200
    assert [c["id"] for c in (await response.get_json())["columns"]] == [ids[2], ids[0], ids[1]]
    assert [c["id"] for c in (await _board(client, owner, bid))["columns"]] == [
        ids[2], ids[0], ids[1]]
    assert published.of_board(bid)[-1].type == "board:updated"
    for wrong in ([ids[0], ids[1]], [ids[0], ids[1], ids[1]], [*ids, "other"], []):
        await problem(await client.put(url, headers=owner.headers, json={"column_ids": wrong}),
                      422, "validation_failed")


async def test_tasks_follow_their_column(client: Any, team: dict[str, Any]) -> None:
    bid, editor = team["bid"], team["editor"]
    todo, doing, done = (c["id"] for c in team["board"]["columns"])
    review = await (await _add(client, editor, bid, name="Review",
                               category="in_progress")).get_json()
    by_status = await make_task(client, editor, bid, status="in_progress")
    assert (by_status["column_id"], by_status["status"]) == (doing, "in_progress")
    default = await make_task(client, editor, bid)
    assert (default["column_id"], default["status"]) == (todo, "todo")
    by_column = await make_task(client, editor, bid, column_id=review["id"])
    assert (by_column["status"], by_column["position"]) == ("in_progress", 1024.0)
    both = await make_task(client, editor, bid, column_id=done, status="done")
    assert both["completed_at"] is not None
    await problem(await client.post("/api/v1/tasks", headers=editor.headers, json={
        "board_id": bid, "title": "x", "column_id": done, "status": "todo"}), 422)
    other = await make_board(client, editor, name="Other")
    await problem(await client.post("/api/v1/tasks", headers=editor.headers, json={
        "board_id": bid, "title": "x", "column_id": other["columns"][0]["id"]}), 422)

    url = f"/api/v1/tasks/{by_status['id']}"
    moved = await (await client.patch(url, headers=editor.headers,
                                      json={"column_id": review["id"]})).get_json()
    assert (moved["column_id"], moved["status"], moved["position"]) == (
        review["id"], "in_progress", 2048.0)  # the end of Review
    # `status` alone, already that status: it stays in its own column (no change at all)
    same = await (await client.patch(url, headers=editor.headers,
                                     json={"status": "in_progress"})).get_json()
    assert same["column_id"] == review["id"] and same["version"] == moved["version"]
    finished = await (await client.patch(url, headers=editor.headers,
                                         json={"status": "done"})).get_json()
    assert (finished["column_id"], finished["completed_at"] is not None) == (done, True)
    back = await (await client.patch(url, headers=editor.headers,
                                     json={"column_id": todo, "position": 1.5})).get_json()
    assert (back["status"], back["position"], back["completed_at"]) == ("todo", 1.5, None)
    await problem(await client.patch(url, headers=editor.headers,
                                     json={"column_id": done, "status": "todo"}), 422)
    await problem(await client.patch(url, headers=editor.headers, json={"column_id": None}), 422)

    listed = await (await client.get(f"/api/v1/tasks?board_id={bid}&column_id={review['id']}",
                                     headers=editor.headers)).get_json()
    assert [t["id"] for t in listed["items"]] == [by_column["id"]]
    stats = await (await client.get(f"/api/v1/boards/{bid}/stats",
                                    headers=editor.headers)).get_json()
    assert stats["by_column"] == {todo: 2, review["id"]: 1, done: 1}
    assert stats["by_status"] == {"todo": 2, "in_progress": 1, "done": 1}
    mine = await (await client.get("/api/v1/stats", headers=editor.headers)).get_json()
    assert mine["by_column"][review["id"]] == 1


async def test_deleting_a_column_moves_its_tasks(client: Any, team: dict[str, Any],
                                                 published: Captured) -> None:
    bid, owner = team["bid"], team["owner"]
    todo, doing, done = (c["id"] for c in team["board"]["columns"])
    await problem(await client.delete(f"/api/v1/boards/{bid}/columns/{todo}",
                                      headers=owner.headers), 409, "last_column_of_category")
    review = (await (await _add(client, owner, bid, name="Review",
                                category="done")).get_json())["id"]
    in_review = [await make_task(client, owner, bid, column_id=review, title=f"r{n}")
                 for n in range(3)]
    finished = await make_task(client, owner, bid, column_id=done)
    url = f"/api/v1/boards/{bid}/columns/{review}"
    await problem(await client.delete(url, headers=owner.headers), 409, "column_not_empty")
    await problem(await client.delete(url + f"?move_to={review}", headers=owner.headers), 422)
    await problem(await client.delete(url + "?move_to=nope", headers=owner.headers), 422)
    before = len(published.of_board(bid))
    assert (await client.delete(url + f"?move_to={doing}",
                                headers=owner.headers)).status_code == 204
    events = published.of_board(bid)[before:]
    assert [e.type for e in events] == ["task:updated"] * 3 + ["board:updated"]
    assert [e.data["id"] for e in events[:3]] == [t["id"] for t in in_review]
    assert all(e.data["column_id"] == doing and e.data["status"] == "in_progress"
               and e.data["completed_at"] is None for e in events[:3])
    assert [e.data["position"] for e in events[:3]] == [1024.0, 2048.0, 3072.0]
    assert [c["id"] for c in events[-1].data["columns"]] == [todo, doing, done]
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + 4))
    board = await _board(client, owner, bid)
    assert board["seq"] == events[-1].seq and len(board["columns"]) == 3
    # an empty column goes without move_to
    icebox = (await (await _add(client, owner, bid, name="Icebox",
                                category="todo")).get_json())["id"]
    assert (await client.delete(f"/api/v1/boards/{bid}/columns/{icebox}",
                                headers=owner.headers)).status_code == 204
    task = await (await client.get(f"/api/v1/tasks/{finished['id']}",
                                   headers=owner.headers)).get_json()
    assert task["column_id"] == done


async def test_the_events_rebuild_the_board(client: Any, team: dict[str, Any],
                                            published: Captured) -> None:
    """A client that applies the board's events sees what a fresh fetch shows."""
    bid, owner = team["bid"], team["owner"]
    start = len(published.of_board(bid))
    state = {"columns": team["board"]["columns"]}
    added = (await (await _add(client, owner, bid, name="A", category="todo")).get_json())["id"]
    await client.patch(f"/api/v1/boards/{bid}/columns/{added}", headers=owner.headers,
                       json={"wip_limit": 4})
    ids = [c["id"] for c in (await _board(client, owner, bid))["columns"]]
    await client.put(f"/api/v1/boards/{bid}/columns/order", headers=owner.headers,
                     json={"column_ids": list(reversed(ids))})
    for event in published.of_board(bid)[start:]:
        if event.type == "board:updated":
            state["columns"] = event.data["columns"]
    assert state["columns"] == (await _board(client, owner, bid))["columns"]


async def test_concurrent_adds_of_one_name_make_one_column(client: Any,
                                                           team: dict[str, Any]) -> None:
    bid, owner, editor = team["bid"], team["owner"], team["editor"]
    results = await asyncio.gather(*[
        _add(client, who, bid, name="Review", category="in_progress")
        for who in (owner, editor) * 10])
    assert sorted(r.status_code for r in results) == [201] + [409] * 19
    names = [c["name"] for c in (await _board(client, owner, bid))["columns"]]
    assert names.count("Review") == 1


async def test_tasks_created_while_their_column_is_deleted_never_end_up_orphaned(
        client: Any, team: dict[str, Any]) -> None:
    """Writers racing a column's deletion: every task lands in a column that exists (0 of N
    left pointing at the deleted one), whichever commits first."""
    bid, owner, editor = team["bid"], team["owner"], team["editor"]
    doing = team["board"]["columns"][1]["id"]
    for attempt in range(3):
        review = (await (await _add(client, owner, bid, name=f"Review {attempt}",
                                    category="in_progress")).get_json())["id"]
        await make_task(client, editor, bid, column_id=review)  # so the delete must move tasks
        writes = [client.post("/api/v1/tasks", headers=editor.headers,
                              json={"board_id": bid, "title": f"racer {n}", "column_id": review})
                  for n in range(12)]
        deletion = client.delete(f"/api/v1/boards/{bid}/columns/{review}?move_to={doing}",
                                 headers=owner.headers)
        results = await asyncio.gather(deletion, *writes)
        assert results[0].status_code == 204
        # A write that came after the deletion is refused (422: no such column), never stored.
        assert {r.status_code for r in results[1:]} <= {201, 422}
        columns = {c["id"] for c in (await _board(client, owner, bid))["columns"]}
        tasks = await (await client.get(f"/api/v1/tasks?board_id={bid}&limit=200",
                                        headers=owner.headers)).get_json()
        assert [t["title"] for t in tasks["items"] if t["column_id"] not in columns] == []


async def test_column_writes_count_against_the_users_api_limit(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(rate_limits=RateLimits(api_per_user="4/minute"))
    app = create_app(settings)
    async with app.test_app():
        client = app.test_client()
        ada = await register(client, name="Ada")
        board = (await (await client.get("/api/v1/boards", headers=ada.headers)).get_json())
        bid = board["items"][0]["id"]
        first = board["items"][0]["columns"][0]["id"]
        answers = [await _add(client, ada, bid, name="A", category="todo"),
                   await client.patch(f"/api/v1/boards/{bid}/columns/{first}", headers=ada.headers,
                                      json={"wip_limit": 3}),
                   await client.put(f"/api/v1/boards/{bid}/columns/order", headers=ada.headers,
                                    json={"column_ids": [first]})]  # 422, still counted
        assert [a.status_code for a in answers] == [201, 200, 422]
        await problem(await _add(client, ada, bid, name="B", category="todo"), 429,
                      "rate_limited")


async def test_search_finds_tasks_by_column_name_across_boards(client: Any,
                                                               team: dict[str, Any]) -> None:
    owner = team["owner"]
    other = await make_board(client, owner, name="Other")
    found = []
    for board in (team["board"], other):
        review = await (await _add(client, owner, board["id"], name="Review",
                                   category="in_progress")).get_json()
        found.append((await make_task(client, owner, board["id"], title=f"in {board['name']}",
                                      column_id=review["id"]))["title"])
        await make_task(client, owner, board["id"], title="elsewhere", status="in_progress")

    async def titles(q: str) -> list[str]:
        r = await client.get(f"/api/v1/search?{urlencode({'q': q})}", headers=owner.headers)
        assert r.status_code == 200, await r.get_data(as_text=True)
        return sorted(item["task"]["title"] for item in (await r.get_json())["items"])

    assert await titles('column:"review"') == sorted(found)
    assert await titles('column:"Review" board:"Other"') == ["in Other"]
    assert await titles('column:"No such column"') == []
    # Another member's board with a "Review" column is not the caller's.
    assert await titles(f'column:"Review" {found[0].split()[-1]}') == [found[0]]
