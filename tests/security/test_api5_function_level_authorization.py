"""API5:2023 Broken Function Level Authorization.

The roles of a board, operation by operation: a viewer reads, an editor also writes tasks,
comments and attachments, only the owner manages the board and its members. A member below
the needed role gets 403 and nothing changes; nobody can climb to owner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.security.conftest import WEBHOOK_URL, World
from tests.security.target import Api, Person, assert_problem

Setup = Callable[[Api, World, dict[str, Any]], tuple[str, str, Any]]


def _task(api: Api, w: World, board: dict[str, Any]) -> dict[str, Any]:
    return api.task(w.ada, board["id"], title="role check")


def _with_eve(api: Api, w: World, board: dict[str, Any]) -> str:
    api.ok("POST", f"/boards/{board['id']}/members", w.ada, json={"email": w.eve.email, "role": "viewer"})
    return w.eve.id


# operation -> (the least role that may do it, setup returning method, path and body)
OPERATIONS: dict[str, tuple[str, Setup]] = {
    "read board": ("viewer", lambda api, w, b: ("GET", f"/boards/{b['id']}", None)),
    "read events": ("viewer", lambda api, w, b: ("GET", f"/boards/{b['id']}/events", None)),
    "read tasks": ("viewer", lambda api, w, b: ("GET", f"/tasks?board_id={b['id']}", None)),
    "rename board": ("editor", lambda api, w, b: ("PATCH", f"/boards/{b['id']}", {"name": "new"})),
    "delete board": ("owner", lambda api, w, b: ("DELETE", f"/boards/{b['id']}", None)),
    "add member": ("owner", lambda api, w, b: ("POST", f"/boards/{b['id']}/members",
                                               {"email": w.eve.email, "role": "viewer"})),
    "change a role": ("owner", lambda api, w, b: ("PATCH", f"/boards/{b['id']}/members/"
                                                  f"{_with_eve(api, w, b)}", {"role": "editor"})),
    "remove member": ("owner", lambda api, w, b: ("DELETE", f"/boards/{b['id']}/members/"
                                                  f"{_with_eve(api, w, b)}", None)),
    "create task": ("editor", lambda api, w, b: ("POST", "/tasks", {"board_id": b["id"], "title": "t"})),
    "change task": ("editor", lambda api, w, b: ("PATCH", f"/tasks/{_task(api, w, b)['id']}",
                                                 {"status": "done"})),
    "delete task": ("editor", lambda api, w, b: ("DELETE", f"/tasks/{_task(api, w, b)['id']}", None)),
    "comment": ("editor", lambda api, w, b: ("POST", f"/tasks/{_task(api, w, b)['id']}/comments",
                                             {"body": "hi"})),
    "delete another's comment": ("owner", lambda api, w, b: _others_comment(api, w, b)),
    "attach": ("editor", lambda api, w, b: ("POST", f"/tasks/{_task(api, w, b)['id']}/attachments",
                                            "file")),
    "delete attachment": ("editor", lambda api, w, b: _attachment(api, w, b)),
    "add webhook": ("owner", lambda api, w, b: ("POST", f"/boards/{b['id']}/webhooks",
                                                {"url": WEBHOOK_URL, "events": ["member:updated"]})),
    "list webhooks": ("owner", lambda api, w, b: ("GET", f"/boards/{b['id']}/webhooks", None)),
}
RANK = {"viewer": 0, "editor": 1, "owner": 2}
CASES = [(op, role) for op in OPERATIONS for role in RANK]


def _others_comment(api: Api, w: World, board: dict[str, Any]) -> tuple[str, str, Any]:
    """Ada's comment: the editor and the viewer may not delete it (only its author or the owner)."""
    task = _task(api, w, board)
    comment = api.comment(w.ada, task["id"], "Ada's words")
    return "DELETE", f"/tasks/{task['id']}/comments/{comment['id']}", None


def _attachment(api: Api, w: World, board: dict[str, Any]) -> tuple[str, str, Any]:
    task = _task(api, w, board)
    attachment = api.attachment(w.ada, task["id"])
    return "DELETE", f"/tasks/{task['id']}/attachments/{attachment['id']}", None


def _person(w: World, role: str) -> Person:
    return {"viewer": w.vic, "editor": w.ed, "owner": w.ada}[role]


def _state(api: Api, w: World, board: dict[str, Any]) -> Any:
    b = board["id"]
    tasks = api.ok("GET", f"/tasks?board_id={b}", w.ada)["items"]
    return (api.ok("GET", f"/boards/{b}", w.ada), tasks,
            [api.ok("GET", f"/tasks/{t['id']}/comments", w.ada)["items"] for t in tasks],
            [api.ok("GET", f"/tasks/{t['id']}/attachments", w.ada)["items"] for t in tasks])


@pytest.mark.parametrize(("operation", "role"), CASES, ids=[f"{o} as {r}" for o, r in CASES])
def test_each_operation_needs_its_role(api: Api, world: World, operation: str, role: str) -> None:
    board = api.board(world.ada, "Roles", ed=(world.ed, "editor"), vic=(world.vic, "viewer"))
    needed, setup = OPERATIONS[operation]
    method, path, body = setup(api, world, board)
    caller = _person(world, role)
    before = _state(api, world, board)
    if body == "file":
        response = api.call(method, path, caller, files={"file": ("f.txt", b"data", "text/plain")})
    else:
        response = api.call(method, path, caller, json=body)
    allowed = RANK[role] >= RANK[needed]
    if allowed:
        assert response.status_code in (200, 201, 204), (operation, role, response.text)
    else:
        assert_problem(response, 403, "forbidden")
        assert _state(api, world, board) == before
    if operation != "delete board" or not allowed:
        api.ok("DELETE", f"/boards/{board['id']}", world.ada)


def test_nobody_climbs_to_owner(api: Api, world: World) -> None:
    board = api.board(world.ada, "Climb", ed=(world.ed, "editor"), vic=(world.vic, "viewer"))
    b = board["id"]
    members = f"/boards/{b}/members"
    assert_problem(api.call("PATCH", f"{members}/{world.ed.id}", world.ed, json={"role": "editor"}), 403)
    assert_problem(api.call("PATCH", f"{members}/{world.vic.id}", world.ed, json={"role": "editor"}), 403)
    for who, target in ((world.ada, world.ed), (world.ed, world.ed)):
        assert_problem(api.call("PATCH", f"{members}/{target.id}", who, json={"role": "owner"}),
                       422, "validation_failed")
    assert_problem(api.call("POST", members, world.ada, json={"email": world.eve.email, "role": "owner"}),
                   422, "validation_failed")
    assert_problem(api.call("PATCH", f"{members}/{world.ada.id}", world.ada, json={"role": "editor"}),
                   409, "conflict")
    assert_problem(api.call("DELETE", f"{members}/{world.ada.id}", world.ada), 409, "conflict")
    assert_problem(api.call("DELETE", f"{members}/{world.ada.id}", world.ed), 403, "forbidden")
    roles = {m["user_id"]: m["role"] for m in api.ok("GET", f"/boards/{b}", world.ada)["members"]}
    assert roles == {world.ada.id: "owner", world.ed.id: "editor", world.vic.id: "viewer"}
    # A member may leave on their own; then they see nothing of the board.
    assert api.call("DELETE", f"{members}/{world.vic.id}", world.vic).status_code == 204
    assert_problem(api.call("GET", f"/boards/{b}", world.vic), 404, "not_found")
    api.ok("DELETE", f"/boards/{b}", world.ada)
