"""The clustered store: MongoDB through PyMongo's AsyncMongoClient (Motor is deprecated).

A write and its board event commit in one multi-document transaction, which MongoDB has
on replica sets and sharded clusters only, so a standalone server is refused. Every writer
to a board increments the board's `seq` inside its transaction: two writers to one board,
on any instances, touch the same document, MongoDB aborts one of them with a
TransientTransactionError (WriteConflict), and `transact` runs it again. That is what keeps
`seq` gap-free without any other lock.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from loguru import logger
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference
from pymongo.write_concern import WriteConcern

from taskflow.domain import (
    Attachment,
    Board,
    Column,
    Comment,
    Event,
    Login,
    Member,
    RefreshToken,
    Role,
    Task,
    User,
)
from taskflow.errors import Conflict, ServiceUnavailable
from taskflow.storage import mongo_records as rec
from taskflow.storage.mongo_idempotency import MongoIdempotencyKeys
from taskflow.storage.mongo_indexes import LAYOUT, ensure_indexes, layout, missing_indexes
from taskflow.storage.mongo_notify import MongoNotifyQueries, MongoNotifyWrites
from taskflow.storage.mongo_records import Doc
from taskflow.storage.mongo_shards import SHARD_KEYS, ShardingError, deployment, shard_collections
from taskflow.storage.mongo_tokens import MongoTokenQueries, MongoTokenWrites
from taskflow.storage.mongo_webhooks import MongoWebhookQueries, MongoWebhookWrites

T = TypeVar("T")
EVENTS_KEPT = 10_000  # per board, at least; the same rule as SQLite's
_ATTEMPTS = 60  # of one transaction, before the write is answered 503
_COMMIT_ATTEMPTS = 5  # of one commit whose outcome is unknown (a lost connection)
_BACKOFF_FIRST, _BACKOFF_CAP = 0.005, 0.25  # seconds; doubled per attempt, fully jittered
# Majority-committed: acknowledged writes survive the loss of the primary.
_DURABLE = WriteConcern("majority", j=True)
_EMAIL_TAKEN = "That email is already registered"
_STANDALONE = (
    "the MongoDB server of MONGODB_URI is standalone: TaskFlow needs a replica set (one node "
    "will do: mongod --replSet rs0, then rs.initiate()), because a write and its board event "
    "commit in one transaction and only replica sets and sharded clusters have transactions"
)


class MongoNotReady(Exception):
    """The server, or its indexes, can't serve TaskFlow; the message is one line."""


class MongoTransaction(MongoWebhookWrites, MongoNotifyWrites, MongoTokenWrites):
    """Writes inside one MongoDB transaction (or, on an allowed standalone server, none)."""

    def __init__(self, db: AsyncDatabase[Doc], session: AsyncClientSession | None, *,
                 events_kept: int) -> None:
        super().__init__(db, session)
        self._events_kept = events_kept

    async def _insert(self, collection: str, doc: Doc, conflict: str) -> None:
        try:
            await self._db[collection].insert_one(doc, session=self._session)
        except DuplicateKeyError:
            raise Conflict(conflict) from None

    async def _set(self, collection: str, filter: Doc, changes: Doc) -> int:
        result = await self._db[collection].update_many(filter, {"$set": changes},
                                                        session=self._session)
        return result.matched_count

    async def _delete(self, collection: str, filter: Doc) -> None:
        await self._db[collection].delete_many(filter, session=self._session)

    async def insert_user(self, user: User) -> None:
        # The email's entry first: its `_id` is what refuses a taken email, on every shard.
        await self._insert("user_emails", rec.user_email_doc(user), _EMAIL_TAKEN)
        await self._insert("users", rec.user_doc(user), _EMAIL_TAKEN)

    async def update_user(self, user: User) -> None:
        changes = rec.user_doc(user)
        del changes["_id"], changes["created_at"]
        old = await self._one("users", {"_id": user.id}, projection={"email_norm": 1})
        if old is not None and old["email_norm"] != changes["email_norm"]:
            await self._insert("user_emails", rec.user_email_doc(user), _EMAIL_TAKEN)
            await self._delete("user_emails", {"_id": old["email_norm"], "user_id": user.id})
        await self._set("users", {"_id": user.id}, changes)

    async def insert_board(self, board: Board) -> None:
        await self._insert("boards", rec.board_doc(board), "That board already exists")
        for member in board.members:
            await self.insert_member(board.id, member, added_at=board.created_at)

    async def set_board_epoch(self, board_id: str, epoch: str) -> None:
        await self._set("boards", {"_id": board_id}, {"epoch": epoch})

    async def update_board(
        self, board_id: str, *, name: str, description: str, updated_at: datetime
    ) -> None:
        await self._set("boards", {"_id": board_id},
                        {"name": name, "description": description, "updated_at": updated_at})

    async def update_board_columns(self, board_id: str, columns: Sequence[Column], *,
                                   updated_at: datetime) -> None:
        await self._set("boards", {"_id": board_id},
                        {"columns": rec.columns_docs(columns), "updated_at": updated_at})

    async def delete_board(self, board_id: str, *, seq: int, at: datetime) -> None:
        tasks = await self._all("tasks", {"board_id": board_id}, projection={"_id": 1})
        if tasks:  # by id, so that each entry's shard is asked, not every shard
            await self._delete("task_boards", {"_id": {"$in": [doc["_id"] for doc in tasks]}})
        for collection in ("attachments", "comments", "tasks", "members"):
            await self._delete(collection, {"board_id": board_id})
        await self._delete("boards", {"_id": board_id})
        await self.delete_webhooks_of_board(board_id)
        await self._insert("deleted_boards", {"_id": board_id, "seq": seq, "deleted_at": at},
                           "That board was already deleted")

    async def purge_deleted_boards(self, before: datetime) -> int:
        docs = await self._all("deleted_boards", {"deleted_at": {"$lt": before}},
                               projection={"_id": 1})
        for doc in docs:
            await self._delete("events", {"board_id": doc["_id"]})
            await self._delete("deleted_boards", {"_id": doc["_id"]})
        return len(docs)

    async def insert_member(self, board_id: str, member: Member, *, added_at: datetime) -> None:
        doc = {"_id": rec.member_id(board_id, member.user_id), "board_id": board_id,
               "user_id": member.user_id, "role": member.role, "added_at": added_at}
        await self._insert("members", doc, "That user is already a member of this board")

    async def update_member(self, board_id: str, user_id: str, role: Role) -> None:
        await self._set("members", _member(board_id, user_id), {"role": role})

    async def delete_member(self, board_id: str, user_id: str) -> None:
        await self._delete("members", _member(board_id, user_id))

    async def insert_task(self, task: Task) -> None:
        # The lookup entry first: its `_id`, the shard key, keeps task ids unique cluster-wide.
        await self._insert("task_boards", {"_id": task.id, "board_id": task.board_id},
                           "That task already exists")
        await self._insert("tasks", {**rec.task_doc(task), "search_comments": ""},
                           "That task already exists")

    async def update_task(self, task: Task) -> None:
        changes = rec.task_doc(task)
        for fixed in ("_id", "board_id", "created_by", "created_at"):
            del changes[fixed]
        await self._set("tasks", {"board_id": task.board_id, "_id": task.id}, changes)

    async def delete_task(self, board_id: str, task_id: str) -> None:
        await self._delete("attachments", {"board_id": board_id, "task_id": task_id})
        await self._delete("comments", {"board_id": board_id, "task_id": task_id})
        await self._delete("tasks", {"board_id": board_id, "_id": task_id})
        await self._delete("task_boards", {"_id": task_id})

    async def insert_comment(self, comment: Comment) -> None:
        await self._insert("comments", rec.comment_doc(comment), "That comment already exists")
        await self._copy_comments(comment.board_id, comment.task_id)

    async def delete_comment(self, board_id: str, comment_id: str) -> None:
        found = await self._one("comments", {"board_id": board_id, "_id": comment_id},
                                projection={"task_id": 1})
        await self._delete("comments", {"board_id": board_id, "_id": comment_id})
        if found is not None:
            await self._copy_comments(board_id, found["task_id"])

    async def _copy_comments(self, board_id: str, task_id: str) -> None:
        """The task's copy of its comments' text, which its text index covers
        (mongo_search.py): set whole, from the comments as they are in this transaction."""
        comments = await self._all("comments", {"board_id": board_id, "task_id": task_id},
                                   projection={"body": 1},
                                   sort=[("created_at", 1), ("_id", 1)])
        await self._set("tasks", {"board_id": board_id, "_id": task_id},
                        {"search_comments": "\n".join(c["body"] for c in comments)})

    async def insert_attachment(self, attachment: Attachment) -> None:
        await self._insert("attachments", rec.attachment_doc(attachment),
                           "That attachment already exists")

    async def confirm_attachment(self, board_id: str, attachment_id: str, *, size: int,
                                 at: datetime) -> None:
        await self._set("attachments", {"board_id": board_id, "_id": attachment_id},
                        {"pending": False, "size": size, "created_at": at})

    async def delete_attachment(self, board_id: str, attachment_id: str) -> None:
        await self._delete("attachments", {"board_id": board_id, "_id": attachment_id})

    async def next_event_seq(self, board_id: str) -> int:
        doc = await self._db["boards"].find_one_and_update(
            {"_id": board_id}, {"$inc": {"seq": 1}}, projection={"seq": 1},
            return_document=ReturnDocument.AFTER, session=self._session,
        )
        if doc is None:
            raise LookupError(f"board {board_id} does not exist")
        return int(doc["seq"])

    async def append_event(
        self, board_id: str, *, type: str, actor_id: str, at: datetime, data: dict[str, Any]
    ) -> Event:
        seq = await self.next_event_seq(board_id)
        # What a later read returns: BSON dates keep milliseconds.
        at = at.astimezone(UTC).replace(microsecond=at.microsecond // 1000 * 1000)
        event = Event(seq=seq, board_id=board_id, type=type, actor_id=actor_id, at=at, data=data)
        await self._db["events"].insert_one(rec.event_doc(event), session=self._session)
        return event

    async def prune_events(self, board_id: str, *, before: datetime) -> int:
        board = await self._one("boards", {"_id": board_id}, projection={"seq": 1})
        last = int(board["seq"]) - self._events_kept if board is not None else 0
        if last < 1:
            return 0
        # The log is in time order: everything before the first event that stays goes (a
        # prune reads what it deletes, plus one, not the whole year).
        stays = await self._one("events", {"board_id": board_id, "seq": {"$lte": last},
                                           "at": {"$gte": before}},
                                projection={"seq": 1}, sort=[("seq", 1)])
        bound = int(stays["seq"]) - 1 if stays is not None else last
        # Nothing an active webhook has still to deliver goes (services/webhooks.py).
        if (undelivered := await self.undelivered_seq(board_id)) is not None:
            bound = min(bound, undelivered)
        result = await self._db["events"].delete_many(
            {"board_id": board_id, "seq": {"$lte": bound}}, session=self._session)
        return int(result.deleted_count)

    async def insert_login(self, login: Login) -> None:
        await self._insert("logins", rec.login_doc(login), "That login already exists")

    async def revoke_login(self, login_id: str, at: datetime) -> None:
        await self._set("logins", {"_id": login_id, "revoked_at": None}, {"revoked_at": at})

    async def revoke_logins_of_user(self, user_id: str, at: datetime) -> list[str]:
        # Logins are sharded by id: this asks every shard (a password change, a token reuse).
        live = {"user_id": user_id, "revoked_at": None}
        ids = [doc["_id"] for doc in await self._all("logins", live, projection={"_id": 1})]
        if ids:
            await self._set("logins", {**live, "_id": {"$in": ids}}, {"revoked_at": at})
        return ids

    async def insert_refresh_token(self, token: RefreshToken) -> None:
        await self._insert("refresh_tokens", rec.token_doc(token), "That token already exists")

    async def spend_refresh_token(self, token_hash: str, at: datetime) -> bool:
        spent = await self._set("refresh_tokens", {"_id": token_hash, "used_at": None},
                                {"used_at": at})
        return spent == 1

    async def insert_import(self, board_id: str, user_id: str, started_at: datetime) -> None:
        await self._insert("imports", {"_id": board_id, "user_id": user_id,
                                       "started_at": started_at}, "That import already exists")

    async def delete_import(self, board_id: str) -> None:
        await self._delete("imports", {"_id": board_id})


class MongoStore(MongoWebhookQueries, MongoNotifyQueries, MongoIdempotencyKeys,
                 MongoTokenQueries):
    """The store on a MongoDB replica set or sharded cluster, shared by every instance.

    `transactions`: whether writes run in transactions; open() sets it from the server (off
    only on a standalone server that TASKFLOW_MONGODB_ALLOW_STANDALONE lets in).
    `events_kept`: the newest events of each board that are never pruned.
    """

    def __init__(self, client: AsyncMongoClient[Doc], db: AsyncDatabase[Doc], *,
                 transactions: bool = True, events_kept: int = EVENTS_KEPT) -> None:
        super().__init__(db, None)
        self._client = client
        self.transactions = transactions
        self.events_kept = events_kept

    @classmethod
    async def open(cls, uri: str, *, max_pool_size: int = 10,
                   server_selection_timeout_ms: int = 5000, socket_timeout_ms: int = 45000,
                   allow_standalone: bool = False, create_indexes: bool = False,
                   events_kept: int = EVENTS_KEPT) -> MongoStore:
        """The store on the URI's database ("taskflow" if it names none).

        TLS is as the URI says (tls=true, or any mongodb+srv:// URI). Raises MongoNotReady
        when the server is unreachable, standalone (unless allowed), or lacks an index or
        the current layout (unless `create_indexes`, which creates whatever is missing and,
        behind a mongos, shards the collections: see mongo_shards.py).
        """
        try:
            client: AsyncMongoClient[Doc] = AsyncMongoClient(
                uri, tz_aware=True, tzinfo=UTC, appname="taskflow", maxPoolSize=max_pool_size,
                serverSelectionTimeoutMS=server_selection_timeout_ms,
                socketTimeoutMS=socket_timeout_ms,
            )
        except PyMongoError as exc:  # a malformed URI or option
            raise MongoNotReady(f"MONGODB_URI: {exc}") from None
        try:
            db = client.get_default_database("taskflow", write_concern=_DURABLE,
                                              read_concern=ReadConcern("majority"))
            store = cls(client, db, events_kept=events_kept)
            store.transactions = await store.check_replica_set(allow_standalone=allow_standalone)
            if create_indexes:
                await store.ensure_indexes()
            else:
                await store.check_indexes()
        except PyMongoError as exc:
            await client.close()
            detail = str(exc).split(", Timeout:")[0]  # the rest is a topology dump
            raise MongoNotReady(f"cannot use the MongoDB server of MONGODB_URI: {detail}") from None
        except BaseException:
            await client.close()
            raise
        return store

    async def check_replica_set(self, *, allow_standalone: bool = False) -> bool:
        """True on a replica set or sharded cluster; MongoNotReady on a standalone server,
        unless allowed (False then: writes will run without transactions)."""
        hello = await self._client.admin.command("hello")
        if "setName" in hello or hello.get("msg") == "isdbgrid":
            return True
        if not allow_standalone:
            raise MongoNotReady(_STANDALONE)
        logger.warning("MongoDB is standalone and TASKFLOW_MONGODB_ALLOW_STANDALONE is set: "
                       "writes run without transactions (not atomic); emulators and tests only")
        return False

    async def check_indexes(self) -> None:
        """MongoNotReady naming the first missing index, or an old layout (and saying to run
        `db init`)."""
        if missing := await missing_indexes(self._db):
            raise MongoNotReady(f"the MongoDB index {missing[0].describe()} is missing "
                                f"({len(missing)} in all): run `taskflow db init`")
        if (found := await layout(self._db)) < LAYOUT:
            raise MongoNotReady(f"the MongoDB data is in layout {found}, this TaskFlow needs "
                                f"layout {LAYOUT}: run `taskflow db migrate` (with no older "
                                "TaskFlow instance writing meanwhile)")

    async def transact(self, work: Callable[[MongoTransaction], Awaitable[T]]) -> T:
        if not self.transactions:
            # An allowed standalone server: each write commits on its own.
            return await work(MongoTransaction(self._db, None, events_kept=self.events_kept))
        last: PyMongoError | None = None
        async with self._client.start_session() as session:
            for attempt in range(_ATTEMPTS):
                await session.start_transaction(
                    read_concern=ReadConcern("snapshot"), write_concern=_DURABLE,
                    read_preference=ReadPreference.PRIMARY,
                )
                try:
                    result = await work(MongoTransaction(self._db, session,
                                                         events_kept=self.events_kept))
                    await _commit(session)
                    return result
                except PyMongoError as exc:
                    await _abort(session)
                    if not exc.has_error_label("TransientTransactionError"):
                        raise
                    last = exc
                except BaseException:
                    await _abort(session)
                    raise
                cap = min(_BACKOFF_CAP, _BACKOFF_FIRST * 2**attempt)
                await asyncio.sleep(random.uniform(0, cap))
        logger.warning("a transaction still conflicted after {} attempts: {}", _ATTEMPTS, last)
        raise ServiceUnavailable("The store is busy with conflicting writes; retry shortly")

    async def ensure_indexes(self) -> None:
        """Creates the collections and indexes that are missing and, behind a mongos, shards
        the collections that are not yet (`taskflow db init`)."""
        await ensure_indexes(self._db)
        found = await deployment(self._client)
        if not found.sharded:
            return
        try:
            sharded = await shard_collections(self._client, self._db, found.version)
        except ShardingError as exc:
            raise MongoNotReady(str(exc)) from None
        logger.info("sharded cluster (MongoDB {}): {} collection(s) sharded now, {} already",
                    ".".join(map(str, found.version)), sharded, len(SHARD_KEYS) - sharded)

    async def ping(self) -> None:
        await self._db.command("ping")

    async def close(self) -> None:
        await self._client.close()


async def _commit(session: AsyncClientSession) -> None:
    for attempt in range(1, _COMMIT_ATTEMPTS + 1):
        try:
            await session.commit_transaction()
            return
        except PyMongoError as exc:
            # Committing again is safe: the server commits a transaction once.
            if attempt == _COMMIT_ATTEMPTS or not exc.has_error_label("UnknownTransactionCommitResult"):
                raise


async def _abort(session: AsyncClientSession) -> None:
    if session.in_transaction:
        await session.abort_transaction()  # errors are ignored by PyMongo, as the spec says


def _member(board_id: str, user_id: str) -> Doc:
    return {"board_id": board_id, "_id": rec.member_id(board_id, user_id)}
