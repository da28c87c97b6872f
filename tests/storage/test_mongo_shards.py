"""The sharded layout: every hot query carries its collection's shard key, every unique index
can hold on a sharded cluster, and `db init` shards the collections on a real mongos.

The routing tests capture the commands the store sends (PyMongo command monitoring) while
the real API runs on MongoDB, and read each filter the way mongos would: a query whose
filter pins the first field of the shard key goes to the shard(s) owning that key range;
any other asks every shard. The emulator can't be a mongos, so the routing itself (chunks,
shards) is not exercised here; the sharded `db init` runs only against
TASKFLOW_TEST_MONGODB_SHARDED_URI.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring
from werkzeug.datastructures import FileStorage

from taskflow.app import create_app
from taskflow.config import Settings
from taskflow.storage.mongo import MongoNotReady, MongoStore
from taskflow.storage.mongo_indexes import COLLECTIONS, INDEXES, LAYOUT
from taskflow.storage.mongo_shards import (
    SHARD_KEYS,
    deployment,
    normalized_key,
    shard_key_served,
)
from tests.storage.conftest import Stores
from tests.support.api import register
from tests.support.mongo import MongoTarget

SHARDED_URI_VARIABLE = "TASKFLOW_TEST_MONGODB_SHARDED_URI"
# Not sharded on purpose (README, MongoDB): short-lived tombstones, and one layout marker;
# notifications and watches (README, notifications): read by user, deleted by board.
UNSHARDED = {"deleted_boards", "meta", "notifications", "watches", "idempotency_keys", "webhooks",
             "webhook_deliveries", "personal_tokens", "imports"}
# The queries that ask every shard, each rare or off the hot path, named in the README.
KNOWN_BROADCASTS = {
    ("members", "user_id"): "a user's boards: GET /boards, the live channel's connect",
    ("logins", "user_id"): "revoking every login of a user: password change, token reuse",
    ("attachments", "pending"): "the periodic purge of abandoned direct uploads",
}
_CRUD = {"find", "update", "delete", "findAndModify", "aggregate", "count", "distinct", "insert"}


# --- reading a command as mongos would ---------------------------------------------------------
def _pins(filter: Any, field_name: str) -> bool:
    """Whether `filter` limits `field_name` to given values (equality or $in)."""
    if not isinstance(filter, dict):
        return False
    if field_name in filter:
        value = filter[field_name]
        if not isinstance(value, dict) or "$eq" in value or "$in" in value:
            return True
    return any(_pins(clause, field_name) for clause in filter.get("$and", ()))


@dataclass(frozen=True)
class Query:
    collection: str
    command: str
    filter: Any  # the filter, or the inserted document

    @property
    def targeted(self) -> bool:
        key = SHARD_KEYS[self.collection]
        if self.command == "insert":  # a document must hold its whole shard key
            return all(name in self.filter for name, _ in key)
        return _pins(self.filter, key[0][0])

    def known_broadcast(self) -> bool:
        return any(_pins(self.filter, name) for (collection, name) in KNOWN_BROADCASTS
                   if collection == self.collection)


def queries_of(command_name: str, command: dict[str, Any]) -> list[Query]:
    """The filters (or inserted documents) of one command on a sharded collection."""
    collection = command.get(command_name)
    if command_name not in _CRUD or collection not in SHARD_KEYS:
        return []
    match command_name:
        case "find" | "count" | "distinct":
            filters = [command.get("filter", command.get("query", {}))]
        case "findAndModify":
            filters = [command.get("query", {})]
        case "update":
            filters = [update["q"] for update in command["updates"]]
        case "delete":
            filters = [delete["q"] for delete in command["deletes"]]
        case "aggregate":
            first = command["pipeline"][0] if command["pipeline"] else {}
            filters = [first.get("$match", {})]
        case _:
            filters = list(command["documents"])
    return [Query(collection, command_name, each) for each in filters]


@dataclass
class Recorder(monitoring.CommandListener):
    """Records the CRUD commands sent to one database (the clients of the app under test)."""

    database: str | None = None
    seen: list[Query] = field(default_factory=list)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name == self.database:
            self.seen.extend(queries_of(event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture(scope="session")
def _registered() -> Recorder:
    """One listener for the session: PyMongo can't unregister one, so it ignores every
    database but the one a test names; clients created from now on report to it."""
    listener = Recorder()
    monitoring.register(listener)
    return listener


@pytest.fixture
def recorder(_registered: Recorder) -> Iterator[Recorder]:
    _registered.database, _registered.seen = None, []
    try:
        yield _registered
    finally:
        _registered.database, _registered.seen = None, []


# --- the reader itself ------------------------------------------------------------------------
def test_the_reader_tells_targeted_queries_from_broadcasts() -> None:
    """The checker below could fail: a filter without the shard key reads as a broadcast."""
    def one(name: str, command: dict[str, Any]) -> Query:
        (query,) = queries_of(name, command)
        return query

    assert not one("find", {"find": "tasks", "filter": {"_id": "t1"}}).targeted
    assert not one("find", {"find": "tasks", "filter": {"board_id": {"$gt": "a"}}}).targeted
    assert not one("update", {"update": "comments", "updates": [{"q": {"_id": "c"}}]}).targeted
    assert not one("insert", {"insert": "events", "documents": [{"board_id": "b"}]}).targeted
    assert one("find", {"find": "tasks", "filter": {"$and": [
        {"board_id": {"$in": ["b1", "b2"]}}, {"status": "todo"}]}}).targeted
    assert one("delete", {"delete": "tasks", "deletes": [{"q": {"board_id": "b", "_id": "t"}}]}
               ).targeted
    assert one("aggregate", {"aggregate": "tasks", "pipeline": [
        {"$match": {"board_id": {"$in": ["b"]}}}, {"$group": {"_id": None}}]}).targeted
    assert one("findAndModify", {"findAndModify": "boards", "query": {"_id": "b"}}).targeted
    assert queries_of("find", {"find": "deleted_boards", "filter": {}}) == []


# --- the layout, without a server -------------------------------------------------------------
def test_every_collection_is_sharded_or_deliberately_not() -> None:
    assert set(SHARD_KEYS) | UNSHARDED == set(COLLECTIONS)
    assert not set(SHARD_KEYS) & UNSHARDED
    per_board = {"members", "tasks", "comments", "attachments", "events"}
    assert all(SHARD_KEYS[name][0] == ("board_id", 1) for name in per_board)
    assert all(SHARD_KEYS[name] == (("_id", 1),) for name in ("users", "boards"))


def test_every_unique_index_starts_with_its_shard_key() -> None:
    """MongoDB enforces uniqueness on a sharded collection only for such an index."""
    unique = [index for index in INDEXES if index.unique]
    assert unique  # the events' (board_id, seq) at least
    for index in unique:
        key = SHARD_KEYS.get(index.collection)
        assert key is None or index.keys[:len(key)] == key, index.describe()


def test_every_shard_key_is_ranged_and_served_by_an_index_or_created() -> None:
    for key in SHARD_KEYS.values():
        assert all(way == 1 for _, way in key)
    events = [index.keys for index in INDEXES if index.collection == "events"]
    assert shard_key_served(SHARD_KEYS["events"], events)
    assert not shard_key_served(SHARD_KEYS["tasks"], [(("board_id", 1), ("status", 1))])
    assert normalized_key({"board_id": 1.0, "seq": 1}) == (("board_id", 1), ("seq", 1))
    assert normalized_key({"board_id": "hashed"}) is None


# --- routing of what the API sends ----------------------------------------------------------
async def _everything(client: Any) -> dict[str, str]:
    """Every kind of request that reaches the store, on two users and one board."""
    ada = await register(client, name="Ada", email="ada@example.com")
    bob = await register(client, name="Bob", email="bob@example.com")

    async def call(method: str, path: str, who: Any = ada, **kwargs: Any) -> Any:
        response = await getattr(client, method)(f"/api/v1{path}", headers=who.headers, **kwargs)
        assert response.status_code < 300, (path, await response.get_data(as_text=True))
        return await response.get_json() if response.status_code != 204 else None

    board = (await call("post", "/boards", json={"name": "B"}))["id"]
    await call("post", f"/boards/{board}/members", json={"email": "BOB@example.com",
                                                         "role": "editor"})
    await call("patch", f"/boards/{board}/members/{bob.id}", json={"role": "viewer"})
    await call("patch", f"/boards/{board}/members/{bob.id}", json={"role": "editor"})
    await call("patch", f"/boards/{board}", json={"name": "B2"})
    tasks = [(await call("post", "/tasks", json={"board_id": board, "title": f"t{n}"}))["id"]
             for n in range(3)]
    task = tasks[0]
    await call("get", f"/tasks/{task}")
    await call("patch", f"/tasks/{task}", json={"status": "done"}, who=bob)
    await call("patch", f"/tasks/{task}", json={"position": 0.0000001})  # crowds the column
    await call("get", f"/tasks?board_id={board}&status=todo&sort=priority")
    await call("get", "/tasks?q=t&sort=-due_date")
    await call("get", "/search?q=t%20status:todo")  # tasks aggregate: $text, board_id $in
    comment = (await call("post", f"/tasks/{task}/comments", json={"body": "hi"}))["id"]
    await call("get", f"/tasks/{task}/comments")
    await call("delete", f"/tasks/{task}/comments/{comment}")
    files = {"file": FileStorage(stream=io.BytesIO(b"abc"), filename="a.txt",
                                 content_type="text/plain")}
    attachment = (await call("post", f"/tasks/{task}/attachments", files=files))["id"]
    await call("get", f"/tasks/{task}/attachments")
    await call("get", f"/tasks/{task}/attachments/{attachment}/content")
    await call("delete", f"/tasks/{task}/attachments/{attachment}")
    await call("get", f"/boards/{board}/events?since=2&limit=5")
    await call("get", f"/boards/{board}/stats")
    await call("get", "/stats", who=bob)
    await call("get", "/boards", who=bob)
    await call("delete", f"/tasks/{tasks[1]}")
    await call("delete", f"/boards/{board}/members/{bob.id}")
    await call("patch", "/users/me", json={"email": "ada2@example.com",
                                           "current_password": ada.password})
    await call("delete", f"/boards/{board}")
    return {"board": board, "task": task}


@pytest.mark.mongo
async def test_every_hot_query_of_the_api_carries_the_shard_key(
    settings: Settings, mongo: MongoTarget, recorder: Recorder, tmp_path: Any
) -> None:
    database = f"tf_{uuid.uuid4().hex[:16]}"
    uri = mongo.database_uri(database)
    try:
        init = await MongoStore.open(uri, allow_standalone=mongo.emulator, create_indexes=True)
        await init.close()
        recorder.database = database
        app = create_app(replace(settings, data_dir=tmp_path / "data", mongodb_uri=uri,
                                 mongodb_allow_standalone=mongo.emulator))
        async with app.test_app():
            await _everything(app.test_client())
    finally:
        recorder.database = None
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri)
        await client.drop_database(database)
        await client.close()

    seen = recorder.seen
    # The run reached every sharded collection it should (the recorder saw the app's client).
    assert {q.collection for q in seen} == set(SHARD_KEYS)
    broadcasts = [q for q in seen if not q.targeted]
    assert [q for q in broadcasts if not q.known_broadcast()] == []
    # The hot ones, by name: each was sent, and each with its key.
    hot = {("tasks", "find"), ("tasks", "update"), ("tasks", "delete"), ("tasks", "insert"),
           ("tasks", "aggregate"), ("task_boards", "find"), ("comments", "find"),
           ("comments", "insert"), ("comments", "delete"), ("events", "find"),
           ("events", "insert"), ("boards", "findAndModify"), ("attachments", "find"),
           ("attachments", "delete"), ("members", "update"), ("user_emails", "find")}
    assert hot <= {(q.collection, q.command) for q in seen}
    assert all(q.targeted for q in seen if (q.collection, q.command) in hot
               and not q.known_broadcast())


@pytest.mark.mongo
async def test_an_older_layout_is_refused_and_db_init_upgrades_it(
    settings: Settings, mongo: MongoTarget, tmp_path: Any
) -> None:
    """Data of layout 1 (emails unique on users, no lookups, no columns, no epochs) works
    again after `db init` (or `db migrate`, the same routine)."""
    stores = Stores(kind="mongo", path=tmp_path / "unused.db", target=mongo)
    uri = mongo.database_uri(stores.database)
    run = replace(settings, data_dir=tmp_path / "data", mongodb_uri=uri,
                  mongodb_allow_standalone=mongo.emulator)
    try:
        init = await MongoStore.open(uri, allow_standalone=mongo.emulator, create_indexes=True)
        await init.close()
        app = create_app(run)
        async with app.test_app():
            client = app.test_client()
            ada = await register(client, name="Ada", email="Ada@Example.com")
            board = (await (await client.post("/api/v1/boards", headers=ada.headers,
                                              json={"name": "B"})).get_json())["id"]
            task = await (await client.post("/api/v1/tasks", headers=ada.headers,
                                            json={"board_id": board, "title": "t"})).get_json()
        raw: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri)
        try:  # back to layout 1
            db = raw[stores.database]
            for name in ("user_emails", "task_boards", "meta"):
                await db[name].delete_many({})
            await db["users"].create_index([("email_norm", 1)], name="users_by_email",
                                           unique=True)
            await db["boards"].update_many({}, {"$unset": {"columns": "", "epoch": ""}})
            await db["tasks"].update_many({}, {"$unset": {"column_id": ""}})
        finally:
            await raw.close()
        with pytest.raises(MongoNotReady, match=f"layout 0.*layout {LAYOUT}.*taskflow db migrate"):
            await MongoStore.open(uri, allow_standalone=mongo.emulator)
        for _ in range(2):  # idempotent
            store = await MongoStore.open(uri, allow_standalone=mongo.emulator,
                                          create_indexes=True)
            await store.close()
        store = await MongoStore.open(uri, allow_standalone=mongo.emulator)
        try:
            assert (await store.select_user_by_email("ADA@example.com")).id == ada.id
            assert (await store.select_task(task["id"])).board_id == board
            columns = (await store.select_board(board)).columns
            assert [c.category for c in columns] == ["todo", "in_progress", "done"]
            assert (await store.select_task(task["id"])).column_id == columns[0].id
            epoch = (await store.select_board(board)).epoch
            assert len(epoch) == 16 and int(epoch, 16) >= 0
        finally:
            await store.close()
        raw = AsyncMongoClient(mongo.uri)
        try:
            users = raw[stores.database]["users"]
            assert [spec async for spec in await users.list_indexes()
                    if spec.get("unique")] == []
        finally:
            await raw.close()
    finally:
        await stores.close()


# --- on a sharded cluster ---------------------------------------------------------------------
@pytest.mark.mongo
async def test_db_init_shards_every_collection_on_a_sharded_cluster() -> None:
    uri = os.environ.get(SHARDED_URI_VARIABLE, "").strip()
    if not uri:
        pytest.skip(f"needs a mongos: set {SHARDED_URI_VARIABLE} to a sharded cluster's URI "
                    "(the NX-27017 emulator and a replica set can't shard: hello has no "
                    "msg 'isdbgrid', and shardCollection is a mongos command)")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    database = f"tf_{uuid.uuid4().hex[:16]}"
    target = MongoTarget(uri=uri, emulator=False)
    try:
        assert (await deployment(client)).sharded
        for _ in range(2):  # the second run finds every collection sharded by its key
            store = await MongoStore.open(target.database_uri(database), create_indexes=True)
            await store.close()
        config = client["config"]["collections"]
        for name, key in SHARD_KEYS.items():
            doc = await config.find_one({"_id": f"{database}.{name}"})
            assert doc is not None and normalized_key(doc["key"]) == key, name
        other = f"tf_{uuid.uuid4().hex[:16]}"
        await client.admin.command("shardCollection", f"{other}.tasks", key={"_id": "hashed"})
        with pytest.raises(MongoNotReady, match=r"already sharded by \{_id: 'hashed'\}"):
            await MongoStore.open(target.database_uri(other), create_indexes=True)
        await client.drop_database(other)
    finally:
        await client.drop_database(database)
        await client.close()
