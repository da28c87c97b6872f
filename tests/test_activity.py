"""A task's activity, built from the board's event log."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import make_board, make_task, problem, register


@pytest.fixture
async def team(client: Any) -> dict[str, Any]:
    owner = await register(client, name="Owner")
    editor = await register(client, name="Editor")
    viewer = await register(client, name="Viewer")
    board = await make_board(client, owner, members={"e": editor, "v": viewer},
                             roles={"v": "viewer"})
    return {"owner": owner, "editor": editor, "viewer": viewer, "board": board}


async def _activity(client: Any, who: Any, task_id: str, query: str = "") -> dict[str, Any]:
    r = await client.get(f"/api/v1/tasks/{task_id}/activity{query}", headers=who.headers)
    assert r.status_code == 200, await r.get_data(as_text=True)
    body: dict[str, Any] = await r.get_json()
    return body


async def test_who_changed_what_and_when(client: Any, team: dict[str, Any]) -> None:
    owner, editor = team["owner"], team["editor"]
    task = await make_task(client, owner, team["board"]["id"], title="Draft", tags=["a"])
    url = f"/api/v1/tasks/{task['id']}"
    other = await make_task(client, owner, team["board"]["id"], title="Elsewhere")
    await client.patch(url, headers=editor.headers, json={"title": "Final", "status": "done"})
    await client.patch(f"/api/v1/tasks/{other['id']}", headers=owner.headers, json={"title": "x"})
    r = await client.post(f"{url}/comments", headers=editor.headers, json={"body": "Looks good"})
    comment = await r.get_json()
    r = await client.post(f"{url}/checklist", headers=owner.headers, json={"text": "Check"})
    item = await r.get_json()
    await client.patch(f"{url}/checklist/{item['id']}", headers=editor.headers, json={"done": True})
    await client.delete(f"{url}/comments/{comment['id']}", headers=editor.headers)
    await client.patch(url, headers=editor.headers, json={"position": 1.5})  # position only

    body = await _activity(client, team["viewer"], task["id"])
    entries = body["items"]
    assert body["next_cursor"] is None
    assert [e["type"] for e in entries] == ["comment:deleted", "task:updated", "task:updated",
                                            "comment:created", "task:updated", "task:created"]
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs, reverse=True)
    assert entries[0]["actor"] == {"user_id": editor.id, "name": "Editor"}
    assert entries[0]["changes"] == [{"field": "comment", "before": {"id": comment["id"]},
                                      "after": None}]
    ticked, added = entries[1]["changes"], entries[2]["changes"]
    assert ticked == [{"field": "checklist", "before": {**item, "done": False},
                       "after": {**item, "done": True}}]
    assert added == [{"field": "checklist", "before": None, "after": item}]
    assert entries[2]["actor"]["name"] == "Owner"
    assert entries[3]["changes"] == [{"field": "comment", "before": None,
                                      "after": {"id": comment["id"], "body": "Looks good"}}]
    changed = {c["field"]: (c["before"], c["after"]) for c in entries[4]["changes"]}
    assert changed["title"] == ("Draft", "Final")
    assert changed["status"] == ("todo", "done")
    assert changed["completed_at"][0] is None and changed["completed_at"][1]
    assert "version" not in changed and "updated_at" not in changed
    created = {c["field"]: (c["before"], c["after"]) for c in entries[5]["changes"]}
    assert created["title"] == (None, "Draft") and created["tags"] == (None, ["a"])
    assert entries[5]["actor"]["user_id"] == owner.id


async def test_pages_follow_the_cursor(client: Any, team: dict[str, Any]) -> None:
    owner = team["owner"]
    task = await make_task(client, owner, team["board"]["id"], title="t0")
    for n in range(1, 8):
        r = await client.patch(f"/api/v1/tasks/{task['id']}", headers=owner.headers,
                               json={"title": f"t{n}"})
        assert r.status_code == 200
    seen: list[dict[str, Any]] = []
    query = "?limit=3"
    while True:
        body = await _activity(client, owner, task["id"], query)
        assert len(body["items"]) <= 3
        seen += body["items"]
        if body["next_cursor"] is None:
            break
        query = f"?limit=3&cursor={body['next_cursor']}"
    assert len(seen) == 8
    titles = [next(c for c in e["changes"] if c["field"] == "title") for e in seen]
    # Each page's oldest update still knows the title before it (read past the page).
    assert [(t["before"], t["after"]) for t in titles[:-1]] == [
        (f"t{n - 1}", f"t{n}") for n in range(7, 0, -1)]
    await problem(await client.get(f"/api/v1/tasks/{task['id']}/activity?cursor=zzz",
                                   headers=owner.headers), 422, "validation_failed")


async def test_activity_is_for_members_only(client: Any, team: dict[str, Any]) -> None:
    task = await make_task(client, team["owner"], team["board"]["id"])
    stranger = await register(client, name="Eve")
    await problem(await client.get(f"/api/v1/tasks/{task['id']}/activity",
                                   headers=stranger.headers), 404, "not_found")
    await problem(await client.get("/api/v1/tasks/nope/activity", headers=team["owner"].headers),
                  404, "not_found")


async def test_a_former_members_name_stays(client: Any, team: dict[str, Any]) -> None:
    task = await make_task(client, team["editor"], team["board"]["id"])
    r = await client.delete(f"/api/v1/boards/{team['board']['id']}/members/{team['editor'].id}",
                            headers=team["owner"].headers)
    assert r.status_code == 204
    body = await _activity(client, team["owner"], task["id"])
    assert body["items"][-1]["actor"] == {"user_id": team["editor"].id, "name": "Editor"}
