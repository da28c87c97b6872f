"""SQLite rows to domain records."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from taskflow.domain import (
    Attachment,
    Board,
    Column,
    Comment,
    Event,
    Member,
    Task,
    User,
    checklist_of,
)
from taskflow.timefmt import from_ts, to_ts


def opt_ts(value: datetime | None) -> str | None:
    return to_ts(value) if value is not None else None


def user_of(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        password_hash=row["password_hash"],
        created_at=from_ts(row["created_at"]),
        credentials_version=row["credentials_version"],
    )


def board_of(row: sqlite3.Row, members: dict[str, list[Member]]) -> Board:
    return Board(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        owner_id=row["owner_id"],
        seq=row["seq"],
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
        members=tuple(members.get(row["id"], ())),
        columns=columns_of(row["columns_json"]),
        epoch=row["epoch"],
    )


def columns_of(text: str) -> tuple[Column, ...]:
    return tuple(Column(id=c["id"], name=c["name"], category=c["category"],
                        wip_limit=c["wip_limit"]) for c in json.loads(text))


def columns_json(columns: tuple[Column, ...]) -> str:
    return json.dumps([{"id": c.id, "name": c.name, "category": c.category,
                        "wip_limit": c.wip_limit} for c in columns], separators=(",", ":"))


def task_of(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"],
        board_id=row["board_id"],
        title=row["title"],
        description=row["description"],
        status=row["status"],
        priority=row["priority"],
        due_date=from_ts(row["due_date"]) if row["due_date"] else None,
        assignee_id=row["assignee_id"],
        tags=tuple(json.loads(row["tags"])),
        position=row["position"],
        created_by=row["created_by"],
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
        completed_at=from_ts(row["completed_at"]) if row["completed_at"] else None,
        version=row["version"],
        column_id=row["column_id"],
        checklist=checklist_of(json.loads(row["checklist"])),
    )


def comment_of(row: sqlite3.Row) -> Comment:
    return Comment(
        id=row["id"],
        task_id=row["task_id"],
        board_id=row["board_id"],
        author_id=row["author_id"],
        body=row["body"],
        created_at=from_ts(row["created_at"]),
    )


def attachment_of(row: sqlite3.Row) -> Attachment:
    return Attachment(
        id=row["id"],
        task_id=row["task_id"],
        board_id=row["board_id"],
        filename=row["filename"],
        content_type=row["content_type"],
        size=row["size"],
        created_by=row["created_by"],
        created_at=from_ts(row["created_at"]),
        storage_key=row["storage_key"],
        pending=bool(row["pending"]),
    )


def event_of(row: sqlite3.Row) -> Event:
    return Event(
        seq=row["seq"],
        board_id=row["board_id"],
        type=row["type"],
        actor_id=row["actor_id"],
        at=from_ts(row["at"]),
        data=json.loads(row["data"]),
    )
