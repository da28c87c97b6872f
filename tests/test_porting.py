"""Board export and import (README "Export and import"), against a real `taskflow serve`."""

from __future__ import annotations

import csv
import io
import json
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskflow.config import Settings, SettingsError
from taskflow.http.porting_schemas import BoardExport
from taskflow.http.schemas import BoardOut
from tests.support.liveclient import LiveClient
from tests.support.processes import TaskflowServer, serving

FIXTURE = Path(__file__).parent / "fixtures" / "trello_board.json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskflowServer]:
    tmp = tmp_path_factory.mktemp("porting")
    env = {"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test",
           "TASKFLOW_DATA_DIR": str(tmp / "data"), "TASKFLOW_MAX_IMPORT_MB": "2",
           "TASKFLOW_IMPORT_MAX_TASKS": "50", "TASKFLOW_RATE_LIMIT_IMPORT": "2/minute"}
    with serving(env, tmp / "work") as started:
        yield started


class User:
    def __init__(self, http: httpx.AsyncClient, token: str, email: str, user_id: str) -> None:
        self.http, self.token, self.email, self.id = http, token, email, user_id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.call(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    async def import_(self, body: bytes | str) -> httpx.Response:
        data = body.encode() if isinstance(body, str) else body
        return await self.call("POST", "/api/v1/boards/import", content=data,
                               headers={"Content-Type": "application/json"})


@pytest.fixture
async def http(server: TaskflowServer) -> Any:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        yield client


async def register(http: httpx.AsyncClient, name: str = "Ada") -> User:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    r = await http.post("/api/v1/auth/register",
                        json={"email": email, "password": "correct horse", "name": name})
    assert r.status_code == 201, r.text
    body = r.json()
    return User(http, body["access_token"], email, body["user"]["id"])


def check_board(body: dict[str, Any]) -> None:
    assert BoardOut.model_validate(body).model_dump(mode="json") == body


def check_export(body: dict[str, Any]) -> None:
    assert BoardExport.model_validate(body).model_dump(mode="json") == body


async def board_ids(user: User) -> set[str]:
    return {b["id"] for b in (await user.ok("GET", "/api/v1/boards?limit=200"))["items"]}


async def test_export_then_import_gives_the_same_board(http: httpx.AsyncClient) -> None:
    ada, bob = await register(http, "Ada"), await register(http, "Bob")
    board = await ada.ok("POST", "/api/v1/boards", 201, json={"name": "Launch",
                                                             "description": "Q3 launch"})
    await ada.ok("POST", f"/api/v1/boards/{board['id']}/members", 201,
                 json={"email": bob.email, "role": "editor"})
    review = await ada.ok("POST", f"/api/v1/boards/{board['id']}/columns", 201,
                          json={"name": "Review", "category": "in_progress", "wip_limit": 3})
    one = await ada.ok("POST", "/api/v1/tasks", 201, json={
        "board_id": board["id"], "title": "Write copy", "description": "Hi \"there\", ünïcode",
        "priority": "high", "due_date": "2026-05-01T10:00:00Z", "tags": ["content", "web"],
        "assignee_id": ada.id})
    two = await bob.ok("POST", "/api/v1/tasks", 201, json={
        "board_id": board["id"], "title": "Review it", "assignee_id": bob.id})
    await bob.ok("PATCH", f"/api/v1/tasks/{two['id']}", json={"column_id": review["id"]})
    for text, done in (("first", True), ("second", False)):
        await ada.ok("POST", f"/api/v1/tasks/{one['id']}/checklist", 201,
                     json={"text": text, "done": done})
    await ada.ok("POST", f"/api/v1/tasks/{one['id']}/comments", 201, json={"body": "mine"})
    await bob.ok("POST", f"/api/v1/tasks/{one['id']}/comments", 201, json={"body": "bob's"})

    r = await bob.call("GET", f"/api/v1/boards/{board['id']}/export")  # any member
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["content-disposition"].startswith("attachment;")
    exported = r.json()
    check_export(exported)
    assert [(m["email"], m["role"]) for m in exported["members"]] == [
        (ada.email, "owner"), (bob.email, "editor")]
    assert [c["name"] for c in exported["columns"]] == ["To do", "In progress", "Done", "Review"]

    r = await ada.import_(r.content)
    assert r.status_code == 201, r.text
    made = r.json()
    check_board(made)
    assert (made["name"], made["description"], made["role"]) == ("Launch", "Q3 launch", "owner")
    # Only the importer: nobody is put on a board they never asked for.
    assert [m["email"] for m in made["members"]] == [ada.email]
    again = (await ada.call("GET", f"/api/v1/boards/{made['id']}/export")).json()

    def comparable(doc: dict[str, Any]) -> Any:
        names = {c["id"]: c["name"] for c in doc["columns"]}
        columns = [{k: v for k, v in c.items() if k != "id"} for c in doc["columns"]]
        tasks = sorted(({**{k: v for k, v in t.items() if k not in (
            "id", "column_id", "updated_at", "completed_at", "created_by_email", "comments")},
            "column": names[t["column_id"]],
            "comments": [(c["body"], c["created_at"]) for c in t["comments"]]}
            for t in doc["tasks"]), key=lambda t: t["title"])
        return doc["board"], columns, tasks

    board_a, columns_a, tasks_a = comparable(exported)
    board_b, columns_b, tasks_b = comparable(again)
    assert (board_a, columns_a) == (board_b, columns_b)
    # Bob's assignment and authorship are not carried over to a board he is not on.
    for task in tasks_a:
        if task["assignee_email"] == bob.email:
            task["assignee_email"] = None
        task["comments"] = [(f"[Bob] {body}" if body == "bob's" else body, at)
                            for body, at in task["comments"]]
    assert tasks_a == tasks_b
    assert [c["author_email"] for c in again["tasks"][0]["comments"]] == [ada.email, ada.email]

    # One event stream: board:created first, then the tasks and their comments.
    events = (await ada.ok("GET", f"/api/v1/boards/{made['id']}/events"))["items"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events] == ["board:created", "task:created", "comment:created",
                                           "comment:created", "task:created"]
    assert made["seq"] == len(events)
    assert made["id"] in await board_ids(ada) and made["id"] not in await board_ids(bob)


async def test_csv_export_quotes_and_defuses_formulas(http: httpx.AsyncClient) -> None:
    ada = await register(http)
    board = await ada.ok("POST", "/api/v1/boards", 201, json={"name": "CSV"})
    titles = ["=HYPERLINK(\"http://evil\")", "+1", "-2", "@SUM(A1)", "plain, \"quoted\"",
              "line\nbreak"]
    for title in titles:
        await ada.ok("POST", "/api/v1/tasks", 201, json={"board_id": board["id"],
                                                         "title": title, "tags": ["=x"]})
    await ada.ok("POST", "/api/v1/tasks", 201, json={"board_id": board["id"], "title": "tab",
                                                     "description": "\tcmd"})
    r = await ada.call("GET", f"/api/v1/boards/{board['id']}/export?format=csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="CSV.csv"' in r.headers["content-disposition"]
    text = r.content.decode("utf-8")
    assert text.startswith("id,title,description,column,status,")
    assert "\r\n" in text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    by_title = {row["title"]: row for row in rows}
    assert set(by_title) == {"'=HYPERLINK(\"http://evil\")", "'+1", "'-2", "'@SUM(A1)",
                             "plain, \"quoted\"", "line\nbreak", "tab"}
    assert by_title["tab"]["description"] == "'\tcmd"
    assert {row["tags"] for row in rows if row["title"] != "tab"} == {"'=x"}
    assert {row["column"] for row in rows} == {"To do"}
    assert '"plain, ""quoted"""' in text  # RFC 4180: quotes doubled inside a quoted field


async def test_export_is_for_members_only(http: httpx.AsyncClient) -> None:
    ada, eve = await register(http, "Ada"), await register(http, "Eve")
    board = await ada.ok("POST", "/api/v1/boards", 201, json={"name": "Private"})
    for fmt in ("json", "csv"):
        r = await eve.call("GET", f"/api/v1/boards/{board['id']}/export?format={fmt}")
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
    r = await ada.call("GET", f"/api/v1/boards/{board['id']}/export?format=xml")
    assert r.status_code == 422


async def test_trello_export_is_imported(http: httpx.AsyncClient) -> None:
    ada = await register(http)
    live = await LiveClient(str(http.base_url), ada.token).connect()
    try:
        r = await ada.import_(FIXTURE.read_bytes())
        assert r.status_code == 201, r.text
        made = r.json()
        check_board(made)
        # The importer's live connections are told of the new board like of any other.
        await live.wait_until(lambda: {"board_id": made["id"], "change": "board:created"}
                              in live.named("boards:changed"), timeout=10)
    finally:
        await live.close()
    assert (made["name"], made["description"]) == ("Website relaunch",
                                                   "Everything for the new site")
    # Open lists by pos; categories from names (Backlog, Shipped) or place (Design, between).
    assert [(c["name"], c["category"]) for c in made["columns"]] == [
        ("Backlog", "todo"), ("Design", "in_progress"), ("Shipped", "done")]
    column = {c["id"]: c["name"] for c in made["columns"]}
    tasks = (await ada.ok("GET", f"/api/v1/tasks?board_id={made['id']}&sort=position"))["items"]
    got = {t["title"]: t for t in tasks}
    # Closed cards and the cards of closed lists are left out.
    assert set(got) == {"Write copy", "Pick a font", "Buy the domain", "Plan launch party"}
    copy = got["Write copy"]
    assert (column[copy["column_id"]], copy["status"], copy["description"], copy["tags"],
            copy["due_date"], copy["assignee_id"]) == (
        "Backlog", "todo", "Homepage and about page", ["content"], "2026-03-01T17:00:00.000Z",
        None)
    assert [(i["text"], i["done"]) for i in copy["checklist"]] == [("Home", True),
                                                                  ("About", False)]
    assert got["Pick a font"]["tags"] == ["design", "orange"]  # idLabels, colour for no name
    assert got["Plan launch party"]["tags"] == ["red"]
    domain = got["Buy the domain"]
    assert (domain["status"], domain["due_date"]) == ("done", "2026-01-10T00:00:00.000Z")
    assert [(i["text"], i["done"]) for i in domain["checklist"]] == [
        ("Before: Compare registrars", True), ("After: Set up mail", False)]
    backlog = [t["title"] for t in tasks if column[t["column_id"]] == "Backlog"]
    assert backlog == ["Plan launch party", "Write copy"]  # by pos
    comments = (await ada.ok("GET", f"/api/v1/tasks/{copy['id']}/comments"))["items"]
    assert [(c["body"], c["author_id"], c["created_at"]) for c in comments] == [
        ("[Ada Lovelace] First draft is in the drive", ada.id, "2026-02-01T08:30:00.000Z"),
        ("[Grace Hopper] Copy is approved =SUM(A1)", ada.id, "2026-02-03T10:15:00.000Z")]
    events = (await ada.ok("GET", f"/api/v1/boards/{made['id']}/events"))["items"]
    types = [e["type"] for e in events]
    assert types == ["board:created"] + ["task:created"] * 4 + ["comment:created"] * 2


def _trello(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(FIXTURE.read_text())
    doc.update(changes)
    return doc


def _bad_cards() -> list[dict[str, Any]]:
    cards: list[dict[str, Any]] = _trello()["cards"]
    cards[5] = {**cards[5], "name": 17}
    return cards


BAD = [
    ("not json", b"hello there", "$"),
    ("truncated", FIXTURE.read_bytes()[:-40], "$"),
    ("an array", b"[1, 2]", "$"),
    ("empty", b"", "$"),
    ("unknown format", json.dumps({"name": "x", "items": []}).encode(), "$"),
    ("a card's name", json.dumps(_trello(cards=_bad_cards())).encode(), "$.cards[5].name"),
    ("a card's list", json.dumps(_trello(cards=[{**_trello()["cards"][0], "idList": "nope"}])
                                 ).encode(), "$.cards[0].idList"),
    ("lists not an array", json.dumps(_trello(lists={"a": 1})).encode(), "$.lists"),
    ("a check item's state", json.dumps(_trello(checklists=[{
        "idCard": "c", "name": "n", "pos": 1, "checkItems": [{"name": "x", "state": "maybe"}]}]
    )).encode(), "$.checklists[0].checkItems[0].state"),
    ("a comment's date", json.dumps(_trello(actions=[{
        "type": "commentCard", "date": "yesterday", "data": {"text": "t", "card": {"id": "c"}}}]
    )).encode(), "$.actions[0].date"),
    ("a wrong version", json.dumps({"format": "taskflow-board", "version": 9}).encode(),
     "$.version"),
    ("a task's column", json.dumps({
        "format": "taskflow-board", "version": 1, "board": {"name": "B", "description": ""},
        "columns": [{"id": c, "name": c, "category": c, "wip_limit": None, "order": i}
                    for i, c in enumerate(("todo", "in_progress", "done"))],
        "members": [], "tasks": [{"id": "1", "title": "ok", "column_id": "todo"},
                                 {"id": "2", "title": "bad", "column_id": "elsewhere"}]}
    ).encode(), "$.tasks[1].column_id"),
    ("an empty column id", json.dumps({
        "format": "taskflow-board", "version": 1, "board": {"name": "B", "description": ""},
        "columns": [{"id": "" if c == "done" else c, "name": c, "category": c,
                     "wip_limit": None, "order": i}
                    for i, c in enumerate(("todo", "in_progress", "done"))],
        "members": [], "tasks": []}).encode(), "$.columns[2].id"),
    ("too many tasks", json.dumps(_trello(cards=[
        {**_trello()["cards"][0], "id": f"{n:024x}", "name": f"card {n}"} for n in range(51)])
    ).encode(), "$.cards"),
]


@pytest.mark.parametrize(("body", "path"), [(b, p) for _, b, p in BAD],
                         ids=[name for name, _, _ in BAD])
async def test_bad_input_is_422_naming_the_path_and_leaves_no_trace(
        http: httpx.AsyncClient, server: TaskflowServer, body: bytes, path: str) -> None:
    ada = await register(http)
    before = await board_ids(ada)
    r = await ada.import_(body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "validation_failed"
    assert problem["errors"][0]["loc"] == ["body", path]
    assert await board_ids(ada) == before
    hits = await ada.ok("GET", "/api/v1/search?q=copy")
    assert hits["items"] == []
    assert _staged(server) == (0, 0)


def _staged(server: TaskflowServer) -> tuple[int, int]:
    """Boards without members and imports under way, in the server's SQLite file."""
    data = Path(server.env["TASKFLOW_DATA_DIR"])
    with sqlite3.connect(next(data.glob("*.db"))) as db:
        memberless = db.execute("SELECT COUNT(*) FROM boards b WHERE NOT EXISTS"
                                " (SELECT 1 FROM members m WHERE m.board_id = b.id)").fetchone()
        imports = db.execute("SELECT COUNT(*) FROM imports").fetchone()
    return int(memberless[0]), int(imports[0])


async def test_too_large_is_413_and_a_stranger_cannot_import(http: httpx.AsyncClient,
                                                             server: TaskflowServer) -> None:
    ada = await register(http)
    r = await ada.import_(b"{" + b" " * (3 * 1024 * 1024) + b"}")
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    r = await http.post("/api/v1/boards/import", content=FIXTURE.read_bytes())
    assert r.status_code == 401
    assert _staged(server) == (0, 0)


async def test_imports_are_rate_limited_per_user(http: httpx.AsyncClient) -> None:
    ada, bob = await register(http, "Ada"), await register(http, "Bob")
    for _ in range(2):
        assert (await ada.import_(b"[]")).status_code == 422  # counted, even when refused
    r = await ada.import_(FIXTURE.read_bytes())
    assert r.status_code == 429
    assert r.json()["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
    assert (await bob.import_(FIXTURE.read_bytes())).status_code == 201  # per user


def test_import_settings() -> None:
    s = Settings.from_environ({"TASKFLOW_MAX_IMPORT_MB": "5", "TASKFLOW_IMPORT_MAX_TASKS": "9",
                               "TASKFLOW_RATE_LIMIT_IMPORT": "1/second"})
    assert (s.max_import_bytes, s.import_max_tasks, s.rate_limits.import_per_user) == (
        5 * 1024 * 1024, 9, "1/second")
    defaults = Settings.from_environ({})
    assert (defaults.max_import_bytes, defaults.import_max_tasks) == (200 * 1024 * 1024, 200_000)
    for name, value in (("TASKFLOW_MAX_IMPORT_MB", "0"), ("TASKFLOW_IMPORT_MAX_TASKS", "x"),
                        ("TASKFLOW_RATE_LIMIT_IMPORT", "lots")):
        with pytest.raises(SettingsError) as caught:
            Settings.from_environ({name: value})
        assert name in str(caught.value) and "\n" not in str(caught.value)
