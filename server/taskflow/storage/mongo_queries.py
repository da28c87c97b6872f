"""The MongoDB store's reads, each carrying the shard key of its collection (mongo_shards.py).

A task is the one thing callers find by its own id alone (`GET /tasks/{id}` names no
board): its board comes from `task_boards`, a lookup keyed (and sharded) by task id, and
the task is then read by (board_id, _id). The task -> board mapping never changes, so the
lookup needs no transaction; a broadcast find by `_id` would instead ask every shard, and
inside a transaction make every shard a participant of every task write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from taskflow.domain import (
    Attachment,
    Board,
    Comment,
    Event,
    Login,
    Member,
    RefreshToken,
    SearchHit,
    SearchQuery,
    Stats,
    Task,
    TaskQuery,
    TaskRow,
    User,
    row_of_task,
)
from taskflow.errors import ServiceUnavailable
from taskflow.storage import mongo_records as rec
from taskflow.storage import mongo_search
from taskflow.storage.mongo_records import Doc

_INDEX_NOT_FOUND = 27  # MongoDB's IndexNotFound: $text without a text index


class MongoQueries:
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
        entry = await self._one("user_emails", {"_id": email.casefold()})
        return await self.select_user(entry["user_id"]) if entry else None

    async def select_board(self, board_id: str) -> Board | None:
        doc = await self._one("boards", {"_id": board_id})
        return rec.board(doc, await self._members([board_id])) if doc else None

    async def select_boards_of_user(self, user_id: str) -> list[Board]:
        docs = await self._all("boards", {"_id": {"$in": await self._board_ids_of(user_id)}},
                               sort=[("created_at", 1), ("_id", 1)])
        members = await self._members([doc["_id"] for doc in docs])
        return [rec.board(doc, members) for doc in docs]

    async def _board_ids_of(self, user_id: str) -> list[str]:
        # Members are sharded by board: a user's boards are asked of every shard (see README).
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
        board_id = await self._board_of_task(task_id)
        if board_id is None:
            return None
        doc = await self._one("tasks", {"board_id": board_id, "_id": task_id})
        return rec.task(doc) if doc else None

    async def _board_of_task(self, task_id: str) -> str | None:
        # Committed entries are read outside the transaction: an entry never changes, so this
        # adds no shard to the transaction. Only the transaction's own new tasks need it.
        lookup = self._db["task_boards"]
        entry = await lookup.find_one({"_id": task_id})
        if entry is None and self._session is not None:
            entry = await lookup.find_one({"_id": task_id}, session=self._session)
        return None if entry is None else str(entry["board_id"])

    async def select_task_rows(self, query: TaskQuery) -> list[TaskRow]:
        return [row_of_task(task) for task in await self.select_tasks(query)]

    async def select_tasks(self, query: TaskQuery) -> list[Task]:
        if not query.board_ids or query.limit <= 0:  # find()'s limit 0 means "no limit"
            return []
        docs = await self._all("tasks", rec.task_filter(query), sort=rec.task_order(query.sort),
                               limit=query.limit)
        return [rec.task(doc) for doc in docs]

    async def search_tasks(self, query: SearchQuery) -> list[SearchHit]:
        if not query.board_ids:
            return []
        try:
            cursor = await self._db["tasks"].aggregate(mongo_search.pipeline(query),
                                                       session=self._session)
            docs = await cursor.to_list(None)
        except OperationFailure as exc:
            if exc.code == _INDEX_NOT_FOUND:
                raise ServiceUnavailable("Search needs the tasks' text index: run "
                                         "`taskflow db init`") from None
            raise
        return [SearchHit(task=rec.task(doc), matched_in=mongo_search.matched_in(doc))
                for doc in docs]

    async def select_column(self, board_id: str, column_id: str) -> list[Task]:
        docs = await self._all("tasks", {"board_id": board_id, "column_id": column_id},
                               sort=[("position", 1), ("_id", 1)])
        return [rec.task(doc) for doc in docs]

    async def select_column_end(self, board_id: str, column_id: str) -> float | None:
        doc = await self._one("tasks", {"board_id": board_id, "column_id": column_id},
                              sort=[("position", -1)], projection={"position": 1})
        return None if doc is None else float(doc["position"])

    async def select_neighbours(self, task: Task) -> tuple[Task | None, Task | None]:
        column = {"board_id": task.board_id, "column_id": task.column_id}
        before = await self._one("tasks", {**column, "$or": [
            {"position": {"$lt": task.position}},
            {"position": task.position, "_id": {"$lt": task.id}}]},
            sort=[("position", -1), ("_id", -1)])
        after = await self._one("tasks", {**column, "$or": [
            {"position": {"$gt": task.position}},
            {"position": task.position, "_id": {"$gt": task.id}}]},
            sort=[("position", 1), ("_id", 1)])
        return (rec.task(before) if before else None, rec.task(after) if after else None)

    async def select_comment(self, board_id: str, comment_id: str) -> Comment | None:
        doc = await self._one("comments", {"board_id": board_id, "_id": comment_id})
        return rec.comment(doc) if doc else None

    async def select_comments(
        self, board_id: str, task_id: str, *, limit: int, after: tuple[str, str] | None
    ) -> list[Comment]:
        if limit <= 0:
            return []
        filter: Doc = {"board_id": board_id, "task_id": task_id}
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

    async def select_task_events(self, board_id: str, task_id: str, *, before: int | None,
                                 limit: int) -> list[Event]:
        if limit <= 0:
            return []
        filter: Doc = {"board_id": board_id, "task_id": task_id}
        if before is not None:
            filter["seq"] = {"$lt": before}
        docs = await self._all("events", filter, sort=[("seq", -1)], limit=limit)
        return [rec.event(doc) for doc in docs]

    async def select_board_ids(self, *, after: str | None, limit: int) -> list[str]:
        docs = await self._all("boards", {"_id": {"$gt": after or ""}}, projection={"_id": 1},
                               sort=[("_id", 1)], limit=limit)
        return [doc["_id"] for doc in docs]

    async def select_stale_imports(self, before: datetime, *, limit: int) -> list[str]:
        docs = await self._all("imports", {"started_at": {"$lt": before}}, projection={"_id": 1},
                               sort=[("started_at", 1), ("_id", 1)], limit=limit)
        return [doc["_id"] for doc in docs]

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
        per_column: list[Doc] = [{"$match": {"board_id": {"$in": list(board_ids)}}},
                      {"$group": {"_id": "$column_id", "n": {"$sum": 1}}}]
        cursor = await self._db["tasks"].aggregate(per_column, session=self._session)
        by_column = {str(doc["_id"]): int(doc["n"]) for doc in await cursor.to_list(None)}
        return Stats(
            total=row.get("total", 0),
            by_status={status: row.get(status, 0) for status in ("todo", "in_progress", "done")},
            overdue=row.get("overdue", 0),
            due_soon=row.get("due_soon", 0),
            completed_last_7_days=row.get("completed", 0),
            by_column=by_column,
        )

    async def select_attachment(self, board_id: str, attachment_id: str) -> Attachment | None:
        doc = await self._one("attachments", {"board_id": board_id, "_id": attachment_id})
        return rec.attachment(doc) if doc else None

    async def select_attachments(self, board_id: str, task_id: str) -> list[Attachment]:
        docs = await self._all("attachments", {"board_id": board_id, "task_id": task_id},
                               sort=[("created_at", 1), ("_id", 1)])
        return [rec.attachment(doc) for doc in docs]

    async def select_attachments_of_board(self, board_id: str) -> list[Attachment]:
        return [rec.attachment(doc) for doc in await self._all("attachments", {"board_id": board_id})]

    async def select_stale_pending_attachments(self, before: datetime) -> list[Attachment]:
        # Every board's: asks every shard (a periodic purge, off the request path).
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
