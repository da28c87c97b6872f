"""Tasks: access, validation, versions, ordering, filters, search and cursors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Account, make_board, make_task, problem, register


@pytest.fixture
async def team(client: Any) -> dict[str, Any]:
    owner = await register(client, name="Owner")
    editor = await register(client, name="Editor")
    viewer = await register(client, name="Viewer")
    board = await make_board(client, owner, members={"e": editor, "v": viewer},
                             roles={"v": "viewer"})
    return {"owner": owner, "editor": editor, "viewer": viewer, "board": board}


async def _list(client: Any, who: Account, query: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/tasks?{query}", headers=who.headers)
    assert r.status_code == 200, await r.get_data(as_text=True)
    body: dict[str, Any] = await r.get_json()
    return body


async def test_task_shape(client: Any, team: dict[str, Any]) -> None:
    task = await make_task(client, team["owner"], team["board"]["id"], title="Ship",
                           due_date="2030-05-01", tags=["a", "b"], priority="urgent",
                           assignee_id=team["editor"].id)
    assert set(task) == {"id", "board_id", "title", "description", "status", "priority",
                         "due_date", "assignee_id", "tags", "position", "created_by",
                         "created_at", "updated_at", "completed_at", "version", "column_id",
                         "checklist"}
    assert task["due_date"] == "2030-05-01T00:00:00.000Z"
    assert (task["status"], task["version"], task["completed_at"]) == ("todo", 1, None)
    offset = await make_task(client, team["owner"], team["board"]["id"],
                             due_date="2030-05-01T10:00:00+02:00")
    assert offset["due_date"] == "2030-05-01T08:00:00.000Z"


async def test_another_boards_task_is_404(client: Any, team: dict[str, Any]) -> None:
    stranger = await register(client, name="Eve")
    task = await make_task(client, team["owner"], team["board"]["id"])
    tid = task["id"]
    for method, path, body in [("get", f"/tasks/{tid}", None),
                               ("patch", f"/tasks/{tid}", {"title": "x"}),
                               ("delete", f"/tasks/{tid}", None),
                               ("get", f"/tasks/{tid}/comments", None),
                               ("post", f"/tasks/{tid}/comments", {"body": "x"})]:
        kwargs = {"json": body} if body is not None else {}
        r = await getattr(client, method)(f"/api/v1{path}", headers=stranger.headers, **kwargs)
        await problem(r, 404, "not_found")
    r = await client.get(f"/api/v1/tasks?board_id={team['board']['id']}", headers=stranger.headers)
    await problem(r, 404, "not_found")
    r = await client.post("/api/v1/tasks", headers=stranger.headers,
                          json={"board_id": team["board"]["id"], "title": "x"})
    await problem(r, 404, "not_found")
    assert task["id"] not in [t["id"] for t in (await _list(client, stranger, ""))["items"]]


async def test_viewer_writes_are_403(client: Any, team: dict[str, Any]) -> None:
    task = await make_task(client, team["owner"], team["board"]["id"])
    viewer = team["viewer"]
    await problem(await client.patch(f"/api/v1/tasks/{task['id']}", headers=viewer.headers,
                                     json={"title": "x"}), 403, "forbidden")
    await problem(await client.delete(f"/api/v1/tasks/{task['id']}", headers=viewer.headers),
                  403, "forbidden")
    await problem(await client.post(f"/api/v1/tasks/{task['id']}/comments",
                                    headers=viewer.headers, json={"body": "x"}), 403)
    assert (await client.get(f"/api/v1/tasks/{task['id']}",
                             headers=viewer.headers)).status_code == 200


async def test_stale_if_match_is_412_with_the_current_task(client: Any,
                                                           team: dict[str, Any]) -> None:
    task = await make_task(client, team["owner"], team["board"]["id"], title="v1")
    url = f"/api/v1/tasks/{task['id']}"
    first = await client.patch(url, headers={**team["editor"].headers, "If-Match": '"1"'},
                               json={"title": "editor's"})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    stale = await client.patch(url, headers={**team["owner"].headers, "If-Match": '"1"'},
                               json={"title": "owner's"})
    body = await problem(stale, 412, "precondition_failed")
    assert body["current"]["title"] == "editor's" and body["current"]["version"] == 2
    assert stale.headers["ETag"] == '"2"'
    retry = await client.patch(url, headers={**team["owner"].headers, "If-Match": '"2"'},
                               json={"title": "owner's"})
    assert (await retry.get_json())["version"] == 3
    not_modified = await client.get(url, headers={**team["owner"].headers,
                                                  "If-None-Match": '"3"'})
    assert not_modified.status_code == 304


@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": "x" * 201},
        {"status": "blocked"},
        {"priority": "critical"},
        {"id": "abc"},
        {"version": 7},
        {"created_by": "someone"},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"board_id": "elsewhere"},
        {"surprise": True},
        {"title": None},
        {"position": "NaN"},
        {"due_date": "tomorrow"},
        {"due_date": "2030-01-01T10:00:00"},
    ],
)
async def test_patch_refuses_bad_or_server_owned_fields(client: Any, team: dict[str, Any],
                                                        body: dict[str, Any]) -> None:
    task = await make_task(client, team["owner"], team["board"]["id"])
    r = await client.patch(f"/api/v1/tasks/{task['id']}", headers=team["owner"].headers, json=body)
    await problem(r, 422, "validation_failed")
    unchanged = await client.get(f"/api/v1/tasks/{task['id']}", headers=team["owner"].headers)
    assert (await unchanged.get_json())["version"] == 1


async def test_create_refuses_server_owned_fields(client: Any, team: dict[str, Any]) -> None:
    for extra in ({"id": "x"}, {"version": 3}, {"created_by": "x"}, {"completed_at": None},
                  {"position": 1.0}):
        r = await client.post("/api/v1/tasks", headers=team["owner"].headers,
                              json={"board_id": team["board"]["id"], "title": "t", **extra})
        await problem(r, 422, "validation_failed")


async def test_assignee_must_be_a_member(client: Any, team: dict[str, Any]) -> None:
    outsider = await register(client, name="Out")
    r = await client.post("/api/v1/tasks", headers=team["owner"].headers,
                          json={"board_id": team["board"]["id"], "title": "t",
                                "assignee_id": outsider.id})
    body = await problem(r, 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["body", "assignee_id"]


async def test_done_sets_and_clears_completed_at(client: Any, team: dict[str, Any]) -> None:
    task = await make_task(client, team["owner"], team["board"]["id"])
    url = f"/api/v1/tasks/{task['id']}"
    done = await (await client.patch(url, headers=team["owner"].headers,
                                     json={"status": "done"})).get_json()
    assert done["completed_at"] is not None
    back = await (await client.patch(url, headers=team["owner"].headers,
                                     json={"status": "todo"})).get_json()
    assert back["completed_at"] is None


async def test_positions_order_a_column(client: Any, team: dict[str, Any]) -> None:
    bid, owner = team["board"]["id"], team["owner"]
    a, b, c = [await make_task(client, owner, bid, title=t) for t in "abc"]
    assert a["position"] < b["position"] < c["position"]
    # move c between a and b
    mid = (a["position"] + b["position"]) / 2
    await client.patch(f"/api/v1/tasks/{c['id']}", headers=owner.headers, json={"position": mid})
    column = await _list(client, owner, f"board_id={bid}&status=todo&sort=position")
    assert [t["title"] for t in column["items"]] == ["a", "c", "b"]
    # a status change without a position lands at the end of the new column
    moved = await (await client.patch(f"/api/v1/tasks/{a['id']}", headers=owner.headers,
                                      json={"status": "done"})).get_json()
    d = await make_task(client, owner, bid, title="d", status="done")
    assert d["position"] > moved["position"]


async def test_crowded_column_is_renumbered(client: Any, team: dict[str, Any]) -> None:
    bid, owner = team["board"]["id"], team["owner"]
    a, b = [await make_task(client, owner, bid, title=t) for t in "ab"]
    r = await client.patch(f"/api/v1/tasks/{b['id']}", headers=owner.headers,
                           json={"position": a["position"] + 1e-9})
    moved = await r.get_json()
    column = await _list(client, owner, f"board_id={bid}&status=todo&sort=position")
    positions = [t["position"] for t in column["items"]]
    assert [t["title"] for t in column["items"]] == ["a", "b"]
    assert positions[1] - positions[0] >= 1.0
    assert moved["position"] == positions[1]


async def test_filters_and_sorts(client: Any, team: dict[str, Any]) -> None:
    bid, owner, editor = team["board"]["id"], team["owner"], team["editor"]
    await make_task(client, owner, bid, title="low", priority="low", due_date="2030-01-03")
    await make_task(client, owner, bid, title="urgent", priority="urgent",
                    assignee_id=editor.id, due_date="2030-01-01")
    await make_task(client, owner, bid, title="none", priority="medium")
    await make_task(client, owner, bid, title="high", priority="high", status="done",
                    due_date="2030-01-02")

    async def titles(query: str) -> list[str]:
        return [t["title"] for t in (await _list(client, owner, f"board_id={bid}&{query}"))["items"]]

    assert await titles("sort=priority") == ["low", "none", "high", "urgent"]
    assert await titles("sort=-priority") == ["urgent", "high", "none", "low"]
    assert await titles("sort=due_date") == ["urgent", "high", "low", "none"]
    assert await titles("sort=-due_date") == ["low", "high", "urgent", "none"]
    assert await titles("sort=created_at") == ["low", "urgent", "none", "high"]
    assert await titles("sort=-created_at") == ["high", "none", "urgent", "low"]
    assert await titles(f"assignee_id={editor.id}") == ["urgent"]
    assert await titles("status=done") == ["high"]
    assert await titles("priority=low") == ["low"]
    assert sorted(await titles("due_before=2030-01-02T12:00:00Z")) == ["high", "urgent"]


async def test_search_escapes_wildcards(client: Any, team: dict[str, Any]) -> None:
    bid, owner = team["board"]["id"], team["owner"]
    for title in ("100% done", "100 done", "snake_case", "snakeXcase", "a.b*c", "abbbc",
                  "back\\slash"):
        await make_task(client, owner, bid, title=title)

    async def found(q: str) -> list[str]:
        from urllib.parse import quote

        body = await _list(client, owner, f"board_id={bid}&q={quote(q)}")
        return sorted(t["title"] for t in body["items"])

    assert await found("%") == ["100% done"]
    assert await found("_") == ["snake_case"]
    assert await found("a.b*c") == ["a.b*c"]
    assert await found(".*") == []
    assert await found("\\") == ["back\\slash"]
    assert await found("SNAKE") == ["snakeXcase", "snake_case"]


async def test_cursor_pages_are_complete_and_disjoint(client: Any, team: dict[str, Any]) -> None:
    bid, owner = team["board"]["id"], team["owner"]
    for i in range(7):
        await make_task(client, owner, bid, title=f"t{i}", priority=["low", "high"][i % 2],
                        **({"due_date": f"2030-01-0{i + 1}"} if i % 3 else {}))
    for sort in ("created_at", "-created_at", "due_date", "-due_date", "priority", "-priority",
                 "position", "updated_at", "-updated_at"):
        everything = [t["id"] for t in (await _list(client, owner,
                                                    f"board_id={bid}&sort={sort}"))["items"]]
        paged, cursor = [], None
        while True:
            body = await _list(client, owner, f"board_id={bid}&sort={sort}&limit=3"
                               + (f"&cursor={cursor}" if cursor else ""))
            paged += [t["id"] for t in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert paged == everything, sort


async def test_cursor_from_another_sort_or_garbage_is_422(client: Any,
                                                          team: dict[str, Any]) -> None:
    bid, owner = team["board"]["id"], team["owner"]
    for i in range(3):
        await make_task(client, owner, bid, title=f"t{i}")
    cursor = (await _list(client, owner, f"board_id={bid}&limit=1&sort=priority"))["next_cursor"]
    for bad in (cursor, "garbage", "eyJzIjoxfQ"):
        r = await client.get(f"/api/v1/tasks?board_id={bid}&sort=-created_at&cursor={bad}",
                             headers=owner.headers)
        await problem(r, 422, "validation_failed")


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "sort=;DROP TABLE tasks",
                                   "status[$ne]=done", "status=$ne", "board_id[$gt]=",
                                   "q[$regex]=.*", "unknown=1", "due_before=soon"])
async def test_operator_shaped_and_bad_query_parameters_are_422(client: Any, team: dict[str, Any],
                                                                query: str) -> None:
    r = await client.get(f"/api/v1/tasks?{query}", headers=team["owner"].headers)
    await problem(r, 422, "validation_failed")


async def test_delete_task(client: Any, team: dict[str, Any]) -> None:
    task = await make_task(client, team["owner"], team["board"]["id"])
    r = await client.delete(f"/api/v1/tasks/{task['id']}", headers=team["editor"].headers)
    assert r.status_code == 204
    await problem(await client.get(f"/api/v1/tasks/{task['id']}",
                                   headers=team["owner"].headers), 404)
