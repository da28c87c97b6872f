"""Mentions, assignment notifications, watches and /notifications, through the real app."""

from __future__ import annotations

import asyncio
from typing import Any

from taskflow.domain import Member
from taskflow.services.notifications import mentioned
from tests.support.api import Account, make_board, make_task, problem, register


async def _notes(client: Any, who: Account, query: str = "") -> dict[str, Any]:
    r = await client.get(f"/api/v1/notifications{query}", headers=who.headers)
    assert r.status_code == 200, await r.get_data(as_text=True)
    body: dict[str, Any] = await r.get_json()
    return body


async def _comment(client: Any, who: Account, task_id: str, body: str) -> None:
    r = await client.post(f"/api/v1/tasks/{task_id}/comments", headers=who.headers,
                          json={"body": body})
    assert r.status_code == 201, await r.get_data(as_text=True)


def test_mention_syntax() -> None:
    members = [Member("a", "Ada Lovelace", "a@x.io", "owner"), Member("b", "Bob", "b@x.io", "editor"),
               Member("c", "bob", "c@x.io", "viewer"), Member("d", "Dee-Dee", "d@x.io", "editor")]
    assert mentioned("hi @[ada  LOVELACE] and @Bob.", members) == {"a", "b", "c"}
    assert mentioned("mail bob@x.io or @Ada (not a full name)", members) == set()
    assert mentioned("@Dee-Dee, @[Nobody], @", members) == {"d"}
    assert mentioned("", members) == set()


async def test_mention_in_comment_notifies_members_but_not_self_or_strangers(client: Any) -> None:
    ann, bob, eve = [await register(client, name=n) for n in ("Ann", "Bob", "Eve")]
    board = await make_board(client, ann, members={"b": bob})
    task = await make_task(client, ann, board["id"], title="Ship it")
    await _comment(client, bob, task["id"], "@Ann @Bob @Eve look")
    ann_notes = await _notes(client, ann)
    assert [(n["type"], n["actor"]) for n in ann_notes["items"]] == [
        ("mentioned", {"user_id": bob.id, "name": "Bob"})]
    note = ann_notes["items"][0]
    assert (note["board_id"], note["task_id"], note["read_at"]) == (board["id"], task["id"], None)
    assert note["summary"].startswith("Ship it: ") and "look" in note["summary"]
    assert ann_notes["unread_count"] == 1
    assert (await _notes(client, bob))["items"] == []  # self
    assert (await _notes(client, eve))["items"] == []  # not a member


async def test_assignment_and_mention_in_one_write_is_one_notification(client: Any) -> None:
    ann, bob = [await register(client, name=n) for n in ("Ann", "Bob")]
    board = await make_board(client, ann, members={"b": bob})
    task = await make_task(client, ann, board["id"])
    r = await client.patch(f"/api/v1/tasks/{task['id']}", headers=ann.headers,
                           json={"assignee_id": bob.id, "description": "for @Bob"})
    assert r.status_code == 200
    notes = await _notes(client, bob)
    assert [n["type"] for n in notes["items"]] == ["assigned"]


async def test_description_edit_notifies_only_newly_mentioned(client: Any) -> None:
    ann, bob, cy = [await register(client, name=n) for n in ("Ann", "Bob", "Cy")]
    board = await make_board(client, ann, members={"b": bob, "c": cy})
    r = await client.post("/api/v1/tasks", headers=ann.headers,
                          json={"board_id": board["id"], "title": "T", "description": "@Bob hi"})
    task = await r.get_json()
    assert [n["type"] for n in (await _notes(client, bob))["items"]] == ["mentioned"]
    await client.patch(f"/api/v1/tasks/{task['id']}", headers=ann.headers,
                       json={"description": "@Bob hi, and @Cy"})
    assert len((await _notes(client, bob))["items"]) == 1
    assert [n["type"] for n in (await _notes(client, cy))["items"]] == ["mentioned"]


async def test_watchers_get_comments_updates_and_board_watchers_new_tasks(client: Any) -> None:
    ann, bob, cy = [await register(client, name=n) for n in ("Ann", "Bob", "Cy")]
    board = await make_board(client, ann, members={"b": bob, "c": cy}, roles={"c": "viewer"})
    task = await make_task(client, ann, board["id"])
    # A viewer may watch; watching is idempotent.
    for _ in range(2):
        r = await client.put(f"/api/v1/tasks/{task['id']}/watch", headers=cy.headers)
        assert r.status_code == 204
    assert (await client.put(f"/api/v1/boards/{board['id']}/watch",
                             headers=bob.headers)).status_code == 204
    await _comment(client, ann, task["id"], "progress")
    assert [n["type"] for n in (await _notes(client, cy))["items"]] == ["commented"]
    await client.patch(f"/api/v1/tasks/{task['id']}", headers=ann.headers, json={"priority": "high"})
    assert [n["type"] for n in (await _notes(client, cy))["items"]] == ["task_updated", "commented"]
    # A move alone notifies no one.
    await client.patch(f"/api/v1/tasks/{task['id']}", headers=ann.headers, json={"position": 7.5})
    assert len((await _notes(client, cy))["items"]) == 2
    await make_task(client, ann, board["id"], title="new one")
    assert [n["type"] for n in (await _notes(client, bob))["items"]] == [
        "task_created", "task_updated", "commented"]
    # Ann created the task (auto-watch): Bob's comment reaches her as `commented`.
    await _comment(client, bob, task["id"], "ok")
    assert [n["type"] for n in (await _notes(client, ann))["items"]] == ["commented"]
    # Unwatching stops them.
    before = len((await _notes(client, cy))["items"])
    assert (await client.delete(f"/api/v1/tasks/{task['id']}/watch",
                                headers=cy.headers)).status_code == 204
    await _comment(client, ann, task["id"], "again")
    assert len((await _notes(client, cy))["items"]) == before == 3
    watches = await (await client.get(f"/api/v1/users/me/watches?board_id={board['id']}",
                                      headers=bob.headers)).get_json()
    # Bob watches the board, and the task he commented on.
    assert {(w["board_id"], w["task_id"]) for w in watches["items"]} == {
        (board["id"], None), (board["id"], task["id"])}
    assert (await client.delete(f"/api/v1/boards/{board['id']}/watch",
                                headers=bob.headers)).status_code == 204


async def test_watch_needs_membership(client: Any) -> None:
    ann, eve = [await register(client, name=n) for n in ("Ann", "Eve")]
    board = await make_board(client, ann)
    task = await make_task(client, ann, board["id"])
    await problem(await client.put(f"/api/v1/tasks/{task['id']}/watch", headers=eve.headers), 404)
    await problem(await client.put(f"/api/v1/boards/{board['id']}/watch", headers=eve.headers), 404)
    await problem(await client.get(f"/api/v1/users/me/watches?board_id={board['id']}",
                                   headers=eve.headers), 404)


async def test_unread_first_with_cursor_and_read_one_and_all(client: Any) -> None:
    ann, bob, eve = [await register(client, name=n) for n in ("Ann", "Bob", "Eve")]
    board = await make_board(client, ann, members={"b": bob})
    task = await make_task(client, ann, board["id"])
    for i in range(5):
        await _comment(client, bob, task["id"], f"@Ann number {i}")
    first = await _notes(client, ann)
    assert [n["summary"][-1] for n in first["items"]] == ["4", "3", "2", "1", "0"]
    # Reading "1" and "3" moves them after the unread ones.
    by_digit = {n["summary"][-1]: n for n in first["items"]}
    for digit in ("1", "3"):
        r = await client.post(f"/api/v1/notifications/{by_digit[digit]['id']}/read",
                              headers=ann.headers)
        assert r.status_code == 200
        assert (await r.get_json())["read_at"] is not None
    again = await client.post(f"/api/v1/notifications/{by_digit['1']['id']}/read",
                              headers=ann.headers)  # idempotent
    assert again.status_code == 200
    await problem(await client.post(f"/api/v1/notifications/{by_digit['2']['id']}/read",
                                    headers=eve.headers), 404, "not_found")
    await problem(await client.post("/api/v1/notifications/nope/read", headers=ann.headers), 404)
    order, cursor = [], None
    while True:
        page = await _notes(client, ann, "?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert page["unread_count"] == 3
        order += [n["summary"][-1] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert order == ["4", "2", "0", "3", "1"]
    unread = await _notes(client, ann, "?unread=true")
    assert [n["summary"][-1] for n in unread["items"]] == ["4", "2", "0"]
    await problem(await client.get("/api/v1/notifications?cursor=zzz", headers=ann.headers), 422)
    r = await client.post("/api/v1/notifications/read-all", headers=ann.headers)
    assert (await r.get_json()) == {"updated": 3}
    r = await client.post("/api/v1/notifications/read-all", headers=ann.headers)
    assert (await r.get_json()) == {"updated": 0}
    assert (await _notes(client, ann))["unread_count"] == 0


async def test_removed_member_loses_watches_and_notifications(client: Any) -> None:
    ann, bob = [await register(client, name=n) for n in ("Ann", "Bob")]
    board = await make_board(client, ann, members={"b": bob})
    other = await make_board(client, ann, name="Other", members={"b": bob})
    task = await make_task(client, ann, board["id"])
    kept = await make_task(client, ann, other["id"])
    await client.put(f"/api/v1/boards/{board['id']}/watch", headers=bob.headers)
    await _comment(client, ann, task["id"], "@Bob here")
    await _comment(client, ann, kept["id"], "@Bob there")
    assert len((await _notes(client, bob))["items"]) == 2
    r = await client.delete(f"/api/v1/boards/{board['id']}/members/{bob.id}", headers=ann.headers)
    assert r.status_code == 204
    notes = await _notes(client, bob)
    assert [n["board_id"] for n in notes["items"]] == [other["id"]]
    watches = await (await client.get("/api/v1/users/me/watches", headers=bob.headers)).get_json()
    assert all(w["board_id"] != board["id"] for w in watches["items"])


async def test_deleting_a_task_or_board_deletes_its_watches_and_notifications(client: Any) -> None:
    ann, bob = [await register(client, name=n) for n in ("Ann", "Bob")]
    board = await make_board(client, ann, members={"b": bob})
    one, two = [await make_task(client, ann, board["id"]) for _ in range(2)]
    for task in (one, two):
        await _comment(client, ann, task["id"], "@Bob see")
        await client.put(f"/api/v1/tasks/{task['id']}/watch", headers=bob.headers)
    assert (await client.delete(f"/api/v1/tasks/{one['id']}", headers=ann.headers)).status_code == 204
    assert [n["task_id"] for n in (await _notes(client, bob))["items"]] == [two["id"]]
    assert (await client.delete(f"/api/v1/boards/{board['id']}",
                                headers=ann.headers)).status_code == 204
    assert (await _notes(client, bob))["items"] == []
    watches = await (await client.get("/api/v1/users/me/watches", headers=bob.headers)).get_json()
    assert watches["items"] == []


async def test_race_member_removed_while_being_mentioned(client: Any) -> None:
    """Many pairs at once of (remove Bob, mention Bob): whichever commits first, Bob ends
    with no notification of a board he is not on."""
    ann, bob = [await register(client, name=n) for n in ("Ann", "Bob")]
    pairs, bad = 20, 0
    boards = [await make_board(client, ann, name=f"B{i}", members={"b": bob}) for i in range(pairs)]
    tasks = [await make_task(client, ann, b["id"]) for b in boards]

    async def remove(board: dict[str, Any]) -> None:
        r = await client.delete(f"/api/v1/boards/{board['id']}/members/{bob.id}",
                                headers=ann.headers)
        assert r.status_code == 204

    async def mention(task: dict[str, Any]) -> None:
        await _comment(client, ann, task["id"], "@Bob ping")

    await asyncio.gather(*(job for b, t in zip(boards, tasks, strict=True)
                           for job in (remove(b), mention(t))))
    notes = await _notes(client, bob, "?limit=200")
    bad = len(notes["items"])
    assert bad == 0, f"{bad} of {pairs} mentions reached a removed member"


async def test_checklist_items_added_ticked_and_removed_reach_watchers(client: Any) -> None:
    ann, bob, cy = [await register(client, name=n) for n in ("Ann", "Bob", "Cy")]
    board = await make_board(client, ann, members={"b": bob, "c": cy}, roles={"c": "viewer"})
    task = await make_task(client, ann, board["id"], title="Launch")
    assert (await client.put(f"/api/v1/tasks/{task['id']}/watch", headers=cy.headers)).status_code == 204
    assert (await client.put(f"/api/v1/boards/{board['id']}/watch",
                             headers=bob.headers)).status_code == 204
    url = f"/api/v1/tasks/{task['id']}/checklist"
    r = await client.post(url, headers=ann.headers, json={"text": "Write the post"})
    assert r.status_code == 201, await r.get_data(as_text=True)
    item = (await r.get_json())["id"]
    for who in (cy, bob):
        assert [n["summary"] for n in (await _notes(client, who))["items"]] == [
            "Launch: added to the checklist: Write the post"]
    # A rename or a move alone tells no one; a tick does, and so does a removal.
    for change in ({"text": "Write the blog post"}, {"position": 5.0}, {"done": True}):
        r = await client.patch(f"{url}/{item}", headers=ann.headers, json=change)
        assert r.status_code == 200, await r.get_data(as_text=True)
    assert (await client.delete(f"{url}/{item}", headers=ann.headers)).status_code == 204
    summaries = [n["summary"] for n in (await _notes(client, cy))["items"]]
    assert summaries == ["Launch: removed from the checklist: Write the blog post",
                         "Launch: checked: Write the blog post",
                         "Launch: added to the checklist: Write the post"], summaries
    assert {n["type"] for n in (await _notes(client, cy))["items"]} == {"task_updated"}
    # Never for your own ticks: Ann created the task (she watches it) and made every change.
    assert (await _notes(client, ann))["items"] == []
