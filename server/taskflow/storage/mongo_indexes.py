"""The MongoDB collections and the indexes that serve every query the store makes.

`taskflow db init` creates them (idempotent); `serve` checks they exist and refuses to start
without them, since a missing index turns a listing into a collection scan and a missing
unique index lets a duplicate event `seq` in. Uniqueness that must hold on a sharded
cluster is either an `_id` that is the collection's shard key (emails, through
`user_emails`) or an index that starts with the shard key (events); see mongo_shards.py.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure

from taskflow.domain import DEFAULT_COLUMNS, task_id_of_event
from taskflow.ids import new_epoch, new_id
from taskflow.storage.mongo_search import TEXT_INDEX, TEXT_KEYS

COLLECTIONS = ("users", "user_emails", "boards", "members", "tasks", "task_boards", "comments",
               "attachments", "events", "logins", "refresh_tokens", "deleted_boards", "meta",
               "notifications", "watches", "idempotency_keys", "webhooks",
               "webhook_deliveries", "personal_tokens", "imports")
# The data layout `db init` leaves behind, recorded in `meta`; `serve` refuses an older one.
# 2: emails are unique through `user_emails` (not a unique index on users), tasks are found
# by id through `task_boards`. 3: boards embed their `columns`, tasks carry a `column_id`.
# 4: every board has an `epoch` (which log its `seq` counts in).
LAYOUT = 4
_BACKFILL_BATCH = 1000
_TEXT_WEIGHTS = {"title": 4, "description": 2, "search_comments": 1}


@dataclass(frozen=True, slots=True)
class Index:
    collection: str
    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    # A TTL index: documents go once the (date) field is this many seconds in the past.
    expire_after_seconds: int | None = None

    def describe(self) -> str:
        fields = ", ".join(f"{name}{'' if way > 0 else ' desc'}" for name, way in self.keys)
        return f"{self.collection}.{self.name} ({fields}{'; unique' if self.unique else ''})"


INDEXES = (
    Index("members", "members_by_user", (("user_id", 1), ("board_id", 1))),
    Index("members", "members_by_board", (("board_id", 1), ("added_at", 1), ("user_id", 1))),
    # Listings: board (+ status) with each sort order; MongoDB merges the per-board ranges.
    Index("tasks", "tasks_by_board_status", (("board_id", 1), ("status", 1), ("position", 1),
                                             ("_id", 1))),
    # A board column's tasks by position: placing a task reads its neighbours through it.
    Index("tasks", "tasks_by_column", (("board_id", 1), ("column_id", 1), ("position", 1),
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
    # Board first: the shard key of comments and attachments is (board_id, task_id).
    Index("comments", "comments_by_board_task", (("board_id", 1), ("task_id", 1),
                                                 ("created_at", 1), ("_id", 1))),
    Index("attachments", "attachments_by_board_task", (("board_id", 1), ("task_id", 1),
                                                       ("created_at", 1), ("_id", 1))),
    Index("attachments", "attachments_pending", (("pending", 1), ("created_at", 1))),
    Index("deleted_boards", "deleted_boards_by_time", (("deleted_at", 1),)),
    # Board imports under way (unsharded, like deleted_boards): housekeeping scans by start.
    Index("imports", "imports_by_start", (("started_at", 1), ("_id", 1))),
    # Unique: the last line of defence of a gap-free, duplicate-free event log.
    # Also the events' shard key, which is what lets it stay unique on a sharded cluster.
    Index("events", "events_by_board_seq", (("board_id", 1), ("seq", 1)), unique=True),
    # A task's activity: its events, newest first (task_id is null on other events).
    Index("events", "events_by_board_task", (("board_id", 1), ("task_id", 1), ("seq", 1))),
    Index("logins", "logins_by_user", (("user_id", 1), ("revoked_at", 1))),
    # notify: a user's list (unread first, newest first), deletes by board/task, the purge.
    Index("notifications", "notifications_by_user", (("user_id", 1), ("read", 1),
                                                     ("created_at", -1), ("_id", -1))),
    Index("notifications", "notifications_by_board", (("board_id", 1), ("task_id", 1))),
    Index("notifications", "notifications_by_time", (("read", 1), ("created_at", 1))),
    Index("watches", "watches_by_board", (("board_id", 1), ("task_id", 1), ("user_id", 1))),
    Index("watches", "watches_by_user", (("user_id", 1), ("created_at", 1), ("key", 1))),
    # Idempotency-Key claims and stored responses (mongo_idempotency.py), gone once expired.
    Index("idempotency_keys", "idempotency_keys_ttl", (("expires_at", 1),),
          expire_after_seconds=0),
    # webhooks: a board's list, the dispatcher's scan of active ones, a webhook's deliveries.
    Index("webhooks", "webhooks_by_board", (("board_id", 1), ("created_at", 1), ("_id", 1))),
    Index("webhooks", "webhooks_active", (("active", 1), ("_id", 1))),
    Index("webhook_deliveries", "webhook_deliveries_by_webhook",
          (("webhook_id", 1), ("at", -1), ("_id", -1))),
    Index("webhook_deliveries", "webhook_deliveries_by_board", (("board_id", 1),)),
    # Personal access tokens: found by the secret's hash, listed by user, purged by expiry.
    Index("personal_tokens", "personal_tokens_by_hash", (("token_hash", 1),), unique=True),
    Index("personal_tokens", "personal_tokens_by_user", (("user_id", 1), ("created_at", 1),
                                                         ("_id", 1))),
    Index("personal_tokens", "personal_tokens_by_expiry", (("expires_at", 1),)),
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
        options: dict[str, Any] = {}
        if index.expire_after_seconds is not None:
            options["expireAfterSeconds"] = index.expire_after_seconds
        await db[index.collection].create_index(list(index.keys), name=index.name,
                                                unique=index.unique, **options)
    await _ensure_text_index(db)
    await _backfill_search_comments(db)
    found = await layout(db)
    if found < LAYOUT:
        if found < 2:
            await _upgrade_to_2(db)
        if found < 3:
            await _upgrade_to_3(db)
        await _upgrade_to_4(db)
        await db["meta"].update_one({"_id": "layout"}, {"$set": {"version": LAYOUT}}, upsert=True)
    await _name_tasks_of_events(db)


async def _name_tasks_of_events(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Gives events logged before they named their task a `task_id` (idempotent): what the
    index events_by_board_task needs to find a task's activity."""
    batch: list[UpdateOne] = []
    async for doc in db["events"].find({"task_id": {"$exists": False}},
                                       projection={"type": 1, "data": 1}):
        batch.append(UpdateOne({"_id": doc["_id"]}, {"$set": {
            "task_id": task_id_of_event(doc["type"], doc.get("data") or {})}}))
        if len(batch) == _BACKFILL_BATCH:
            await db["events"].bulk_write(batch, ordered=False)
            batch = []
    if batch:
        await db["events"].bulk_write(batch, ordered=False)


async def layout(db: AsyncDatabase[dict[str, Any]]) -> int:
    """The layout `db init` last left (0: never run, or run by a TaskFlow before layout 2)."""
    doc = await db["meta"].find_one({"_id": "layout"})
    return int(doc["version"]) if doc else 0


async def _upgrade_to_2(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Fills `user_emails` and `task_boards` from existing users and tasks (idempotent), then
    drops layout 1's unique email index, which a users collection sharded by `_id` can't have."""
    await _backfill(db, "users", "email_norm", "user_emails",
                    lambda doc: UpdateOne({"_id": doc["email_norm"]},
                                          {"$setOnInsert": {"user_id": doc["_id"]}}, upsert=True))
    await _backfill(db, "tasks", "board_id", "task_boards",
                    lambda doc: UpdateOne({"_id": doc["_id"]},
                                          {"$setOnInsert": {"board_id": doc["board_id"]}},
                                          upsert=True))
    async for spec in await db["users"].list_indexes():
        if list(spec["key"]) == ["email_norm"] and spec.get("unique"):
            await db["users"].drop_index(spec["name"])


async def _upgrade_to_3(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Gives every board without columns the three default ones and every task without a
    column the first column of its status's category, keeping positions (idempotent)."""
    bare = [doc["_id"] async for doc in db["boards"].find({"columns": {"$exists": False}},
                                                          projection={"_id": 1})]
    for board_id in bare:
        columns = [{"id": new_id(), "name": name, "category": category, "wip_limit": None}
                   for name, category in DEFAULT_COLUMNS]
        await db["boards"].update_one({"_id": board_id, "columns": {"$exists": False}},
                                      {"$set": {"columns": columns}})
    async for board in db["boards"].find({}, projection={"columns": 1}):
        firsts: dict[str, str] = {}
        for column in board.get("columns", ()):
            firsts.setdefault(column["category"], column["id"])
        for category, column_id in firsts.items():
            await db["tasks"].update_many(
                {"board_id": board["_id"], "status": category, "column_id": {"$exists": False}},
                {"$set": {"column_id": column_id}})


async def _upgrade_to_4(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Gives every board without an epoch one of its own (idempotent)."""
    async for doc in db["boards"].find({"epoch": {"$exists": False}}, projection={"_id": 1}):
        await db["boards"].update_one({"_id": doc["_id"], "epoch": {"$exists": False}},
                                      {"$set": {"epoch": new_epoch()}})


async def _backfill(db: AsyncDatabase[dict[str, Any]], source: str, field: str, target: str,
                    upsert: Callable[[dict[str, Any]], UpdateOne]) -> None:
    batch: list[UpdateOne] = []
    async for doc in db[source].find({}, projection={field: 1}):
        batch.append(upsert(doc))
        if len(batch) == _BACKFILL_BATCH:
            await db[target].bulk_write(batch, ordered=False)
            batch = []
    if batch:
        await db[target].bulk_write(batch, ordered=False)


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


async def _backfill_search_comments(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Gives each task made before search its `search_comments` (idempotent: only tasks
    without the field). A comment written meanwhile by a running older server is not seen
    by search until it is written again; `db init` runs before the new servers start."""
    async for doc in db["tasks"].find({"search_comments": {"$exists": False}},
                                      projection={"board_id": 1}):
        comments = await db["comments"].find(
            {"board_id": doc["board_id"], "task_id": doc["_id"]},
            projection={"body": 1}, sort=[("created_at", 1), ("_id", 1)]).to_list(None)
        await db["tasks"].update_one(
            {"board_id": doc["board_id"], "_id": doc["_id"],
             "search_comments": {"$exists": False}},
            {"$set": {"search_comments": "\n".join(c["body"] for c in comments)}})


async def _ensure_text_index(db: AsyncDatabase[dict[str, Any]]) -> None:
    """The tasks' text index. MongoDB takes an identical index again as a no-op; the emulator
    refuses it ("constraint failed") and doesn't list it, so a refusal is accepted when a
    `$text` query then works (it fails without a text index)."""
    try:
        await db["tasks"].create_index(TEXT_KEYS, name=TEXT_INDEX, weights=_TEXT_WEIGHTS,
                                       default_language="none")
    except OperationFailure:
        await db["tasks"].find_one({"$text": {"$search": "taskflow"}}, projection={"_id": 1})
