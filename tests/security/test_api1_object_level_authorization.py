"""API1:2023 Broken Object Level Authorization.

Eve, a signed-in user with boards of her own, sends every endpoint and every live command
the ids of Ada's board A (and mixes of her own ids with A's). Each answer must be the one a
nonexistent id gets (404: no existence leak) and board A must be exactly as it was.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskflow.app import create_app
from taskflow.config import Settings
from tests.security.conftest import World
from tests.security.target import Api, assert_problem

# Each row: method, path (placeholders name the world's ids), JSON body (or "file" for a
# multipart upload), and the status Eve gets. Placeholders ending in _a are board A's.
ROWS: list[tuple[str, str, Any, int]] = [
    ("GET", "/boards/{board_a}", None, 404),
    ("PATCH", "/boards/{board_a}", {"name": "pwned"}, 404),
    ("DELETE", "/boards/{board_a}", None, 404),
    ("GET", "/boards/{board_a}/events?since=0", None, 404),
    ("GET", "/boards/{board_a}/stats", None, 404),
    ("GET", "/boards/{board_a}/export", None, 404),
    ("GET", "/boards/{board_a}/export?format=csv", None, 404),
    ("POST", "/boards/{board_a}/members", {"email": "{eve_email}", "role": "editor"}, 404),
    ("PATCH", "/boards/{board_a}/members/{ed}", {"role": "viewer"}, 404),
    ("DELETE", "/boards/{board_a}/members/{ed}", None, 404),
    ("DELETE", "/boards/{board_a}/members/{eve}", None, 404),
    ("POST", "/boards/{board_a}/columns", {"name": "pwned", "category": "todo"}, 404),
    ("PATCH", "/boards/{board_a}/columns/{column_a}", {"name": "pwned"}, 404),
    ("DELETE", "/boards/{board_a}/columns/{column_a}", None, 404),
    ("PUT", "/boards/{board_a}/columns/order", {"column_ids": ["{column_a}"]}, 404),
    ("GET", "/tasks/{task_a}", None, 404),
    ("PATCH", "/tasks/{task_a}", {"title": "pwned"}, 404),
    ("DELETE", "/tasks/{task_a}", None, 404),
    ("GET", "/tasks/{task_a}/comments", None, 404),
    ("GET", "/tasks/{task_a}/activity", None, 404),
    ("PUT", "/tasks/{task_a}/watch", None, 404),
    ("DELETE", "/tasks/{task_a}/watch", None, 404),
    ("PUT", "/boards/{board_a}/watch", None, 404),
    ("DELETE", "/boards/{board_a}/watch", None, 404),
    ("POST", "/notifications/{notification_a}/read", None, 404),
    # Another user's personal access token can't be revoked (nor told apart from none).
    ("DELETE", "/users/me/tokens/{token_a}", None, 404),
    ("POST", "/tasks/{task_a}/checklist", {"text": "pwned"}, 404),
    ("PATCH", "/tasks/{task_a}/checklist/{item_a}", {"done": True}, 404),
    ("DELETE", "/tasks/{task_a}/checklist/{item_a}", None, 404),
    ("PATCH", "/tasks/{task_e}/checklist/{item_a}", {"done": True}, 404),
    ("POST", "/tasks/{task_a}/comments", {"body": "pwned"}, 404),
    ("DELETE", "/tasks/{task_a}/comments/{comment_a}", None, 404),
    ("GET", "/tasks/{task_a}/attachments", None, 404),
    ("POST", "/tasks/{task_a}/attachments", "file", 404),
    ("GET", "/tasks/{task_a}/attachments/{attachment_a}/content", None, 404),
    ("DELETE", "/tasks/{task_a}/attachments/{attachment_a}", None, 404),
    ("POST", "/tasks/{task_a}/attachments/{attachment_a}/complete", None, 404),
    ("GET", "/tasks/{task_a}/attachments/uploads", None, 404),
    # Direct uploads need S3; on the local store every task id gets the same 409.
    ("POST", "/tasks/{task_a}/attachments/uploads", {"filename": "x.txt", "size": 1}, 409),
    ("POST", "/tasks", {"board_id": "{board_a}", "title": "pwned"}, 404),
    ("GET", "/tasks?board_id={board_a}", None, 404),
    # Eve's own parent with A's child: the child must belong to the parent.
    ("DELETE", "/tasks/{task_e}/comments/{comment_a}", None, 404),
    ("GET", "/tasks/{task_e}/attachments/{attachment_a}/content", None, 404),
    ("DELETE", "/tasks/{task_e}/attachments/{attachment_a}", None, 404),
    ("POST", "/tasks/{task_e}/attachments/{attachment_a}/complete", None, 404),
    ("POST", "/boards/{board_a}/webhooks", {"url": "https://93.184.215.14/x"}, 404),
    ("GET", "/boards/{board_a}/webhooks", None, 404),
    ("GET", "/boards/{board_a}/webhooks/{webhook_a}", None, 404),
    ("PATCH", "/boards/{board_a}/webhooks/{webhook_a}", {"active": False}, 404),
    ("DELETE", "/boards/{board_a}/webhooks/{webhook_a}", None, 404),
    ("GET", "/boards/{board_a}/webhooks/{webhook_a}/deliveries", None, 404),
    # A's webhook under Eve's own board: it belongs to another board.
    ("GET", "/boards/{board_e}/webhooks/{webhook_a}", None, 404),
    ("PATCH", "/boards/{board_e}/webhooks/{webhook_a}", {"active": False}, 404),
    ("DELETE", "/boards/{board_e}/webhooks/{webhook_a}", None, 404),
    ("GET", "/boards/{board_e}/webhooks/{webhook_a}/deliveries", None, 404),
    ("PATCH", "/boards/{board_e}/members/{ada}", {"role": "viewer"}, 404),
    ("DELETE", "/boards/{board_e}/members/{ada}", None, 404),
    # A's column on Eve's board, or as the column of Eve's task: no such column there.
    ("PATCH", "/boards/{board_e}/columns/{column_a}", {"name": "pwned"}, 404),
    ("PATCH", "/tasks/{task_e}", {"column_id": "{column_a}"}, 422),
    # Ada is no member of E: she can't be made the assignee of E's task.
    ("PATCH", "/tasks/{task_e}", {"assignee_id": "{ada}"}, 422),
]
_PARAM_OF = {"board": "board_id", "task": "task_id", "comment": "comment_id",
             "attachment": "attachment_id", "ada": "user_id", "ed": "user_id", "eve": "user_id",
             "vic": "user_id", "column": "column_id", "item": "item_id",
             "notification": "notification_id", "webhook": "webhook_id", "token": "token_id"}


def _fill(template: Any, ids: dict[str, str]) -> Any:
    if isinstance(template, str):
        return template.format(**ids)
    if isinstance(template, dict):
        return {key: _fill(value, ids) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(value, ids) for value in template]
    return template


def _send(api: Api, world: World, method: str, path: str, body: Any,
          ids: dict[str, str]) -> httpx.Response:
    if body == "file":
        return api.call(method, _fill(path, ids), world.eve,
                        files={"file": ("x.txt", b"pwned", "text/plain")})
    return api.call(method, _fill(path, ids), world.eve, json=_fill(body, ids))


def _snapshot(api: Api, world: World) -> dict[str, Any]:
    """Everything of board A that Ada can read, attachment bytes included."""
    a, task_id = world.board_a["id"], world.task_a["id"]
    return {
        "board": api.ok("GET", f"/boards/{a}", world.ada),
        "tokens": api.ok("GET", "/users/me/tokens", world.ada)["items"],
        "tasks": api.ok("GET", f"/tasks?board_id={a}", world.ada)["items"],
        "comments": api.ok("GET", f"/tasks/{task_id}/comments", world.ada)["items"],
        "attachments": api.ok("GET", f"/tasks/{task_id}/attachments", world.ada)["items"],
        "webhooks": api.ok("GET", f"/boards/{a}/webhooks", world.ada)["items"],
        "content": api.call("GET", f"/tasks/{task_id}/attachments/{world.attachment_a['id']}/content",
                            world.ada).content,
    }


@pytest.mark.parametrize(("method", "path", "body", "status"), ROWS,
                         ids=[f"{m} {p}" for m, p, _, _ in ROWS])
def test_another_boards_ids_are_refused_as_if_they_did_not_exist(
        api: Api, world: World, method: str, path: str, body: Any, status: int) -> None:
    ids = {**world.ids(), "eve_email": world.eve.email}
    before = _snapshot(api, world)
    response = _send(api, world, method, path, body, ids)
    problem = assert_problem(response, status)
    if "_a}" in path and status != 422:
        # What a random id of the same kind gets, so the answer leaks no existence.
        fake = {name: (secrets.token_hex(12) if name.endswith("_a") else value)
                for name, value in ids.items()}
        other = _send(api, world, method, path, body, fake)
        assert (other.status_code, other.json()["code"]) == (status, problem["code"])
    assert _snapshot(api, world) == before


def test_a_task_filter_only_reaches_the_callers_boards(api: Api, world: World) -> None:
    by_assignee = api.ok("GET", f"/tasks?assignee_id={world.ed.id}", world.eve)["items"]
    every = api.ok("GET", "/tasks?limit=200", world.eve)["items"]
    assert {t["board_id"] for t in by_assignee + every} <= {world.board_e["id"]}
    stats = api.ok("GET", "/stats", world.eve)
    assert stats["total"] == len(every)
    boards = api.ok("GET", "/boards", world.eve)["items"]
    assert world.board_a["id"] not in {b["id"] for b in boards}


def test_every_route_with_an_id_is_in_the_table(tmp_path: Path) -> None:
    """A new endpoint that takes an id gets a row above, or this fails."""
    app = create_app(Settings(env="test", data_dir=tmp_path, jwt_secret=secrets.token_urlsafe(48)))
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/") and "<" in rule.rule
              for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}

    def rule_of(path: str) -> str:
        path = path.split("?", 1)[0]
        return "/api/v1" + re.sub(r"\{([a-z]+)(?:_[ae])?\}",
                                  lambda m: f"<{_PARAM_OF[m.group(1)]}>", path)

    covered = {(method, rule_of(path)) for method, path, _, _ in ROWS}
    assert routes - covered == set()


async def test_live_commands_with_another_boards_ids(api: Api, world: World, live: Any) -> None:
    eve = await live(world.eve.token)
    vic = await live(world.vic.token)
    a, e = world.board_a["id"], world.board_e["id"]
    for payload in ({"board_id": a}, {"board_id": a, "since": 0}):
        ack = await eve.call("board:join", payload)
        assert ack["ok"] is False and ack["error"]["status"] == 404, ack
    assert (await eve.join(e))["ok"] is True
    editing = await eve.call("task:editing", {"task_id": world.task_a["id"], "editing": True})
    assert editing["ok"] is False and editing["error"]["status"] == 404, editing
    assert (await vic.join(a))["ok"] is True
    assert not any(event == "task:editing" for event, _ in vic.received)

    comment = api.comment(world.ada, world.task_a["id"], "only for members")
    await vic.wait_until(lambda: any(e["data"].get("id") == comment["id"]
                                     for e in vic.board_events(a)))
    # A later event of Eve's own board reaches her: by then A's would have too.
    mine = api.comment(world.eve, world.task_e["id"], "mine")
    await eve.wait_until(lambda: any(e["data"].get("id") == mine["id"]
                                     for e in eve.board_events(e)))
    assert eve.board_events(a) == []
    assert all(data.get("board_id") != a for _, data in eve.received if isinstance(data, dict))
    api.ok("DELETE", f"/tasks/{world.task_a['id']}/comments/{comment['id']}", world.ada)
