"""Comments on tasks."""

from __future__ import annotations

from typing import Any

from tests.support.api import make_board, make_task, problem, register


async def test_comment_lifecycle_and_who_may_delete(client: Any) -> None:
    owner, editor, other = [await register(client, name=n) for n in ("O", "E", "X")]
    board = await make_board(client, owner, members={"e": editor, "x": other})
    task = await make_task(client, owner, board["id"])
    url = f"/api/v1/tasks/{task['id']}/comments"
    r = await client.post(url, headers=editor.headers, json={"body": "  looks good  "})
    comment = await r.get_json()
    assert r.status_code == 201
    assert (comment["body"], comment["author_id"], comment["task_id"]) == (
        "looks good", editor.id, task["id"])
    await problem(await client.delete(f"{url}/{comment['id']}", headers=other.headers), 403)
    assert (await client.delete(f"{url}/{comment['id']}", headers=owner.headers)).status_code == 204
    r = await client.post(url, headers=editor.headers, json={"body": "mine"})
    mine = await r.get_json()
    assert (await client.delete(f"{url}/{mine['id']}", headers=editor.headers)).status_code == 204
    listing = await (await client.get(url, headers=owner.headers)).get_json()
    assert listing == {"items": [], "next_cursor": None}


async def test_comments_page_in_order(client: Any) -> None:
    owner = await register(client)
    board = await make_board(client, owner)
    task = await make_task(client, owner, board["id"])
    url = f"/api/v1/tasks/{task['id']}/comments"
    for i in range(5):
        await client.post(url, headers=owner.headers, json={"body": f"c{i}"})
    bodies, cursor = [], None
    while True:
        page = await (await client.get(url + "?limit=2" + (f"&cursor={cursor}" if cursor else ""),
                                       headers=owner.headers)).get_json()
        bodies += [c["body"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert bodies == [f"c{i}" for i in range(5)]


async def test_comment_validation_and_wrong_task(client: Any) -> None:
    owner = await register(client)
    board = await make_board(client, owner)
    task, other = await make_task(client, owner, board["id"]), await make_task(
        client, owner, board["id"])
    url = f"/api/v1/tasks/{task['id']}/comments"
    await problem(await client.post(url, headers=owner.headers, json={"body": "   "}), 422)
    await problem(await client.post(url, headers=owner.headers,
                                    json={"body": "x", "author_id": "me"}), 422)
    comment = await (await client.post(url, headers=owner.headers, json={"body": "x"})).get_json()
    wrong = f"/api/v1/tasks/{other['id']}/comments/{comment['id']}"
    await problem(await client.delete(wrong, headers=owner.headers), 404, "not_found")
