"""The MongoDB collections and the indexes that serve every query the store makes.

`taskflow db init` creates them (idempotent); `serve` checks they exist and refuses to start
without them, since a missing index turns a listing into a collection scan and a missing
unique index lets a duplicate email or a duplicate event `seq` in.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid

COLLECTIONS = ("users", "boards", "members", "tasks", "comments", "attachments", "events",
               "logins", "refresh_tokens", "deleted_boards")


@dataclass(frozen=True, slots=True)
class Index:
    collection: str
    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False

    def describe(self) -> str:
        fields = ", ".join(f"{name}{'' if way > 0 else ' desc'}" for name, way in self.keys)
        return f"{self.collection}.{self.name} ({fields}{'; unique' if self.unique else ''})"


INDEXES = (
    # Emails are unique case-insensitively: `email_norm` holds the casefolded email, the same
    # rule as SQLite's, and plain equality queries use the index without a collation.
    Index("users", "users_by_email", (("email_norm", 1),), unique=True),
    Index("members", "members_by_user", (("user_id", 1), ("board_id", 1))),
    Index("members", "members_by_board", (("board_id", 1), ("added_at", 1), ("user_id", 1))),
    # Listings: board (+ status) with each sort order; MongoDB merges the per-board ranges.
    Index("tasks", "tasks_by_board_status", (("board_id", 1), ("status", 1), ("position", 1),
                                             ("_id", 1))),
    Index("tasks", "tasks_by_board_created", (("board_id", 1), ("created_at", 1), ("_id", 1))),
    Index("tasks", "tasks_by_board_updated", (("board_id", 1), ("updated_at", 1), ("_id", 1))),
    Index("tasks", "tasks_by_board_due", (("board_id", 1), ("due_missing", 1), ("due_date", 1),
                                          ("_id", 1))),
    # "-due_date" keeps missing dates last, so its key directions are mixed: its own index.
    Index("tasks", "tasks_by_board_due_desc", (("board_id", 1), ("due_missing", 1),
                                               ("due_date", -1), ("_id", -1))),
    Index("tasks", "tasks_by_board_priority", (("board_id", 1), ("priority_rank", 1),
                                               ("_id", 1))),
    Index("tasks", "tasks_by_assignee", (("assignee_id", 1), ("status", 1))),
    Index("comments", "comments_by_task", (("task_id", 1), ("created_at", 1), ("_id", 1))),
    Index("comments", "comments_by_board", (("board_id", 1),)),
    Index("attachments", "attachments_by_task", (("task_id", 1), ("created_at", 1), ("_id", 1))),
    Index("attachments", "attachments_by_board", (("board_id", 1),)),
    Index("attachments", "attachments_pending", (("pending", 1), ("created_at", 1))),
    Index("deleted_boards", "deleted_boards_by_time", (("deleted_at", 1),)),
    # Unique: the last line of defence of a gap-free, duplicate-free event log.
    Index("events", "events_by_board_seq", (("board_id", 1), ("seq", 1)), unique=True),
    Index("logins", "logins_by_user", (("user_id", 1), ("revoked_at", 1))),
)


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Creates every collection and index that is missing; leaves existing ones alone."""
    existing = set(await db.list_collection_names())
    for name in COLLECTIONS:
        # Created up front: a transaction must not be the one that creates a collection.
        if name not in existing:
            with suppress(CollectionInvalid):  # another instance created it meanwhile
                await db.create_collection(name)
    for index in INDEXES:
        await db[index.collection].create_index(list(index.keys), name=index.name,
                                                unique=index.unique)


async def missing_indexes(db: AsyncDatabase[dict[str, Any]]) -> list[Index]:
    """The indexes of INDEXES the database lacks.

    One is there when an index has its name, or indexes the same fields in the same order
    with the same uniqueness, directions and a trailing `_id` tie-breaker aside: that serves
    the same queries nearly as well, and is what servers that rename indexes (NX-27017, the
    emulator the tests use) report after `taskflow db init`.
    """
    names: set[tuple[str, str]] = set()
    shapes: set[tuple[str, tuple[str, ...], bool]] = set()
    for collection in {index.collection for index in INDEXES}:
        async for spec in await db[collection].list_indexes():
            names.add((collection, spec["name"]))
            shapes.add((collection, _fields(spec["key"]), bool(spec.get("unique"))))
    return [index for index in INDEXES
            if (index.collection, index.name) not in names
            and (index.collection, _fields(dict(index.keys)), index.unique) not in shapes]


def _fields(key: dict[str, Any]) -> tuple[str, ...]:
    fields = tuple(key)
    return fields[:-1] if len(fields) > 1 and fields[-1] == "_id" else fields
