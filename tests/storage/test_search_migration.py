"""Data written before search is found by it after the upgrade: SQLite's migration back-fills
the FTS index; MongoDB's `db init` back-fills each task's comment text."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from taskflow.domain import SearchQuery
from taskflow.storage.mongo import MongoStore
from taskflow.storage.sqlite import SqliteStore
from taskflow.storage.sqlite_schema import MIGRATIONS
from taskflow.timefmt import to_ts
from tests.storage.conftest import T0, Stores, make_board, make_task, make_user
from tests.support.mongo import MongoTarget

SEARCH = next(i for i, script in enumerate(MIGRATIONS) if "search_fts" in script)


async def test_sqlite_migration_back_fills_the_index(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:SEARCH]:
        for statement in filter(str.strip, script.split(";")):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SEARCH}")
    stamp = to_ts(T0)
    conn.execute("INSERT INTO users (id, email, email_norm, name, password_hash, created_at)"
                 " VALUES ('u', 'a@x.io', 'a@x.io', 'A', 'h', ?)", (stamp,))
    conn.execute("INSERT INTO boards (id, name, description, owner_id, created_at, updated_at)"
                 " VALUES ('b', 'B', '', 'u', ?, ?)", (stamp, stamp))
    for n, (title, body) in enumerate([("old walrus", None), ("plain", "a penguin said hi")]):
        conn.execute("INSERT INTO tasks (id, board_id, title, description, status, priority,"
                     " priority_rank, tags, position, created_by, created_at, updated_at, version)"
                     " VALUES (?, 'b', ?, '', 'todo', 'medium', 1, ?, ?, 'u', ?, ?, 1)",
                     (f"t{n}", title, json.dumps([]), float(n), stamp, stamp))
        if body:
            conn.execute("INSERT INTO comments (id, task_id, board_id, author_id, body,"
                         " created_at) VALUES ('c', ?, 'b', 'u', ?, ?)", (f"t{n}", body, stamp))
    conn.commit()
    conn.close()

    store = await SqliteStore.open(path, migrate=True)  # `taskflow db migrate`: an old file
    try:
        found = await store.search_tasks(SearchQuery(board_ids=("b",), terms=(("walrus",),)))
        assert [(h.task.id, h.matched_in) for h in found] == [("t0", ("title",))]
        found = await store.search_tasks(SearchQuery(board_ids=("b",), terms=(("penguin",),)))
        assert [(h.task.id, h.matched_in) for h in found] == [("t1", ("comments",))]
    finally:
        await store.close()


@pytest.mark.mongo
async def test_mongo_db_init_back_fills_comment_text(mongo: MongoTarget, tmp_path: Path) -> None:
    stores = Stores(kind="mongo", path=tmp_path / "unused.db", target=mongo)
    uri = mongo.database_uri(stores.database)
    try:
        store = await stores.open()
        user = make_user()
        board = make_board(user)
        task = make_task(board, 1, title="plain")

        async def work(tx: Any) -> None:
            await tx.insert_user(user)
            await tx.insert_board(board)
            await tx.insert_task(task)

        await store.transact(work)
        raw: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri)
        try:  # as a TaskFlow before search left it: a comment, no copy of its text
            db = raw[stores.database]
            await db["tasks"].update_one({"_id": task.id}, {"$unset": {"search_comments": ""}})
            await db["comments"].insert_one({"_id": "c", "task_id": task.id,
                                             "board_id": board.id, "author_id": user.id,
                                             "body": "a penguin said hi", "created_at": T0})
        finally:
            await raw.close()
        for _ in range(2):  # idempotent
            again = await MongoStore.open(uri, allow_standalone=mongo.emulator,
                                          create_indexes=True)
            await again.close()
        found = await store.search_tasks(SearchQuery(board_ids=(board.id,),
                                                     terms=(("penguin",),)))
        assert [(h.task.id, h.matched_in) for h in found] == [(task.id, ("comments",))]
    finally:
        await stores.close()
