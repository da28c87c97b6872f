"""The MongoDB store's notifications and watches (collections `notifications`, `watches`).

A notification keeps a `read` flag beside `read_at`, which is what its listing index sorts
by (unread first). A watch's `_id` names user, board and task, so watching twice is one
document; a whole board's watch has `task_id` '', and so has a notification about the board
(with `actor_id` '' when TaskFlow, not a member, made it). Both collections stay unsharded (on the
database's primary shard) for now: they are read by user and deleted by board, and no
single shard key serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from taskflow.domain import Notification, Watch
from taskflow.storage.mongo_queries import MongoQueries
from taskflow.storage.mongo_records import Doc
from taskflow.timefmt import from_ts


def notification_doc(n: Notification) -> Doc:
    return {"_id": n.id, "user_id": n.user_id, "type": n.type, "board_id": n.board_id,
            "task_id": n.task_id or "", "actor_id": n.actor_id or "", "actor_name": n.actor_name,
            "summary": n.summary, "created_at": n.created_at, "read_at": n.read_at,
            "read": n.read_at is not None}


def notification(doc: Doc) -> Notification:
    return Notification(id=doc["_id"], user_id=doc["user_id"], type=doc["type"],
                        board_id=doc["board_id"], task_id=doc["task_id"] or None,
                        actor_id=doc["actor_id"] or None, actor_name=doc["actor_name"],
                        summary=doc["summary"], created_at=doc["created_at"],
                        read_at=doc.get("read_at"))


def watch(doc: Doc) -> Watch:
    return Watch(user_id=doc["user_id"], board_id=doc["board_id"],
                 task_id=doc["task_id"] or None, created_at=doc["created_at"])


def _key(board_id: str, task_id: str | None) -> str:
    return f"{board_id}/{task_id or ''}"


class MongoNotifyQueries(MongoQueries):
    async def select_notifications(self, user_id: str, *, unread_only: bool, limit: int,
                                   after: tuple[int, str, str] | None) -> list[Notification]:
        # The keyset as up to three plain index ranges read in turn (the rest of a tie on
        # created_at, older ones of the same read state, then the read ones), not one `$or`:
        # each is one range of notifications_by_user, and the NX-27017 emulator answered a
        # sorted, limited `$or` beside other conditions with the wrong rows.
        ranges: list[Doc] = []
        if after is None:
            ranges = [{"read": False}, {"read": True}]
        else:
            read, created, id_ = bool(after[0]), from_ts(after[1]), after[2]
            ranges = [{"read": read, "created_at": created, "_id": {"$lt": id_}},
                      {"read": read, "created_at": {"$lt": created}}]
            if not read:
                ranges.append({"read": True})
        found: list[Notification] = []
        for extra in ranges:
            if unread_only and extra["read"]:
                continue
            docs = await self._all("notifications", {"user_id": user_id, **extra},
                                   sort=[("created_at", -1), ("_id", -1)],
                                   limit=limit - len(found))
            found += [notification(doc) for doc in docs]
            if len(found) >= limit:
                break
        return found

    async def count_unread_notifications(self, user_id: str) -> int:
        return int(await self._db["notifications"].count_documents(
            {"user_id": user_id, "read": False}, session=self._session))

    async def select_notification(self, user_id: str, notification_id: str) -> Notification | None:
        doc = await self._one("notifications", {"_id": notification_id, "user_id": user_id})
        return notification(doc) if doc else None

    async def select_watchers(self, board_id: str, task_id: str | None) -> list[Watch]:
        docs = await self._all("watches", {"board_id": board_id,
                                           "task_id": {"$in": ["", task_id or ""]}})
        return [watch(doc) for doc in docs]

    async def select_watches_of_user(self, user_id: str, *, board_id: str | None, limit: int,
                                     after: tuple[str, str] | None) -> list[Watch]:
        filter: Doc = {"user_id": user_id}
        if board_id is not None:
            filter["board_id"] = board_id
        # Two plain ranges rather than an `$or` (see select_notifications).
        ranges: list[Doc] = [{}]
        if after is not None:
            created = from_ts(after[0])
            ranges = [{"created_at": created, "key": {"$gt": after[1]}},
                      {"created_at": {"$gt": created}}]
        found: list[Watch] = []
        for extra in ranges:
            docs = await self._all("watches", {**filter, **extra},
                                   sort=[("created_at", 1), ("key", 1)], limit=limit - len(found))
            found += [watch(doc) for doc in docs]
            if len(found) >= limit:
                break
        return found


class MongoNotifyWrites(MongoNotifyQueries):
    async def insert_notifications(self, notifications: Sequence[Notification]) -> None:
        if notifications:
            await self._db["notifications"].insert_many(
                [notification_doc(n) for n in notifications], session=self._session)

    async def mark_notifications_read(self, user_id: str, ids: Sequence[str] | None,
                                      at: datetime) -> int:
        filter: Doc = {"user_id": user_id, "read": False}
        if ids is not None:
            filter["_id"] = {"$in": list(ids)}
        result = await self._db["notifications"].update_many(
            filter, {"$set": {"read": True, "read_at": at}}, session=self._session)
        return int(result.modified_count)

    async def delete_notifications(self, board_id: str, *, user_id: str | None = None,
                                   task_id: str | None = None) -> None:
        await self._db["notifications"].delete_many(_narrowed(board_id, user_id, task_id),
                                                    session=self._session)

    async def purge_notifications(self, *, read_before: datetime,
                                  unread_before: datetime) -> int:
        result = await self._db["notifications"].delete_many(
            {"$or": [{"read": True, "created_at": {"$lt": read_before}},
                     {"read": False, "created_at": {"$lt": unread_before}}]},
            session=self._session)
        return int(result.deleted_count)

    async def upsert_watch(self, watch: Watch) -> None:
        task_id = watch.task_id or ""
        doc: dict[str, Any] = {"user_id": watch.user_id, "board_id": watch.board_id,
                               "task_id": task_id, "key": _key(watch.board_id, task_id),
                               "created_at": watch.created_at}
        await self._db["watches"].update_one(
            {"_id": f"{watch.user_id}|{doc['key']}"}, {"$setOnInsert": doc}, upsert=True,
            session=self._session)

    async def delete_watches(self, board_id: str, *, user_id: str | None = None,
                             task_id: str | None = None) -> None:
        await self._db["watches"].delete_many(_narrowed(board_id, user_id, task_id),
                                              session=self._session)

    async def delete_board_watch(self, board_id: str, user_id: str) -> None:
        await self._db["watches"].delete_one({"_id": f"{user_id}|{_key(board_id, None)}"},
                                             session=self._session)


def _narrowed(board_id: str, user_id: str | None, task_id: str | None) -> Doc:
    filter: Doc = {"board_id": board_id}
    if user_id is not None:
        filter["user_id"] = user_id
    if task_id is not None:
        filter["task_id"] = task_id
    return filter
