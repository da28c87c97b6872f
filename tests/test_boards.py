"""Boards, members and roles."""

from __future__ import annotations

from typing import Any

from tests.support.api import make_board, make_task, problem, register


async def test_board_shape_and_listing(client: Any) -> None:
    ada = await register(client)
    board = await make_board(client, ada, name="Launch")
    assert board["role"] == "owner" and board["owner_id"] == ada.id and board["seq"] == 0
    assert board["members"] == [{"user_id": ada.id, "name": "Ada", "email": ada.email,
                                 "role": "owner"}]
    listing = await (await client.get("/api/v1/boards", headers=ada.headers)).get_json()
    assert [b["name"] for b in listing["items"]][-1] == "Launch"


async def test_boards_page_with_a_cursor(client: Any) -> None:
    ada = await register(client)
    for i in range(4):
        await make_board(client, ada, name=f"b{i}")
    names, cursor = [], None
    while True:
        url = "/api/v1/boards?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = await (await client.get(url, headers=ada.headers)).get_json()
        names += [b["name"] for b in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert names == ["Ada's board", "b0", "b1", "b2", "b3"]


async def test_non_members_see_nothing(client: Any) -> None:
    ada, eve = await register(client), await register(client, name="Eve")
    board = await make_board(client, ada)
    for method, path in [("get", ""), ("patch", ""), ("delete", ""), ("get", "/stats"),
                         ("get", "/events")]:
        kwargs = {"json": {"name": "x"}} if method == "patch" else {}
        r = await getattr(client, method)(f"/api/v1/boards/{board['id']}{path}",
                                          headers=eve.headers, **kwargs)
        await problem(r, 404, "not_found")


async def test_roles(client: Any) -> None:
    owner, editor, viewer = [await register(client, name=n) for n in ("O", "E", "V")]
    board = await make_board(client, owner, members={"e": editor, "v": viewer},
                             roles={"v": "viewer"})
    bid = board["id"]
    # viewers read but never write
    assert (await client.get(f"/api/v1/boards/{bid}", headers=viewer.headers)).status_code == 200
    await problem(await client.patch(f"/api/v1/boards/{bid}", headers=viewer.headers,
                                     json={"name": "x"}), 403, "forbidden")
    await problem(await client.post("/api/v1/tasks", headers=viewer.headers,
                                    json={"board_id": bid, "title": "x"}), 403, "forbidden")
    # editors rename the board but don't manage members or delete it
    assert (await client.patch(f"/api/v1/boards/{bid}", headers=editor.headers,
                               json={"name": "Renamed"})).status_code == 200
    await problem(await client.post(f"/api/v1/boards/{bid}/members", headers=editor.headers,
                                    json={"email": viewer.email, "role": "editor"}), 403)
    await problem(await client.delete(f"/api/v1/boards/{bid}", headers=editor.headers), 403)
    # the owner does all of it
    r = await client.patch(f"/api/v1/boards/{bid}/members/{viewer.id}", headers=owner.headers,
                           json={"role": "editor"})
    assert (await r.get_json())["role"] == "editor"
    assert (await client.delete(f"/api/v1/boards/{bid}", headers=owner.headers)).status_code == 204
    await problem(await client.get(f"/api/v1/boards/{bid}", headers=owner.headers), 404)


async def test_member_rules(client: Any) -> None:
    owner, bob = await register(client), await register(client, name="Bob")
    board = await make_board(client, owner)
    bid = board["id"]
    unknown = await client.post(f"/api/v1/boards/{bid}/members", headers=owner.headers,
                                json={"email": "nobody@example.com", "role": "editor"})
    await problem(unknown, 404, "user_not_found")
    as_owner = await client.post(f"/api/v1/boards/{bid}/members", headers=owner.headers,
                                 json={"email": bob.email, "role": "owner"})
    await problem(as_owner, 422, "validation_failed")
    added = await client.post(f"/api/v1/boards/{bid}/members", headers=owner.headers,
                              json={"email": bob.email.upper(), "role": "viewer"})
    assert (await added.get_json()) == {"user_id": bob.id, "name": "Bob", "email": bob.email,
                                        "role": "viewer"}
    again = await client.post(f"/api/v1/boards/{bid}/members", headers=owner.headers,
                              json={"email": bob.email, "role": "editor"})
    await problem(again, 409, "conflict")
    owner_leaves = await client.delete(f"/api/v1/boards/{bid}/members/{owner.id}",
                                       headers=owner.headers)
    await problem(owner_leaves, 409, "conflict")
    bob_leaves = await client.delete(f"/api/v1/boards/{bid}/members/{bob.id}", headers=bob.headers)
    assert bob_leaves.status_code == 204
    await problem(await client.get(f"/api/v1/boards/{bid}", headers=bob.headers), 404)


async def test_removed_members_tasks_are_unassigned(client: Any) -> None:
    owner, bob = await register(client), await register(client, name="Bob")
    board = await make_board(client, owner, members={"b": bob})
    task = await make_task(client, owner, board["id"], assignee_id=bob.id)
    r = await client.delete(f"/api/v1/boards/{board['id']}/members/{bob.id}",
                            headers=owner.headers)
    assert r.status_code == 204
    after = await (await client.get(f"/api/v1/tasks/{task['id']}", headers=owner.headers)).get_json()
    assert after["assignee_id"] is None and after["version"] == 2


async def test_deleted_board_takes_its_tasks(client: Any) -> None:
    owner = await register(client)
    board = await make_board(client, owner)
    task = await make_task(client, owner, board["id"])
    await client.delete(f"/api/v1/boards/{board['id']}", headers=owner.headers)
    await problem(await client.get(f"/api/v1/tasks/{task['id']}", headers=owner.headers), 404)
    listing = await (await client.get("/api/v1/tasks", headers=owner.headers)).get_json()
    assert task["id"] not in [t["id"] for t in listing["items"]]
