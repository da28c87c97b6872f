"""Every change is a board event; a snapshot plus the events after it equals a fresh fetch."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage

from taskflow.services.views import event_view
from tests.support.api import Account, make_board, make_task, problem, register
from tests.support.replay import fetch_state, replay


async def _events(client: Any, account: Account, board_id: str, since: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/boards/{board_id}/events?since={since}",
                                headers=account.headers)
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


Action = Callable[[Any, dict[str, Any]], Awaitable[None]]


async def _create_task(client: Any, ctx: dict[str, Any]) -> None:
    await make_task(client, ctx["owner"], ctx["board"]["id"], title="new", tags=["x"])


async def _update_task(client: Any, ctx: dict[str, Any]) -> None:
    r = await client.patch(f"/api/v1/tasks/{ctx['task']['id']}", headers=ctx["owner"].headers,
                           json={"status": "done", "title": "renamed", "due_date": "2030-01-02"})
    assert r.status_code == 200


async def _move_task(client: Any, ctx: dict[str, Any]) -> None:
    r = await client.patch(f"/api/v1/tasks/{ctx['task']['id']}", headers=ctx["owner"].headers,
                           json={"status": "in_progress", "position": 0.5})
    assert r.status_code == 200


async def _delete_task(client: Any, ctx: dict[str, Any]) -> None:
    r = await client.delete(f"/api/v1/tasks/{ctx['task']['id']}", headers=ctx["owner"].headers)
    assert r.status_code == 204


async def _comment(client: Any, ctx: dict[str, Any]) -> None:
    r = await client.post(f"/api/v1/tasks/{ctx['task']['id']}/comments",
                          headers=ctx["editor"].headers, json={"body": "hi"})
    assert r.status_code == 201


async def _delete_comment(client: Any, ctx: dict[str, Any]) -> None:
    r = await client.delete(f"/api/v1/tasks/{ctx['task']['id']}/comments/{ctx['comment']['id']}",
                            headers=ctx["owner"].headers)
    assert r.status_code == 204


async def _attach(client: Any, ctx: dict[str, Any]) -> None:
    r = await client.post(f"/api/v1/tasks/{ctx['task']['id']}/attachments",
                          headers=ctx["editor"].headers,
                          files={"file": FileStorage(io.BytesIO(b"data"), filename="a.txt")})
    assert r.status_code == 201


async def _detach(client: Any, ctx: dict[str, Any]) -> None:
    r = await client.delete(
        f"/api/v1/tasks/{ctx['task']['id']}/attachments/{ctx['attachment']['id']}",
        headers=ctx["owner"].headers)
    assert r.status_code == 204


async def _update_board(client: Any, ctx: dict[str, Any]) -> None:
    r = await client.patch(f"/api/v1/boards/{ctx['board']['id']}", headers=ctx["editor"].headers,
                           json={"name": "Renamed", "description": "d"})
    assert r.status_code == 200


async def _add_member(client: Any, ctx: dict[str, Any]) -> None:
    r = await client.post(f"/api/v1/boards/{ctx['board']['id']}/members",
                          headers=ctx["owner"].headers,
                          json={"email": ctx["outsider"].email, "role": "viewer"})
    assert r.status_code == 201


async def _update_member(client: Any, ctx: dict[str, Any]) -> None:
    r = await client.patch(f"/api/v1/boards/{ctx['board']['id']}/members/{ctx['editor'].id}",
                           headers=ctx["owner"].headers, json={"role": "viewer"})
    assert r.status_code == 200


async def _remove_member(client: Any, ctx: dict[str, Any]) -> None:
    r = await client.delete(f"/api/v1/boards/{ctx['board']['id']}/members/{ctx['editor'].id}",
                            headers=ctx["owner"].headers)
    assert r.status_code == 204


ACTIONS: dict[str, tuple[Action, list[str]]] = {
    "task_created": (_create_task, ["task:created"]),
    "task_updated": (_update_task, ["task:updated"]),
    "task_moved": (_move_task, ["task:updated"]),
    "task_deleted": (_delete_task, ["task:deleted"]),
    "comment_created": (_comment, ["comment:created"]),
    "comment_deleted": (_delete_comment, ["comment:deleted"]),
    "attachment_added": (_attach, ["attachment:added"]),
    "attachment_deleted": (_detach, ["attachment:deleted"]),
    "board_updated": (_update_board, ["board:updated"]),
    "member_added": (_add_member, ["member:added"]),
    "member_updated": (_update_member, ["member:updated"]),
    # The editor is assigned two tasks: removing them unassigns both, one event each.
    "member_removed": (_remove_member, ["member:removed", "task:updated", "task:updated"]),
}


@pytest.fixture
async def ctx(client: Any) -> dict[str, Any]:
    owner = await register(client, name="Owner")
    editor = await register(client, name="Editor")
    outsider = await register(client, name="Outsider")
    board = await make_board(client, owner, members={"editor": editor})
    task = await make_task(client, owner, board["id"], assignee_id=editor.id, title="first")
    await make_task(client, owner, board["id"], assignee_id=editor.id, status="done")
    r = await client.post(f"/api/v1/tasks/{task['id']}/comments", headers=owner.headers,
                          json={"body": "first comment"})
    comment = await r.get_json()
    r = await client.post(f"/api/v1/tasks/{task['id']}/attachments", headers=owner.headers,
                          files={"file": FileStorage(io.BytesIO(b"first"), filename="f.txt")})
    attachment = await r.get_json()
    return {"owner": owner, "editor": editor, "outsider": outsider, "board": board,
            "task": task, "comment": comment, "attachment": attachment}


@pytest.mark.parametrize("action", sorted(ACTIONS))
async def test_snapshot_plus_events_equals_fresh_fetch(client: Any, ctx: dict[str, Any],
                                                       published: Any, action: str) -> None:
    board_id, owner = ctx["board"]["id"], ctx["owner"]
    before = await fetch_state(client, owner, board_id)
    run, expected_types = ACTIONS[action]
    await run(client, ctx)
    caught_up = await _events(client, owner, board_id, before["board"]["seq"])
    assert [e["type"] for e in caught_up["items"]] == expected_types
    assert caught_up["latest_seq"] == before["board"]["seq"] + len(expected_types)
    # The log and the live publication agree, seq for seq.
    live = [event_view(e) for e in published.of_board(board_id)]
    assert live[-len(expected_types):] == caught_up["items"]
    assert replay(before, caught_up["items"]) == await fetch_state(client, owner, board_id)


async def test_board_deleted_is_the_last_event_and_the_log_goes(client: Any, ctx: dict[str, Any],
                                                               published: Any) -> None:
    board_id, owner = ctx["board"]["id"], ctx["owner"]
    seq = (await fetch_state(client, owner, board_id))["board"]["seq"]
    assert (await client.delete(f"/api/v1/boards/{board_id}",
                                headers=owner.headers)).status_code == 204
    last = published.of_board(board_id)[-1]
    assert (last.type, last.seq, last.data) == ("board:deleted", seq + 1, {"id": board_id})
    gone = await client.get(f"/api/v1/boards/{board_id}/events?since=0", headers=owner.headers)
    await problem(gone, 404, "not_found")


async def test_seq_has_no_gaps_and_pages_by_since(client: Any) -> None:
    owner = await register(client)
    board = await make_board(client, owner)
    for i in range(7):
        await make_task(client, owner, board["id"], title=f"t{i}")
    seen: list[int] = []
    since = 0
    while True:
        r = await client.get(f"/api/v1/boards/{board['id']}/events?since={since}&limit=3",
                             headers=owner.headers)
        body = await r.get_json()
        if not body["items"]:
            break
        seen.extend(e["seq"] for e in body["items"])
        since = body["items"][-1]["seq"]
    assert seen == list(range(1, 8))
    board_now = await (await client.get(f"/api/v1/boards/{board['id']}",
                                         headers=owner.headers)).get_json()
    assert board_now["seq"] == 7


async def test_noop_patch_makes_no_event_and_no_version(client: Any) -> None:
    owner = await register(client)
    board = await make_board(client, owner)
    task = await make_task(client, owner, board["id"], title="same")
    r = await client.patch(f"/api/v1/tasks/{task['id']}", headers=owner.headers,
                           json={"title": "same"})
    assert (await r.get_json())["version"] == 1
    events = await _events(client, owner, board["id"], 0)
    assert [e["type"] for e in events["items"]] == ["task:created"]


async def test_events_of_a_board_you_cannot_see_are_404(client: Any) -> None:
    owner, stranger = await register(client), await register(client, name="Eve")
    board = await make_board(client, owner)
    r = await client.get(f"/api/v1/boards/{board['id']}/events?since=0", headers=stranger.headers)
    await problem(r, 404, "not_found")


async def test_since_older_than_kept_is_410(app: Any, client: Any) -> None:
    owner = await register(client)
    board = await make_board(client, owner)
    for i in range(3):
        await make_task(client, owner, board["id"], title=f"t{i}")
    # Retention drops old events; emulate a long-lived board by pruning the first two.
    store = app.extensions["taskflow"].store
    await store.transact(
        lambda tx: tx._exec("DELETE FROM events WHERE board_id = ? AND seq <= 2", (board["id"],)))
    ok = await client.get(f"/api/v1/boards/{board['id']}/events?since=2", headers=owner.headers)
    assert [e["seq"] for e in (await ok.get_json())["items"]] == [3]
    r = await client.get(f"/api/v1/boards/{board['id']}/events?since=1", headers=owner.headers)
    body = await problem(r, 410, "events_gone")
    assert body["latest_seq"] == 3
