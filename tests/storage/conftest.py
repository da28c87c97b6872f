"""Fixtures of the storage contract: the same tests against SQLite and MongoDB.

`stores` is parametrized over both; the MongoDB runs carry the `mongo` marker (`pytest -m
mongo` selects them). MongoDB is a real server when TASKFLOW_TEST_MONGODB_URI is set, else the
NX-27017 emulator started once per test session (tests/support/mongo.py). Every test gets a
fresh SQLite file or a fresh MongoDB database, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from taskflow.domain import Board, Member, Task, User, default_columns
from taskflow.ids import new_id
from taskflow.storage.mongo import EVENTS_KEPT, MongoStore
from taskflow.storage.sqlite import SqliteStore
from tests.support.mongo import EMULATOR_GAPS, MongoTarget, mongo_target

# Milliseconds: what both stores keep (BSON dates hold no more), so records compare equal.
T0 = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)


@pytest.fixture(scope="session")
def mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoTarget]:
    """The MongoDB of this test session (started only when a MongoDB test runs)."""
    target = mongo_target(tmp_path_factory.mktemp("mongo"))
    try:
        yield target
    finally:
        target.stop()


@dataclass
class Stores:
    """Opens stores of one kind on one database; `open()` again is another instance."""

    kind: str
    path: Path
    target: MongoTarget | None = None
    database: str = field(default_factory=lambda: f"tf_{uuid.uuid4().hex[:16]}")
    opened: list[Any] = field(default_factory=list)

    @property
    def emulator(self) -> bool:
        return self.target is not None and self.target.emulator

    def skip_on_emulator(self, gap: str) -> None:
        if self.emulator:
            pytest.skip(f"emulator gap: {EMULATOR_GAPS[gap]}")

    async def open(self, *, events_kept: int = EVENTS_KEPT, transactions: bool = True) -> Any:
        if self.target is None:
            store: Any = await SqliteStore.open(self.path, events_kept=events_kept)
        else:
            store = await MongoStore.open(self.target.database_uri(self.database),
                                          allow_standalone=self.emulator, create_indexes=True,
                                          events_kept=events_kept)
            # The emulator reports a standalone server, but it runs one transaction at a time
            # correctly: run the production path (transactions) on it too.
            store.transactions = transactions
        self.opened.append(store)
        return store

    async def close(self) -> None:
        for store in self.opened:
            await store.close()
        if self.target is not None:
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.target.uri)
            try:
                await client.drop_database(self.database)
            finally:
                await client.close()


@pytest.fixture(params=["sqlite", pytest.param("mongo", marks=pytest.mark.mongo)])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    target = request.getfixturevalue("mongo") if request.param == "mongo" else None
    opener = Stores(kind=request.param, path=tmp_path / "taskflow.db", target=target)
    try:
        yield opener
    finally:
        await opener.close()


@pytest.fixture
async def store(stores: Stores) -> Any:
    return await stores.open()


# --- factories -----------------------------------------------------------------------------
def make_user(**overrides: Any) -> User:
    fields: dict[str, Any] = {"id": new_id(), "email": f"{uuid.uuid4().hex[:10]}@example.com",
                              "name": "Ada", "password_hash": "$2b$hash", "created_at": T0}
    return User(**{**fields, **overrides})


def make_board(owner: User, **overrides: Any) -> Board:
    fields: dict[str, Any] = {
        "id": new_id(), "name": "Board", "description": "", "owner_id": owner.id, "seq": 0,
        "created_at": T0, "updated_at": T0,
        "members": (Member(user_id=owner.id, name=owner.name, email=owner.email, role="owner"),),
        "columns": default_columns(new_id),
    }
    return Board(**{**fields, **overrides})


def make_task(board: Board, n: int = 0, **overrides: Any) -> Task:
    at = T0 + timedelta(seconds=n)
    fields: dict[str, Any] = {
        "id": new_id(), "board_id": board.id, "title": f"task {n}", "description": "",
        "status": "todo", "priority": "medium", "due_date": None, "assignee_id": None,
        "tags": (), "position": float(n), "created_by": board.owner_id, "created_at": at,
        "updated_at": at, "completed_at": None, "version": 1,
    }
    fields.update(overrides)
    if "column_id" not in overrides:  # the first column of its status, as the service puts it
        column = board.first_column(fields["status"])
        fields["column_id"] = column.id if column is not None else ""
    return Task(**fields)


async def seed(store: Any, *, users: int = 1) -> tuple[list[User], Board]:
    """`users` users, the first owning one board that all of them are members of."""
    people = [make_user(name=f"user{i}") for i in range(users)]
    board = make_board(people[0], members=tuple(
        Member(user_id=p.id, name=p.name, email=p.email, role="owner" if i == 0 else "editor")
        for i, p in enumerate(people)))

    async def work(tx: Any) -> None:
        for person in people:
            await tx.insert_user(person)
        await tx.insert_board(board)

    await store.transact(work)
    return people, board
