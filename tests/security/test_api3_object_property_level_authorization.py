"""API3:2023 Broken Object Property Level Authorization.

Writes can't set properties the server owns (mass assignment: 422, nothing changes); reads
and live events never carry password hashes, and nobody sees the email of a user they share
no board with.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jwt
import pytest

from tests.security.conftest import World
from tests.security.target import Api, Person, assert_problem, register

# (method, path, a valid body, server-owned or unknown fields to smuggle in)
WRITES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("POST", "/auth/register", {"email": "new@example.com", "password": "long enough", "name": "N"},
     ["id", "created_at", "password_hash", "role", "credentials_version", "is_admin"]),
    ("POST", "/auth/login", {"email": "{eve_email}", "password": "wrong password"}, ["user_id"]),
    ("POST", "/auth/refresh", {"refresh_token": "x"}, ["user_id", "login_id"]),
    ("PATCH", "/users/me", {"name": "Eve"},
     ["id", "created_at", "password_hash", "credentials_version", "email_norm"]),
    ("POST", "/boards", {"name": "B"}, ["id", "owner_id", "seq", "members", "role", "created_at"]),
    ("PATCH", "/boards/{board_e}", {"name": "E"},
     ["id", "owner_id", "seq", "members", "role", "updated_at"]),
    ("POST", "/boards/{board_e}/members", {"email": "{ada_email}", "role": "viewer"},
     ["user_id", "name"]),
    ("PATCH", "/boards/{board_e}/members/{ada}", {"role": "viewer"}, ["email", "user_id", "name"]),
    ("POST", "/tasks", {"board_id": "{board_e}", "title": "T"},
     ["id", "version", "created_by", "created_at", "updated_at", "completed_at"]),
    ("PATCH", "/tasks/{task_e}", {"title": "T"},
     ["id", "board_id", "version", "created_by", "created_at", "updated_at", "completed_at"]),
    ("POST", "/tasks/{task_e}/comments", {"body": "C"}, ["id", "author_id", "task_id", "created_at"]),
    ("POST", "/boards/{board_e}/webhooks",
     {"url": "https://93.184.215.14/h", "events": ["member:updated"]},
     ["id", "secret", "active", "cursor", "last_delivered_seq", "created_by", "board_id",
      "disabled_reason"]),
    ("POST", "/tasks/{task_e}/attachments/uploads", {"filename": "f.txt", "size": 1},
     ["storage_key", "created_by", "pending", "task_id"]),
]
CASES = [(method, path, body, field) for method, path, body, fields in WRITES for field in fields]
BCRYPT = re.compile(r"\$2[aby]?\$\d\d\$")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    return {k: _fill(v, ids) for k, v in value.items()} if isinstance(value, dict) else value


def _eves_things(api: Api, world: World) -> dict[str, Any]:
    e, t = world.board_e["id"], world.task_e["id"]
    return {"me": api.ok("GET", "/users/me", world.eve), "board": api.ok("GET", f"/boards/{e}", world.eve),
            "task": api.ok("GET", f"/tasks/{t}", world.eve),
            "comments": api.ok("GET", f"/tasks/{t}/comments", world.eve)}


@pytest.mark.parametrize(("method", "path", "body", "field"), CASES,
                         ids=[f"{m} {p} +{f}" for m, p, _, f in CASES])
def test_server_owned_fields_are_refused(api: Api, world: World, method: str, path: str,
                                         body: dict[str, Any], field: str) -> None:
    ids = {**world.ids(), "eve_email": world.eve.email, "ada_email": world.ada.email}
    before = _eves_things(api, world)
    smuggled = {**_fill(body, ids), field: "pwned" if field != "seq" else 999}
    problem = assert_problem(api.call(method, _fill(path, ids), world.eve, json=smuggled), 422,
                             "validation_failed")
    assert any(error["loc"][-1] == field for error in problem["errors"]), problem
    assert _eves_things(api, world) == before


def _everything(api: Api, who: Person) -> list[Any]:
    """Every document `who` can read about the world, by every listing and detail route."""
    seen: list[Any] = [api.ok("GET", "/users/me", who), api.ok("GET", "/stats", who)]
    for board in api.ok("GET", "/boards", who)["items"]:
        seen += [board, api.ok("GET", f"/boards/{board['id']}", who),
                 api.ok("GET", f"/boards/{board['id']}/events?since=0&limit=1000", who),
                 api.ok("GET", f"/boards/{board['id']}/stats", who)]
    for task in api.ok("GET", "/tasks?limit=200", who)["items"]:
        seen += [task, api.ok("GET", f"/tasks/{task['id']}/comments", who),
                 api.ok("GET", f"/tasks/{task['id']}/attachments", who)]
    return seen


def _assert_no_secrets(documents: Any, allowed_emails: set[str]) -> None:
    text = json.dumps(documents)
    assert not BCRYPT.search(text), "a bcrypt hash in a response or event"
    assert not re.search(r'"(password|password_hash|refresh_token_hash|credentials_version|'
                         r'storage_key|token_hash)"', text), "a secret-bearing key"
    emails = {match.lower() for match in EMAIL.findall(text)}
    assert emails <= {email.lower() for email in allowed_emails}, emails - allowed_emails


async def test_no_hashes_or_strangers_emails_in_responses_or_events(
        api: Api, world: World, live: Any) -> None:
    eve_live, ada_live = await live(world.eve.token), await live(world.ada.token)
    joins = [await eve_live.join(world.board_e["id"], since=0),
             await ada_live.join(world.board_a["id"], since=0)]
    comment = api.comment(world.ed, world.task_a["id"], "watch this")
    api.ok("DELETE", f"/tasks/{world.task_a['id']}/comments/{comment['id']}", world.ed)
    await ada_live.wait_until(lambda: any(e["type"] == "comment:deleted"
                                          for e in ada_live.board_events(world.board_a["id"])))
    _assert_no_secrets([_everything(api, world.eve), joins[0], eve_live.received],
                       {world.eve.email})
    _assert_no_secrets([_everything(api, world.ada), joins[1], ada_live.received],
                       {world.ada.email, world.ed.email, world.vic.email})


def test_tokens_carry_no_personal_data(world: World) -> None:
    payload = jwt.decode(world.eve.token, options={"verify_signature": False})
    assert set(payload) <= {"sub", "sid", "iss", "aud", "iat", "exp", "jti", "typ"}, payload
    assert world.eve.email not in json.dumps(payload)
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", world.eve.refresh_token)  # opaque, not a JWT


def test_a_former_members_email_is_not_served_to_later_members(http: Any, api: Api) -> None:
    owner, former, later = (register(http, name) for name in ("Olga", "Fred", "Lena"))
    board = api.board(owner, "Churn", fred=(former, "editor"))
    api.ok("PATCH", f"/boards/{board['id']}", owner, json={"name": "Churn 2"})
    api.ok("DELETE", f"/boards/{board['id']}/members/{former.id}", owner)
    api.ok("POST", f"/boards/{board['id']}/members", owner, json={"email": later.email, "role": "viewer"})
    _assert_no_secrets(_everything(api, later), {owner.email, later.email})
