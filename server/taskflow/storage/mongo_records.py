"""MongoDB documents <-> domain records, and the keyset filters of task listings.

Documents use our own string ids as `_id` (never ObjectIds) and BSON dates for times; the
client is tz-aware, so every datetime comes back as an aware UTC value. BSON dates hold
milliseconds, which is the precision the API renders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from taskflow.domain import (
    PRIORITY_RANK,
    SORT_FIELDS,
    Attachment,
    Board,
    Column,
    Comment,
    Event,
    Login,
    Member,
    RefreshToken,
    Task,
    TaskQuery,
    User,
    checklist_data,
    checklist_of,
    task_id_of_event,
)
from taskflow.timefmt import from_ts

Doc = dict[str, Any]

# Sort keys (domain.SORT_FIELDS names) -> document fields.
_FIELD = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "due_missing": "due_missing",
    "due_date": "due_date",
    "priority_rank": "priority_rank",
    "position": "position",
    "id": "_id",
}
_TIME_KEYS = ("created_at", "updated_at", "due_date")


def user_doc(user: User) -> Doc:
    return {"_id": user.id, "email": user.email, "email_norm": user.email.casefold(),
            "name": user.name, "password_hash": user.password_hash,
            "credentials_version": user.credentials_version, "created_at": user.created_at}


def user_email_doc(user: User) -> Doc:
    """The entry that owns a casefolded email: unique as the `_id` of `user_emails`."""
    return {"_id": user.email.casefold(), "user_id": user.id}


def user(doc: Doc) -> User:
    return User(id=doc["_id"], email=doc["email"], name=doc["name"],
                password_hash=doc["password_hash"], created_at=doc["created_at"],
                credentials_version=doc["credentials_version"])


def board_doc(board: Board) -> Doc:
    return {"_id": board.id, "name": board.name, "description": board.description,
            "owner_id": board.owner_id, "seq": board.seq, "created_at": board.created_at,
            "updated_at": board.updated_at, "columns": columns_docs(board.columns),
            "epoch": board.epoch}


def columns_docs(columns: Sequence[Column]) -> list[Doc]:
    """A board's columns as embedded documents, in order."""
    return [{"id": c.id, "name": c.name, "category": c.category, "wip_limit": c.wip_limit}
            for c in columns]


def board(doc: Doc, members: dict[str, list[Member]]) -> Board:
    return Board(id=doc["_id"], name=doc["name"], description=doc["description"],
                 owner_id=doc["owner_id"], seq=doc["seq"], created_at=doc["created_at"],
                 updated_at=doc["updated_at"], members=tuple(members.get(doc["_id"], ())),
                 columns=tuple(Column(id=c["id"], name=c["name"], category=c["category"],
                                      wip_limit=c["wip_limit"])
                               for c in doc.get("columns", ())),
                 epoch=doc["epoch"])


def member_id(board_id: str, user_id: str) -> str:
    """One membership's `_id`: its uniqueness is what refuses a second membership."""
    return f"{board_id}:{user_id}"


def task_doc(task: Task) -> Doc:
    return {"_id": task.id, "board_id": task.board_id, "title": task.title,
            "description": task.description, "status": task.status, "priority": task.priority,
            "priority_rank": PRIORITY_RANK[task.priority], "due_date": task.due_date,
            # Stored, so that "missing due dates last" is an index-served sort key.
            "due_missing": 1 if task.due_date is None else 0,
            "assignee_id": task.assignee_id, "tags": list(task.tags), "position": task.position,
            "created_by": task.created_by, "created_at": task.created_at,
            "updated_at": task.updated_at, "completed_at": task.completed_at,
            "version": task.version, "column_id": task.column_id,
            "checklist": checklist_data(task.checklist)}


def task(doc: Doc) -> Task:
    return Task(id=doc["_id"], board_id=doc["board_id"], title=doc["title"],
                description=doc["description"], status=doc["status"], priority=doc["priority"],
                due_date=doc["due_date"], assignee_id=doc["assignee_id"], tags=tuple(doc["tags"]),
                position=doc["position"], created_by=doc["created_by"],
                created_at=doc["created_at"], updated_at=doc["updated_at"],
                completed_at=doc["completed_at"], version=doc["version"],
                column_id=doc.get("column_id", ""),
                checklist=checklist_of(doc.get("checklist")))


def comment_doc(comment: Comment) -> Doc:
    return {"_id": comment.id, "task_id": comment.task_id, "board_id": comment.board_id,
            "author_id": comment.author_id, "body": comment.body, "created_at": comment.created_at}


def comment(doc: Doc) -> Comment:
    return Comment(id=doc["_id"], task_id=doc["task_id"], board_id=doc["board_id"],
                   author_id=doc["author_id"], body=doc["body"], created_at=doc["created_at"])


def attachment_doc(a: Attachment) -> Doc:
    return {"_id": a.id, "task_id": a.task_id, "board_id": a.board_id, "filename": a.filename,
            "content_type": a.content_type, "size": a.size, "created_by": a.created_by,
            "created_at": a.created_at, "storage_key": a.storage_key, "pending": a.pending}


def attachment(doc: Doc) -> Attachment:
    return Attachment(id=doc["_id"], task_id=doc["task_id"], board_id=doc["board_id"],
                      filename=doc["filename"], content_type=doc["content_type"], size=doc["size"],
                      created_by=doc["created_by"], created_at=doc["created_at"],
                      storage_key=doc["storage_key"], pending=doc["pending"])


def event_doc(event: Event) -> Doc:
    return {"_id": f"{event.board_id}:{event.seq}", "board_id": event.board_id, "seq": event.seq,
            "type": event.type, "actor_id": event.actor_id, "at": event.at, "data": event.data,
            "task_id": task_id_of_event(event.type, event.data)}


def event(doc: Doc) -> Event:
    return Event(seq=doc["seq"], board_id=doc["board_id"], type=doc["type"],
                 actor_id=doc["actor_id"], at=doc["at"], data=doc["data"])


def login_doc(login: Login) -> Doc:
    return {"_id": login.id, "user_id": login.user_id, "created_at": login.created_at,
            "revoked_at": login.revoked_at, "credentials_version": login.credentials_version}


def login(doc: Doc) -> Login:
    return Login(id=doc["_id"], user_id=doc["user_id"], created_at=doc["created_at"],
                 revoked_at=doc["revoked_at"], credentials_version=doc["credentials_version"])


def token_doc(token: RefreshToken) -> Doc:
    return {"_id": token.token_hash, "login_id": token.login_id, "user_id": token.user_id,
            "expires_at": token.expires_at, "used_at": token.used_at}


def token(doc: Doc) -> RefreshToken:
    return RefreshToken(token_hash=doc["_id"], login_id=doc["login_id"], user_id=doc["user_id"],
                        expires_at=doc["expires_at"], used_at=doc["used_at"])


def task_filter(query: TaskQuery) -> Doc:
    """The find() filter of a task listing, keyset included."""
    clauses: list[Doc] = [{"board_id": {"$in": list(query.board_ids)}}]
    for field, value in (("status", query.status), ("assignee_id", query.assignee_id),
                         ("priority", query.priority), ("column_id", query.column_id)):
        if value is not None:
            clauses.append({field: value})
    if query.due_before is not None:
        clauses.append({"due_date": {"$ne": None, "$lt": query.due_before}})
    if query.text:
        # Literal, case-insensitive substring: every regex metacharacter is escaped.
        pattern = {"$regex": re.escape(query.text), "$options": "i"}
        clauses.append({"$or": [{"title": pattern}, {"description": pattern}]})
    if query.after is not None:
        clauses.append(_keyset(task_order(query.sort), query.after))
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def task_order(sort: str) -> list[tuple[str, int]]:
    """(field, direction) pairs of a sort, `_id` last; `due_missing` is always ascending."""
    descending = sort.startswith("-")
    names = [*SORT_FIELDS[sort.lstrip("-")], "id"]
    return [(_FIELD[name], -1 if descending and name != "due_missing" else 1) for name in names]


def _keyset(order: list[tuple[str, int]], after: Sequence[Any]) -> Doc:
    """Documents strictly after the cursor values `after` in `order`."""
    values = [_cursor_value(field, value) for (field, _), value in zip(order, after, strict=True)]
    alternatives = []
    for i, (field, direction) in enumerate(order):
        # `$eq` spelled out: the same query to MongoDB, and the emulator the tests use
        # (NX-27017) mis-reads a bare null next to a range.
        clause: Doc = {order[j][0]: {"$eq": values[j]} for j in range(i)}
        clause[field] = {"$lt" if direction < 0 else "$gt": values[i]}
        alternatives.append(clause)
    return {"$or": alternatives}


def _cursor_value(field: str, value: Any) -> Any:
    """A cursor carries times as `to_ts` text ("" for a missing due date); queries need dates.

    A value that is no timestamp stays text: MongoDB never orders text against dates, so a
    forged cursor selects nothing rather than failing.
    """
    if field not in _TIME_KEYS or not isinstance(value, str):
        return value
    if value == "" and field == "due_date":
        return None
    try:
        return from_ts(value)
    except ValueError:
        return value


def cursor_time(value: str) -> datetime | str:
    """A `to_ts` cursor value as a date (text that is no timestamp stays text)."""
    converted: datetime | str = _cursor_value("created_at", value)
    return converted
