"""What only the MongoDB store has: its documents, indexes, start-up checks and the retry of
transient transaction errors; and the API's JSON, identical on both stores."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from taskflow.app import create_app
from taskflow.config import Settings
from taskflow.domain import Comment, Login, RefreshToken
from taskflow.errors import ServiceUnavailable
from taskflow.ids import new_id
from taskflow.storage import mongo as mongo_module
from taskflow.storage.mongo import MongoNotReady, MongoStore
from taskflow.storage.mongo_indexes import INDEXES
from tests.storage.conftest import T0, Stores, make_task, seed
from tests.support.api import register
from tests.support.mongo import MongoTarget

pytestmark = pytest.mark.mongo


@pytest.fixture
async def mongo_stores(mongo: MongoTarget, tmp_path: Any) -> Any:
    opener = Stores(kind="mongo", path=tmp_path / "unused.db", target=mongo)
    try:
        yield opener
    finally:
        await opener.close()


async def _raw(stores: Stores) -> dict[str, list[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stores.target.uri)  # type: ignore[union-attr]
    try:
        db = client[stores.database]
        return {name: await db[name].find({}).to_list(None)
                for name in await db.list_collection_names()}
    finally:
        await client.close()


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


async def test_documents_hold_our_string_ids_and_bson_dates(mongo_stores: Stores) -> None:
    store = await mongo_stores.open()
    (ada,), board = await seed(store)
    task = make_task(board, due_date=T0)

    async def work(t: Any) -> None:
        await t.insert_task(task)
        await t.insert_comment(Comment(id=new_id(), task_id=task.id, board_id=board.id,
                                       author_id=ada.id, body="b", created_at=T0))
        await t.append_event(board.id, type="task:created", actor_id=ada.id, at=T0, data={"a": 1})
        await t.insert_login(Login(id=new_id(), user_id=ada.id, created_at=T0, revoked_at=None,
                                   credentials_version=1))
        await t.insert_refresh_token(RefreshToken(token_hash="x" * 64, login_id=new_id(),
                                                  user_id=ada.id, expires_at=T0, used_at=None))
        await t.revoke_logins_of_user(ada.id, T0)  # a date written by $set
        await t.update_task(replace(task, updated_at=T0, completed_at=T0, status="done"))

    await store.transact(work)
    raw = await _raw(mongo_stores)
    assert {"users", "boards", "members", "tasks", "comments", "events", "logins",
            "refresh_tokens"} <= set(raw)
    for name, docs in raw.items():
        for doc in docs:
            assert isinstance(doc["_id"], str), (name, doc)  # never an ObjectId
            for key, value in doc.items():
                if key.endswith("_at") or key in ("at", "due_date"):
                    assert value is None or isinstance(value, datetime), (name, key, value)
            assert all(isinstance(leaf, str | int | float | bool | datetime | type(None))
                       for leaf in _leaves(doc)), (name, doc)


async def test_a_transient_error_runs_the_work_again(mongo_stores: Stores) -> None:
    store = await mongo_stores.open()
    (ada,), board = await seed(store)
    attempts: list[int] = []

    async def work(t: Any) -> int:
        event = await t.append_event(board.id, type="x", actor_id=ada.id, at=T0, data={})
        attempts.append(event.seq)
        if len(attempts) < 3:  # what the server says when another transaction won the board
            raise OperationFailure("WriteConflict", 112, {
                "ok": 0, "code": 112, "errmsg": "WriteConflict",
                "errorLabels": ["TransientTransactionError"]})
        return int(event.seq)

    assert await store.transact(work) == 1
    assert attempts == [1, 1, 1]  # each failed attempt was rolled back, its seq reused
    assert [e.seq for e in await store.select_events(board.id, since=0, limit=10)] == [1]


async def test_endless_conflicts_end_in_service_unavailable(
    mongo_stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await mongo_stores.open()
    monkeypatch.setattr(mongo_module, "_ATTEMPTS", 3)
    runs: list[int] = []

    async def work(t: Any) -> None:
        runs.append(1)
        raise OperationFailure("WriteConflict", 112, {
            "ok": 0, "code": 112, "errmsg": "WriteConflict",
            "errorLabels": ["TransientTransactionError"]})

    with pytest.raises(ServiceUnavailable):
        await store.transact(work)
    assert len(runs) == 3


async def test_other_errors_are_not_retried(mongo_stores: Stores) -> None:
    store = await mongo_stores.open()
    runs: list[int] = []

    async def work(t: Any) -> None:
        runs.append(1)
        raise OperationFailure("Unauthorized", 13, {"ok": 0, "code": 13, "errmsg": "no"})

    with pytest.raises(OperationFailure):
        await store.transact(work)
    assert runs == [1]


async def test_db_init_is_idempotent_and_missing_indexes_are_named(mongo_stores: Stores) -> None:
    target = mongo_stores.target
    assert target is not None
    uri = target.database_uri(mongo_stores.database)
    with pytest.raises(MongoNotReady, match=r"members\.members_by_user .*taskflow db init"):
        await MongoStore.open(uri, allow_standalone=target.emulator)
    for _ in range(2):  # idempotent
        store = await MongoStore.open(uri, allow_standalone=target.emulator, create_indexes=True)
        await store.close()
    store = await MongoStore.open(uri, allow_standalone=target.emulator)  # nothing missing now
    await store.close()

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(target.uri)
    try:
        events = client[mongo_stores.database]["events"]
        unique = [spec["name"] async for spec in await events.list_indexes() if spec.get("unique")]
        assert len(unique) == 1
        await events.drop_index(unique[0])
    finally:
        await client.close()
    with pytest.raises(MongoNotReady, match=r"events\.events_by_board_seq .*unique"):
        await MongoStore.open(uri, allow_standalone=target.emulator)
    assert {index.name for index in INDEXES} >= {"comments_by_board_task", "events_by_board_seq",
                                                 "tasks_by_board_status", "tasks_by_board_created",
                                                 "tasks_by_assignee"}


async def test_a_standalone_server_is_refused_unless_allowed(mongo_stores: Stores) -> None:
    target = mongo_stores.target
    assert target is not None
    if not target.emulator:
        pytest.skip("needs a standalone server; TASKFLOW_TEST_MONGODB_URI is not one")
    uri = target.database_uri(mongo_stores.database)
    with pytest.raises(MongoNotReady, match=r"standalone.*replica set"):
        await MongoStore.open(uri, create_indexes=True)
    store = await MongoStore.open(uri, allow_standalone=True, create_indexes=True)
    assert store.transactions is False  # not atomic: emulators and tests only
    await store.close()


# --- the same JSON as SQLite ---------------------------------------------------------------
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
_ID = re.compile(r"^[0-9a-f]{24}$")
_OPAQUE = {"access_token", "refresh_token", "next_cursor", "etag", "epoch"}


def _normalized(value: Any, ids: dict[str, str], key: str = "") -> Any:
    """Ids become placeholders in order of appearance, times "<time>"; types stay visible."""
    if isinstance(value, dict):  # ids as keys too (stats by column)
        return {(ids.setdefault(k, f"<id{len(ids)}>") if _ID.match(k) else k): _normalized(v, ids, k)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized(v, ids) for v in value]
    if isinstance(value, str):
        if key in _OPAQUE:
            return f"<{key}>"
        if _ID.match(value):
            return ids.setdefault(value, f"<id{len(ids)}>")
        if key.endswith("_at") or key in ("at", "due_date"):
            assert _TIME.match(value), (key, value)
            return "<time>"
    return value


async def _scenario(client: Any) -> list[Any]:
    """A bit of everything the API returns, in a fixed order (no ties in any listing)."""
    ada = await register(client, name="Ada", email="ada@example.com")
    bob = await register(client, name="Bob", email="bob@example.com")
    bodies: list[Any] = []

    async def call(method: str, path: str, who: Any = ada, **kwargs: Any) -> Any:
        response = await getattr(client, method)(path, headers=who.headers, **kwargs)
        assert response.status_code < 300, (path, await response.get_data(as_text=True))
        body = await response.get_json() if response.status_code != 204 else None
        bodies.append(body)
        return body

    board = await call("post", "/api/v1/boards", json={"name": "Launch", "description": "d"})
    await call("post", f"/api/v1/boards/{board['id']}/members",
               json={"email": "BOB@example.com", "role": "editor"})
    tasks = []
    for n, priority in enumerate(("low", "high", "urgent")):
        body: dict[str, Any] = {"board_id": board["id"], "title": f"Task {n} 50%_off",
                                "priority": priority, "tags": ["a", f"t{n}"]}
        if n:
            body["assignee_id"] = bob.id
        if n != 1:
            body["due_date"] = f"2030-01-0{n + 1}T10:00:00Z"
        tasks.append(await call("post", "/api/v1/tasks", json=body))
    await call("patch", f"/api/v1/tasks/{tasks[0]['id']}", json={"status": "done"},
               who=bob)
    await call("post", f"/api/v1/tasks/{tasks[1]['id']}/comments", json={"body": "first"})
    await call("get", f"/api/v1/tasks/{tasks[1]['id']}/comments")
    for query in ("sort=-priority&limit=2", "sort=due_date", "sort=-due_date", "q=50%25_OFF",
                  f"assignee_id={bob.id}&sort=priority", "status=done"):
        await call("get", f"/api/v1/tasks?board_id={board['id']}&{query}")
    await call("get", f"/api/v1/boards/{board['id']}")
    await call("get", "/api/v1/boards")
    await call("get", f"/api/v1/boards/{board['id']}/events?since=0")
    await call("get", f"/api/v1/boards/{board['id']}/stats")
    await call("get", "/api/v1/stats", who=bob)
    await call("delete", f"/api/v1/tasks/{tasks[2]['id']}")
    await call("get", f"/api/v1/boards/{board['id']}/events?since=5")
    return [{"ada": ada.id, "bob": bob.id}, *bodies]


async def _run(settings: Settings) -> list[Any]:
    app = create_app(settings)
    async with app.test_app():
        return await _scenario(app.test_client())


async def test_the_api_returns_the_same_json_on_both_stores(
    settings: Settings, mongo_stores: Stores, tmp_path: Any
) -> None:
    target = mongo_stores.target
    assert target is not None
    uri = target.database_uri(mongo_stores.database)
    init = await MongoStore.open(uri, allow_standalone=target.emulator, create_indexes=True)
    await init.close()
    on_sqlite = await _run(replace(settings, data_dir=tmp_path / "sqlite"))
    on_mongo = await _run(replace(settings, data_dir=tmp_path / "mongo", mongodb_uri=uri,
                                  mongodb_allow_standalone=target.emulator))
    assert _normalized(on_mongo, {}) == _normalized(on_sqlite, {})


async def test_db_init_names_the_task_of_events_logged_before(mongo_stores: Stores) -> None:
    """Events written before they named their task get a task_id from `db init`; a task
    without a checklist field reads as an empty checklist."""
    store = await mongo_stores.open()
    (ada,), board = await seed(store)
    task = make_task(board)
    await store.transact(lambda t: t.insert_task(task))
    for type, data in [("task:created", {"id": task.id}), ("board:updated", {"id": board.id}),
                       ("comment:created", {"id": "c", "task_id": task.id})]:
        await store.transact(lambda t, type=type, data=data: t.append_event(
            board.id, type=type, actor_id=ada.id, at=T0, data=data))
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_stores.target.uri)  # type: ignore[union-attr]
    try:
        db = client[mongo_stores.database]
        await db["events"].update_many({}, {"$unset": {"task_id": ""}})
        await db["tasks"].update_many({}, {"$unset": {"checklist": ""}})
        assert await store.select_task_events(board.id, task.id, before=None, limit=10) == []
        assert (await store.select_task(task.id)).checklist == ()
        await (await mongo_stores.open()).close()  # what `taskflow db init` runs
        found = await store.select_task_events(board.id, task.id, before=None, limit=10)
        assert [e.seq for e in found] == [3, 1]
        assert (await db["events"].find_one({"seq": 2}))["task_id"] is None  # type: ignore[index]
    finally:
        await client.close()
