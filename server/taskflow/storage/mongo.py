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
from datetime import UTC, datetime, timedelta
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
    Comment,
    Event,
    Login,
    Member,
    RefreshToken,
    Role,
    Stats,
    Task,
    TaskQuery,
    User,
)
from taskflow.errors import Conflict, ServiceUnavailable
from taskflow.storage import mongo_records as rec
from taskflow.storage.mongo_indexes import ensure_indexes, missing_indexes
from taskflow.storage.mongo_records import Doc

T = TypeVar("T")
EVENTS_KEPT = 10_000  # per board, at least; the same rule as SQLite's
_PRUNE_EVERY = 500
_ATTEMPTS = 60  # of one transaction, before the write is answered 503
_COMMIT_ATTEMPTS = 5  # of one commit whose outcome is unknown (a lost connection)
_BACKOFF_FIRST, _BACKOFF_CAP = 0.005, 0.25  # seconds; doubled per attempt, fully jittered
# Majority-committed: acknowledged writes survive the loss of the primary.
_DURABLE = WriteConcern("majority", j=True)
_STANDALONE = (
    "the MongoDB server of MONGODB_URI is standalone: TaskFlow needs a replica set (one node "
    "will do: mongod --replSet rs0, then rs.initiate()), because a write and its board event "
    "commit in one transaction and only replica sets and sharded clusters have transactions"
)


class MongoNotReady(Exception):
    """The server, or its indexes, can't serve TaskFlow; the message is one line."""


class _Queries:
    """The reads; inside a transaction they go through its session."""

    def __init__(self, db: AsyncDatabase[Doc], session: AsyncClientSession | None) -> None:
        self._db = db
        self._session = session

    async def _one(self, collection: str, filter: Doc, **options: Any) -> Doc | None:
        found: Doc | None = await self._db[collection].find_one(filter, session=self._session,
                                                                **options)
        return found

    async def _all(self, collection: str, filter: Doc, **options: Any) -> list[Doc]:
        cursor = self._db[collection].find(filter, session=self._session, **options)
        return await cursor.to_list(None)

    async def select_user(self, user_id: str) -> User | None:
        doc = await self._one("users", {"_id": user_id})
        return rec.user(doc) if doc else None

    async def select_user_by_email(self, email: str) -> User | None:
        doc = await self._one("users", {"email_norm": email.casefold()})
        return rec.user(doc) if doc else None

    async def select_board(self, board_id: str) -> Board | None:
        doc = await self._one("boards", {"_id": board_id})
        return rec.board(doc, await self._members([board_id])) if doc else None

    async def select_boards_of_user(self, user_id: str) -> list[Board]:
        docs = await self._all("boards", {"_id": {"$in": await self._board_ids_of(user_id)}},
                               sort=[("created_at", 1), ("_id", 1)])
        members = await self._members([doc["_id"] for doc in docs])
        return [rec.board(doc, members) for doc in docs]

    async def _board_ids_of(self, user_id: str) -> list[str]:
        rows = await self._all("members", {"user_id": user_id}, projection={"board_id": 1})
        return [row["board_id"] for row in rows]

    async def _members(self, board_ids: list[str]) -> dict[str, list[Member]]:
        found: dict[str, list[Member]] = {board_id: [] for board_id in board_ids}
        if not board_ids:
            return found
        rows = await self._all("members", {"board_id": {"$in": board_ids}},
                               sort=[("added_at", 1), ("user_id", 1)])
        user_ids = list({row["user_id"] for row in rows})
        users = {doc["_id"]: doc for doc in await self._all(
            "users", {"_id": {"$in": user_ids}}, projection={"name": 1, "email": 1})}
        for row in rows:
            if (person := users.get(row["user_id"])) is not None:
                found[row["board_id"]].append(Member(user_id=row["user_id"], name=person["name"],
                                                     email=person["email"], role=row["role"]))
        return found

    async def select_board_seqs_of_user(self, user_id: str) -> list[tuple[str, int]]:
        docs = await self._all("boards", {"_id": {"$in": await self._board_ids_of(user_id)}},
                               projection={"seq": 1}, sort=[("_id", 1)])
        return [(doc["_id"], doc["seq"]) for doc in docs]

    async def select_board_seqs(self, board_ids: Sequence[str]) -> dict[str, int]:
        ids = {"$in": list(board_ids)}
        docs = await self._all("boards", {"_id": ids}, projection={"seq": 1})
        docs += await self._all("deleted_boards", {"_id": ids}, projection={"seq": 1})
        return {doc["_id"]: doc["seq"] for doc in docs}

    async def select_task(self, task_id: str) -> Task | None:
        doc = await self._one("tasks", {"_id": task_id})
        return rec.task(doc) if doc else None

    async def select_tasks(self, query: TaskQuery) -> list[Task]:
        if not query.board_ids or query.limit <= 0:  # find()'s limit 0 means "no limit"
            return []
        docs = await self._all("tasks", rec.task_filter(query), sort=rec.task_order(query.sort),
                               limit=query.limit)
        return [rec.task(doc) for doc in docs]

    async def select_column(self, board_id: str, status: str) -> list[Task]:
        docs = await self._all("tasks", {"board_id": board_id, "status": status},
                               sort=[("position", 1), ("_id", 1)])
        return [rec.task(doc) for doc in docs]

    async def select_column_end(self, board_id: str, status: str) -> float | None:
        doc = await self._one("tasks", {"board_id": board_id, "status": status},
                              sort=[("position", -1)], projection={"position": 1})
        return None if doc is None else float(doc["position"])

    async def select_neighbours(self, task: Task) -> tuple[Task | None, Task | None]:
        column = {"board_id": task.board_id, "status": task.status}
        before = await self._one("tasks", {**column, "$or": [
            {"position": {"$lt": task.position}},
            {"position": task.position, "_id": {"$lt": task.id}}]},
            sort=[("position", -1), ("_id", -1)])
        after = await self._one("tasks", {**column, "$or": [
            {"position": {"$gt": task.position}},
            {"position": task.position, "_id": {"$gt": task.id}}]},
            sort=[("position", 1), ("_id", 1)])
        return (rec.task(before) if before else None, rec.task(after) if after else None)

    async def select_comment(self, comment_id: str) -> Comment | None:
        doc = await self._one("comments", {"_id": comment_id})
        return rec.comment(doc) if doc else None

    async def select_comments(
        self, task_id: str, *, limit: int, after: tuple[str, str] | None
    ) -> list[Comment]:
        if limit <= 0:
            return []
        filter: Doc = {"task_id": task_id}
        if after is not None:
            at = rec.cursor_time(after[0])
            filter["$or"] = [{"created_at": {"$gt": at}}, {"created_at": at, "_id": {"$gt": after[1]}}]
        docs = await self._all("comments", filter, sort=[("created_at", 1), ("_id", 1)], limit=limit)
        return [rec.comment(doc) for doc in docs]

    async def select_events(self, board_id: str, *, since: int, limit: int) -> list[Event]:
        if limit <= 0:
            return []
        docs = await self._all("events", {"board_id": board_id, "seq": {"$gt": since}},
                               sort=[("seq", 1)], limit=limit)
        return [rec.event(doc) for doc in docs]

    async def select_oldest_event_seq(self, board_id: str) -> int | None:
        doc = await self._one("events", {"board_id": board_id}, projection={"seq": 1},
                              sort=[("seq", 1)])
        return int(doc["seq"]) if doc else None

    async def compute_stats(self, board_ids: Sequence[str], now: datetime) -> Stats:
        def count(*conditions: Doc) -> Doc:
            return {"$sum": {"$cond": [{"$and": list(conditions)}, 1, 0]}}

        # BSON orders null below every date: "has a due date" is spelled out, as SQL's NULL
        # comparisons are false by themselves.
        is_open, dated = {"$ne": ["$status", "done"]}, {"$ne": ["$due_date", None]}
        group: Doc = {
            "_id": None,
            "total": {"$sum": 1},
            **{status: count({"$eq": ["$status", status]}) for status in ("todo", "in_progress", "done")},
            "overdue": count(is_open, dated, {"$lt": ["$due_date", now]}),
            "due_soon": count(is_open, dated, {"$gte": ["$due_date", now]},
                              {"$lte": ["$due_date", now + timedelta(hours=48)]}),
            "completed": count({"$eq": ["$status", "done"]}, {"$ne": ["$completed_at", None]},
                               {"$gte": ["$completed_at", now - timedelta(days=7)]}),
        }
        pipeline: list[Doc] = [{"$match": {"board_id": {"$in": list(board_ids)}}}, {"$group": group}]
        cursor = await self._db["tasks"].aggregate(pipeline, session=self._session)
        rows = await cursor.to_list(None)
        row = rows[0] if rows else {}
        return Stats(
            total=row.get("total", 0),
            by_status={status: row.get(status, 0) for status in ("todo", "in_progress", "done")},
            overdue=row.get("overdue", 0),
            due_soon=row.get("due_soon", 0),
            completed_last_7_days=row.get("completed", 0),
        )

    async def select_attachment(self, attachment_id: str) -> Attachment | None:
        doc = await self._one("attachments", {"_id": attachment_id})
        return rec.attachment(doc) if doc else None

    async def select_attachments(self, task_id: str) -> list[Attachment]:
        docs = await self._all("attachments", {"task_id": task_id},
                               sort=[("created_at", 1), ("_id", 1)])
        return [rec.attachment(doc) for doc in docs]

    async def select_attachments_of_board(self, board_id: str) -> list[Attachment]:
        return [rec.attachment(doc) for doc in await self._all("attachments", {"board_id": board_id})]

    async def select_stale_pending_attachments(self, before: datetime) -> list[Attachment]:
        docs = await self._all("attachments", {"pending": True, "created_at": {"$lt": before}})
        return [rec.attachment(doc) for doc in docs]

    async def select_live_logins(self, login_ids: Sequence[str]) -> list[str]:
        docs = await self._all("logins", {"_id": {"$in": list(login_ids)}, "revoked_at": None},
                               projection={"_id": 1})
        return [doc["_id"] for doc in docs]

    async def select_login(self, login_id: str) -> Login | None:
        doc = await self._one("logins", {"_id": login_id})
        return rec.login(doc) if doc else None

    async def select_refresh_token(self, token_hash: str) -> RefreshToken | None:
        doc = await self._one("refresh_tokens", {"_id": token_hash})
        return rec.token(doc) if doc else None


class MongoTransaction(_Queries):
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
        await self._insert("users", rec.user_doc(user), "That email is already registered")

    async def update_user(self, user: User) -> None:
        changes = rec.user_doc(user)
        del changes["_id"], changes["created_at"]
        try:
            await self._set("users", {"_id": user.id}, changes)
        except DuplicateKeyError:
            raise Conflict("That email is already registered") from None

    async def insert_board(self, board: Board) -> None:
        await self._insert("boards", rec.board_doc(board), "That board already exists")
        for member in board.members:
            await self.insert_member(board.id, member, added_at=board.created_at)

    async def update_board(
        self, board_id: str, *, name: str, description: str, updated_at: datetime
    ) -> None:
        await self._set("boards", {"_id": board_id},
                        {"name": name, "description": description, "updated_at": updated_at})

    async def delete_board(self, board_id: str, *, seq: int, at: datetime) -> None:
        for collection in ("attachments", "comments", "tasks", "members"):
            await self._delete(collection, {"board_id": board_id})
        await self._delete("boards", {"_id": board_id})
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
        await self._set("members", {"_id": rec.member_id(board_id, user_id)}, {"role": role})

    async def delete_member(self, board_id: str, user_id: str) -> None:
        await self._delete("members", {"_id": rec.member_id(board_id, user_id)})

    async def insert_task(self, task: Task) -> None:
        await self._insert("tasks", rec.task_doc(task), "That task already exists")

    async def update_task(self, task: Task) -> None:
        changes = rec.task_doc(task)
        for fixed in ("_id", "board_id", "created_by", "created_at"):
            del changes[fixed]
        await self._set("tasks", {"_id": task.id}, changes)

    async def delete_task(self, task_id: str) -> None:
        await self._delete("attachments", {"task_id": task_id})
        await self._delete("comments", {"task_id": task_id})
        await self._delete("tasks", {"_id": task_id})

    async def insert_comment(self, comment: Comment) -> None:
        await self._insert("comments", rec.comment_doc(comment), "That comment already exists")

    async def delete_comment(self, comment_id: str) -> None:
        await self._delete("comments", {"_id": comment_id})

    async def insert_attachment(self, attachment: Attachment) -> None:
        await self._insert("attachments", rec.attachment_doc(attachment),
                           "That attachment already exists")

    async def confirm_attachment(self, attachment_id: str, *, size: int, at: datetime) -> None:
        await self._set("attachments", {"_id": attachment_id},
                        {"pending": False, "size": size, "created_at": at})

    async def delete_attachment(self, attachment_id: str) -> None:
        await self._delete("attachments", {"_id": attachment_id})

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
        if seq % min(_PRUNE_EVERY, self._events_kept) == 0 and seq > self._events_kept:
            await self._delete("events", {"board_id": board_id,
                                          "seq": {"$lte": seq - self._events_kept}})
        return event

    async def insert_login(self, login: Login) -> None:
        await self._insert("logins", rec.login_doc(login), "That login already exists")

    async def revoke_login(self, login_id: str, at: datetime) -> None:
        await self._set("logins", {"_id": login_id, "revoked_at": None}, {"revoked_at": at})

    async def revoke_logins_of_user(self, user_id: str, at: datetime) -> list[str]:
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


class MongoStore(_Queries):
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
        when the server is unreachable, standalone (unless allowed), or lacks an index
        (unless `create_indexes`, which creates whatever is missing).
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
        """MongoNotReady naming the first missing index (and saying to run `db init`)."""
        if missing := await missing_indexes(self._db):
            raise MongoNotReady(f"the MongoDB index {missing[0].describe()} is missing "
                                f"({len(missing)} in all): run `taskflow db init`")

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
        """Creates the collections and indexes that are missing (`taskflow db init`)."""
        await ensure_indexes(self._db)

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
