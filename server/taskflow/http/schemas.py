"""Request and response bodies of /api/v1; they also make the OpenAPI document."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from taskflow.domain import Priority, Status

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=10_000)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1000)]
Sort = Literal["created_at", "-created_at", "updated_at", "-updated_at", "due_date", "-due_date",
               "priority", "-priority", "position"]


def _date_to_midnight(value: Any) -> Any:
    """An RFC 3339 full-date ("2026-12-01") means that day's midnight UTC."""
    if isinstance(value, str) and _FULL_DATE.match(value):
        return f"{value}T00:00:00Z"
    return value


def _as_utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DueDate = Annotated[
    AwareDatetime | None,
    BeforeValidator(_date_to_midnight),
    AfterValidator(_as_utc),
    Field(description="RFC 3339 date or date-time; returned as a UTC date-time"),
]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Position = Annotated[float, AfterValidator(_finite)]


class Body(BaseModel):
    """Every request body refuses fields it doesn't name (server-owned ones included)."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- auth and profile -------------------------------------------------------------------
class RegisterIn(Body):
    email: EmailStr
    password: Password
    name: Name


class LoginIn(Body):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class RefreshIn(Body):
    # Optional: a browser's refresh token may travel in the HttpOnly cookie instead.
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class ProfilePatch(Body):
    name: Name | None = None
    email: EmailStr | None = None
    password: Password | None = None
    current_password: Annotated[str, StringConstraints(max_length=1000)] | None = None


class AccountDeleteIn(Body):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    created_at: str


class SessionOut(BaseModel):
    user: UserOut
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int


# --- boards -----------------------------------------------------------------------------
class BoardIn(Body):
    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] = ""


class BoardPatch(Body):
    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None


class MemberIn(Body):
    email: EmailStr
    role: Literal["editor", "viewer"]


class MemberPatch(Body):
    role: Literal["editor", "viewer"]


class MemberOut(BaseModel):
    user_id: str
    name: str
    email: str
    role: Literal["owner", "editor", "viewer"]


ColumnName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
WipLimit = Annotated[int, Field(ge=1, le=1000)]


class ColumnIn(Body):
    name: ColumnName
    category: Status = Field(description="Fixed at creation: the `status` of the column's tasks")
    wip_limit: WipLimit | None = Field(None, description="null: no limit")
    before_id: Id | None = Field(None, description="Insert before this column (default: last)")


class ColumnPatch(Body):
    name: ColumnName | None = None
    wip_limit: WipLimit | None = Field(None, description="null removes the limit")

    @model_validator(mode="after")
    def _name_not_null(self) -> ColumnPatch:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name can't be null")
        return self


class ColumnOrderIn(Body):
    column_ids: Annotated[list[Id], Field(min_length=1, max_length=50)]


class ColumnDeleteArgs(Query):
    move_to: Id | None = Field(None, description="The column that receives the deleted "
                                                 "column's tasks (required when it has any)")


class ColumnOut(BaseModel):
    id: str
    name: str
    category: Status
    wip_limit: int | None


class ColumnsOut(BaseModel):
    columns: list[ColumnOut]


class BoardOut(BaseModel):
    id: str
    name: str
    description: str
    owner_id: str
    role: Literal["owner", "editor", "viewer"]
    members: list[MemberOut]
    columns: list[ColumnOut] = Field(description="The board's columns, in order")
    seq: int
    epoch: str = Field(description="The epoch `seq` counts in: events fetched or joined with a "
                                   "`since` from another epoch are refused (410, resync)")
    created_at: str
    updated_at: str


class BoardList(BaseModel):
    items: list[BoardOut]
    next_cursor: str | None


class PageArgs(Query):
    limit: int = Field(50, ge=1, le=200)
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None


class EventsArgs(Query):
    since: int = Field(0, ge=0)
    limit: int = Field(100, ge=1, le=1000)
    epoch: str | None = Field(None, min_length=1, max_length=64,
                              description="The epoch `since` counts in (from the board or an "
                                          "earlier page); another epoch is 410 events_gone")


class EventOut(BaseModel):
    seq: int
    board_id: str
    type: str
    actor_id: str
    at: str
    data: dict[str, Any]


class EventList(BaseModel):
    items: list[EventOut]
    latest_seq: int
    epoch: str


class StatsOut(BaseModel):
    total: int
    by_status: dict[str, int]
    overdue: int
    due_soon: int
    completed_last_7_days: int
    by_column: dict[str, int] = Field(description="Tasks per column id (empty columns left out)")


# --- tasks and comments -----------------------------------------------------------------
class TaskIn(Body):
    board_id: Id
    title: Title
    description: Text = ""
    status: Status | None = Field(None, description="The first column of this category, unless "
                                                    "`column_id` says which (default: todo)")
    column_id: Id | None = None
    priority: Priority = "medium"
    due_date: DueDate = None
    assignee_id: Id | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] = []


class TaskPatch(Body):
    title: Title | None = None
    description: Text | None = None
    status: Status | None = None
    column_id: Id | None = None
    priority: Priority | None = None
    due_date: DueDate = None
    assignee_id: Id | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    position: Position | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> TaskPatch:
        for name in ("title", "status", "priority", "position", "tags", "description",
                     "column_id"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} can't be null")
        return self


class TaskArgs(PageArgs):
    board_id: Id | None = None
    status: Status | None = None
    column_id: Id | None = None
    assignee_id: Id | None = None
    priority: Priority | None = None
    q: Annotated[str, StringConstraints(max_length=200)] | None = None
    due_before: DueDate = None
    sort: Sort = "-created_at"


class ChecklistItemOut(BaseModel):
    id: str
    text: str
    done: bool
    position: float


class TaskOut(BaseModel):
    id: str
    board_id: str
    title: str
    description: str
    status: Status = Field(description="The category of the task's column (read-only)")
    column_id: str
    priority: Priority
    due_date: str | None
    assignee_id: str | None
    tags: list[str]
    position: float
    created_by: str
    created_at: str
    updated_at: str
    completed_at: str | None
    version: int
    checklist: list[ChecklistItemOut] = Field(
        description="Checklist items, by position (at most 100)")


class TaskList(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None


class CommentIn(Body):
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class CommentOut(BaseModel):
    id: str
    task_id: str
    author_id: str
    body: str
    created_at: str


class CommentList(BaseModel):
    items: list[CommentOut]
    next_cursor: str | None


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable machine `code`."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


# --- attachments ------------------------------------------------------------------------
class UploadForm(BaseModel):
    """multipart/form-data with one file field."""

    file: bytes = Field(json_schema_extra={"format": "binary"})


class AttachmentOut(BaseModel):
    id: str
    task_id: str
    filename: str
    content_type: str
    size: int
    created_by: str
    created_at: str


class AttachmentList(BaseModel):
    items: list[AttachmentOut]
    next_cursor: str | None


class DirectUploadIn(Body):
    filename: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    content_type: Annotated[str, StringConstraints(max_length=255)] = "application/octet-stream"
    size: int = Field(ge=1)


class UploadOptionsOut(BaseModel):
    max_bytes: int = Field(description="Largest attachment accepted, in bytes")
    direct_upload: bool = Field(description="True when files may go straight to S3 (POST .../uploads)")


class DirectUploadOut(BaseModel):
    attachment_id: str
    upload: dict[str, Any] = Field(description="POST these `fields` and the file to `url`")
    expires_in: int


# --- checklists and activity ------------------------------------------------------------
ItemText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ChecklistItemIn(Body):
    text: ItemText
    done: bool = False
    position: Position | None = Field(None, description="Default: after the last item")


class ChecklistItemPatch(Body):
    text: ItemText | None = None
    done: bool | None = None
    position: Position | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> ChecklistItemPatch:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} can't be null")
        return self


class ActivityActor(BaseModel):
    user_id: str
    name: str


class ActivityChange(BaseModel):
    field: str = Field(description="A task field, or `checklist` (one item), `comment`, "
                                   "`attachment`")
    before: Any = Field(description="null when the field or item was not there before")
    after: Any = Field(description="null when the field or item is gone")


class ActivityEntry(BaseModel):
    seq: int = Field(description="The board event's seq")
    at: str
    type: str = Field(description="task:created, task:updated, comment:created, "
                                  "comment:deleted, attachment:added or attachment:deleted")
    actor: ActivityActor
    changes: list[ActivityChange]


class ActivityList(BaseModel):
    items: list[ActivityEntry]
    next_cursor: str | None


# --- notifications and watches ----------------------------------------------------------
class NotificationArgs(PageArgs):
    unread: bool = Field(False, description="only unread notifications")


class NotificationActor(BaseModel):
    user_id: str
    name: str


class NotificationOut(BaseModel):
    id: str
    type: Literal["mentioned", "assigned", "commented", "task_updated", "task_created",
                  "webhook_disabled"] = Field(
        description="webhook_disabled: TaskFlow disabled one of the board's webhooks after a day"
                    " of failed deliveries; sent to the board's owner")
    board_id: str
    task_id: str | None = Field(description="null when the notification is about the board")
    actor: NotificationActor | None = Field(
        description="the member whose write made it; null when TaskFlow made it")
    created_at: str
    read_at: str | None
    summary: str = Field(description="the task's title and a short excerpt; for a disabled"
                                     " webhook, its URL and the last error")


class NotificationList(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None
    unread_count: int = Field(description="the caller's unread notifications, in all")


class ReadAllOut(BaseModel):
    updated: int


class WatchArgs(PageArgs):
    board_id: Id | None = None


class WatchOut(BaseModel):
    board_id: str
    task_id: str | None = Field(description="null: the whole board is watched")
    created_at: str


class WatchList(BaseModel):
    items: list[WatchOut]
    next_cursor: str | None


# --- search -----------------------------------------------------------------------------
class SearchArgs(PageArgs):
    q: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description='Words and "quoted phrases" (all must match), and filters: assignee:me|none|'
                    '<email>, status:todo|in_progress|done, tag:x, due:<7d|>3d|<2w|overdue, '
                    'board:"Name", column:"Name". Up to 20 terms.')


class SearchBoardRef(BaseModel):
    id: str
    name: str


class SearchHitOut(BaseModel):
    task: TaskOut
    board: SearchBoardRef
    matched_in: list[Literal["title", "description", "comments"]]


class SearchList(BaseModel):
    items: list[SearchHitOut]
    next_cursor: str | None


# --- personal access tokens -------------------------------------------------------------
TokenScope = Literal["read", "write", "admin"]


class TokenIn(Body):
    name: Name
    scopes: list[TokenScope] = Field(min_length=1, max_length=3,
                                     description="read < write < admin; the highest counts")
    expires_in_days: int = Field(ge=1, le=365)


class TokenOut(BaseModel):
    id: str
    name: str
    scopes: list[TokenScope]
    created_at: str
    expires_at: str
    last_used_at: str | None = Field(description="to the minute; null: never used")


class TokenCreated(TokenOut):
    token: str = Field(description="the secret (tfp_...), shown this once and never again")


class TokenList(BaseModel):
    items: list[TokenOut]
    next_cursor: str | None
