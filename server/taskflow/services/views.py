"""The contract's JSON shape of each record, shared by HTTP responses and event payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from taskflow.domain import (
    Attachment,
    Board,
    Column,
    Comment,
    Event,
    Member,
    Notification,
    PersonalToken,
    Role,
    Task,
    TaskRow,
    User,
    Watch,
    checklist_data,
)
from taskflow.timefmt import from_ts


def rfc3339(value: datetime | None) -> str | None:
    """A UTC RFC 3339 timestamp with a trailing Z (None stays None)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user_view(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name,
            "created_at": rfc3339(user.created_at)}


def member_view(member: Member) -> dict[str, Any]:
    return {"user_id": member.user_id, "name": member.name, "email": member.email,
            "role": member.role}


def board_view(board: Board, role: Role | None = None) -> dict[str, Any]:
    """A board; `role` is the caller's, left out of event payloads (they go to everyone)."""
    view: dict[str, Any] = {
        "id": board.id,
        "name": board.name,
        "description": board.description,
        "owner_id": board.owner_id,
        "members": [member_view(member) for member in board.members],
        "columns": [column_view(column) for column in board.columns],
        "seq": board.seq,
        "epoch": board.epoch,
        "created_at": rfc3339(board.created_at),
        "updated_at": rfc3339(board.updated_at),
    }
    if role is not None:
        view["role"] = role
    return view


def column_view(column: Column) -> dict[str, Any]:
    return {"id": column.id, "name": column.name, "category": column.category,
            "wip_limit": column.wip_limit}


def task_view(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "board_id": task.board_id,
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "column_id": task.column_id,
        "priority": task.priority,
        "due_date": rfc3339(task.due_date),
        "assignee_id": task.assignee_id,
        "tags": list(task.tags),
        "position": task.position,
        "created_by": task.created_by,
        "created_at": rfc3339(task.created_at),
        "updated_at": rfc3339(task.updated_at),
        "completed_at": rfc3339(task.completed_at),
        "version": task.version,
        "checklist": checklist_data(task.checklist),
    }


def _stored_rfc3339(text: str | None) -> str | None:
    """rfc3339() of a stored timestamp (timefmt.to_ts text), cut from the text itself."""
    if text is None:
        return None
    if len(text) == 27:  # YYYY-MM-DDTHH:MM:SS.ffffffZ: keep the milliseconds, as rfc3339 does
        return text[:23] + "Z"
    return rfc3339(from_ts(text))


def task_row_view(row: TaskRow) -> dict[str, Any]:
    """task_view() of a stored row (domain.TaskRow), without building the Task."""
    view = dict(row)
    for name in ("due_date", "created_at", "updated_at", "completed_at"):
        view[name] = _stored_rfc3339(view[name])
    return view


def comment_view(comment: Comment) -> dict[str, Any]:
    return {"id": comment.id, "task_id": comment.task_id, "author_id": comment.author_id,
            "body": comment.body, "created_at": rfc3339(comment.created_at)}


def attachment_view(attachment: Attachment) -> dict[str, Any]:
    return {"id": attachment.id, "task_id": attachment.task_id, "filename": attachment.filename,
            "content_type": attachment.content_type, "size": attachment.size,
            "created_by": attachment.created_by, "created_at": rfc3339(attachment.created_at)}


def event_view(event: Event) -> dict[str, Any]:
    return {"seq": event.seq, "board_id": event.board_id, "type": event.type,
            "actor_id": event.actor_id, "at": rfc3339(event.at), "data": event.data}


def notification_view(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "type": n.type, "board_id": n.board_id, "task_id": n.task_id,
            "actor": {"user_id": n.actor_id, "name": n.actor_name} if n.actor_id else None,
            "created_at": rfc3339(n.created_at), "read_at": rfc3339(n.read_at),
            "summary": n.summary}


def watch_view(w: Watch) -> dict[str, Any]:
    return {"board_id": w.board_id, "task_id": w.task_id, "created_at": rfc3339(w.created_at)}


def personal_token_view(token: PersonalToken) -> dict[str, Any]:
    """A personal access token as listed: never its secret or its hash."""
    return {"id": token.id, "name": token.name, "scopes": list(token.scopes),
            "created_at": rfc3339(token.created_at), "expires_at": rfc3339(token.expires_at),
            "last_used_at": rfc3339(token.last_used_at) if token.last_used_at else None}
