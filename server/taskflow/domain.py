"""The records the store returns and the services hand out; plain data, no behaviour."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from taskflow.ids import new_epoch
from taskflow.timefmt import from_ts, to_ts

T = TypeVar("T")

Role = Literal["owner", "editor", "viewer"]
Status = Literal["todo", "in_progress", "done"]
Priority = Literal["low", "medium", "high", "urgent"]

ROLES: tuple[Role, ...] = ("owner", "editor", "viewer")
STATUSES: tuple[Status, ...] = ("todo", "in_progress", "done")
PRIORITIES: tuple[Priority, ...] = ("low", "medium", "high", "urgent")
PRIORITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(PRIORITIES)}

EVENT_TYPES = (
    "task:created",
    "task:updated",
    "task:deleted",
    "comment:created",
    "comment:deleted",
    "board:updated",
    "board:deleted",
    "member:added",
    "member:updated",
    "member:removed",
    "attachment:added",
    "attachment:deleted",
)


# RFC 2606's reserved top-level domain: no email address there can be registered or set
# (the API's email validation refuses special-use domains), so it marks deleted accounts.
DELETED_EMAIL_DOMAIN = "deleted.invalid"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    name: str
    password_hash: str
    created_at: datetime
    # Bumped when the password changes: every login made before is revoked.
    credentials_version: int = 1

    @property
    def deleted(self) -> bool:
        """A deleted account keeps its row, anonymized (services/accounts.py), so that what
        it wrote still names someone; its email is in a domain no one can register."""
        return self.email.endswith("@" + DELETED_EMAIL_DOMAIN)


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    name: str
    email: str
    role: Role


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a board. `category` is fixed at creation: a task's `status` is its
    column's category, so it never needs rewriting when a column changes."""

    id: str
    name: str
    category: Status
    wip_limit: int | None = None


DEFAULT_COLUMNS: tuple[tuple[str, Status], ...] = (
    ("To do", "todo"), ("In progress", "in_progress"), ("Done", "done"))
MAX_COLUMNS = 50


def default_columns(new_id: Callable[[], str]) -> tuple[Column, ...]:
    """The columns a new board starts with: one per category."""
    return tuple(Column(id=new_id(), name=name, category=category)
                 for name, category in DEFAULT_COLUMNS)


@dataclass(frozen=True, slots=True)
class Board:
    id: str
    name: str
    description: str
    owner_id: str
    seq: int
    created_at: datetime
    updated_at: datetime
    members: tuple[Member, ...] = ()
    # In order; every board has at least one column of each category.
    columns: tuple[Column, ...] = ()
    # Which log `seq` counts in: a `since` of another epoch means other events.
    epoch: str = field(default_factory=new_epoch)

    def column(self, column_id: str) -> Column | None:
        """The column of this board with that id, or None."""
        for column in self.columns:
            if column.id == column_id:
                return column
        return None

    def first_column(self, category: str) -> Column | None:
        """The first column of that category, in board order."""
        for column in self.columns:
            if column.category == category:
                return column
        return None

    def role_of(self, user_id: str) -> Role | None:
        """The role of user_id on this board, or None for a non-member."""
        for member in self.members:
            if member.user_id == user_id:
                return member.role
        return None


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    """One line of a task's checklist; a task keeps its items ordered by position."""

    id: str
    text: str
    done: bool
    position: float


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    board_id: str
    title: str
    description: str
    status: Status
    priority: Priority
    due_date: datetime | None
    assignee_id: str | None
    tags: tuple[str, ...]
    position: float
    created_by: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    version: int
    # The task's column on its board; `status` is that column's category (kept beside it).
    column_id: str = ""
    checklist: tuple[ChecklistItem, ...] = ()


def checklist_of(items: Any) -> tuple[ChecklistItem, ...]:
    """The items of a stored checklist (a list of dicts; None or absent is empty), by position."""
    return tuple(sorted((ChecklistItem(id=item["id"], text=item["text"], done=bool(item["done"]),
                                       position=float(item["position"]))
                         for item in items or ()), key=lambda item: (item.position, item.id)))


def checklist_data(items: tuple[ChecklistItem, ...]) -> list[dict[str, Any]]:
    """A checklist as stored and as the API shows it: a list of {id, text, done, position}."""
    return [{"id": i.id, "text": i.text, "done": i.done, "position": i.position} for i in items]


# A task as a listing reads it: Task's fields, its timestamps as timefmt.to_ts text and its
# tags a list. A page of tasks is only ever serialized: building a Task of each row and
# formatting its datetimes again was a third of a list request.
TaskRow = dict[str, Any]
_TASK_TIMES = ("due_date", "created_at", "updated_at", "completed_at")


def row_of_task(task: Task) -> TaskRow:
    """The row of a Task (what a store that reads Tasks returns as rows)."""
    row: TaskRow = {name: getattr(task, name) for name in Task.__slots__}
    for name in _TASK_TIMES:
        row[name] = to_ts(row[name]) if row[name] is not None else None
    row["tags"] = list(task.tags)
    row["checklist"] = checklist_data(task.checklist)
    return row


def task_of_row(row: TaskRow) -> Task:
    """The Task of a row."""
    values = dict(row)
    for name in _TASK_TIMES:
        values[name] = from_ts(values[name]) if values[name] is not None else None
    values["tags"] = tuple(values["tags"])
    values["checklist"] = checklist_of(values.get("checklist"))
    return Task(**values)


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    task_id: str
    board_id: str
    author_id: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file on a task. `pending` until a direct upload is confirmed."""

    id: str
    task_id: str
    board_id: str
    filename: str
    content_type: str
    size: int
    created_by: str
    created_at: datetime
    storage_key: str
    pending: bool = False


@dataclass(frozen=True, slots=True)
class Download:
    """Where an attachment's bytes are: a short-lived URL to redirect to, or a local file."""

    url: str | None = None
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    board_id: str
    type: str
    actor_id: str
    at: datetime
    data: dict[str, Any]


# Board events about one task: their task's id is found in the event's data under this key.
_TASK_KEY = {"task:created": "id", "task:updated": "id", "task:deleted": "id",
             "comment:created": "task_id", "comment:deleted": "task_id",
             "attachment:added": "task_id", "attachment:deleted": "task_id"}


def task_id_of_event(type: str, data: dict[str, Any]) -> str | None:
    """The task an event is about (stored beside the event, so a task's history is findable)."""
    key = _TASK_KEY.get(type)
    value = data.get(key) if key else None
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class BoardsNotice:
    """Users whose list of boards changed: a board of theirs appeared, changed or went away.

    Not a board event (nothing in the log); it tells their open pages to look again.
    """

    board_id: str
    change: str  # board:created, board:updated, board:deleted, member:added/updated/removed
    user_ids: tuple[str, ...]


NotificationType = Literal["mentioned", "assigned", "commented", "task_updated", "task_created",
                           "webhook_disabled"]
NOTIFICATION_TYPES: tuple[NotificationType, ...] = (
    "mentioned", "assigned", "commented", "task_updated", "task_created", "webhook_disabled")


@dataclass(frozen=True, slots=True)
class Notification:
    """One thing that happened that `user_id` should know about; stored per recipient.

    About a task, made by a member's write; or about the board (`task_id` None), made by
    TaskFlow itself (`actor_id` None): a webhook it disabled."""

    id: str
    user_id: str
    type: NotificationType
    board_id: str
    task_id: str | None
    actor_id: str | None
    actor_name: str
    summary: str
    created_at: datetime
    read_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NotificationsRead:
    """Some notifications of a user became read (`ids`), or all of them (`ids` None)."""

    user_id: str
    ids: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Watch:
    """A user follows a task (`task_id`) or a whole board (`task_id` None)."""

    user_id: str
    board_id: str
    task_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PersonalToken:
    """A personal access token: a user's long-lived credential for scripts, with scopes.

    Only the SHA-256 of the secret is kept; revoking deletes it."""

    id: str
    user_id: str
    name: str
    scopes: tuple[str, ...]
    token_hash: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = None  # to the minute (services/personal_tokens.py)


@dataclass(frozen=True, slots=True)
class Login:
    """One sign-in: its refresh tokens rotate within it, and revoking it ends them all."""

    id: str
    user_id: str
    created_at: datetime
    revoked_at: datetime | None
    credentials_version: int


@dataclass(frozen=True, slots=True)
class RefreshToken:
    token_hash: str
    login_id: str
    user_id: str
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """Filters and order of a task listing; `board_ids` is already limited to the caller's."""

    board_ids: tuple[str, ...]
    status: Status | None = None
    assignee_id: str | None = None
    priority: Priority | None = None
    column_id: str | None = None
    text: str | None = None
    due_before: datetime | None = None
    sort: str = "-created_at"
    limit: int = 50
    after: tuple[Any, ...] | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    total: int
    by_status: dict[str, int]
    overdue: int
    due_soon: int
    completed_last_7_days: int
    # Tasks per column id (columns without tasks are left out).
    by_column: dict[str, int] = field(default_factory=dict)

# Task orderings: the listed fields, then `id`, break ties. `due_missing` sorts tasks without
# a due date last in either direction; the direction applies to the other fields.
SORT_FIELDS: dict[str, tuple[str, ...]] = {
    "created_at": ("created_at",),
    "updated_at": ("updated_at",),
    "due_date": ("due_missing", "due_date"),
    "priority": ("priority_rank",),
    "position": ("position",),
}
SORTS = ("created_at", "-created_at", "updated_at", "-updated_at", "due_date", "-due_date",
         "priority", "-priority", "position")


def sort_values(task: Task, sort: str) -> tuple[Any, ...]:
    """The keyset values of `task` under `sort`, ending with its id (what a cursor carries)."""
    values: list[Any] = []
    for name in SORT_FIELDS[sort.lstrip("-")]:
        if name == "due_missing":
            values.append(1 if task.due_date is None else 0)
        elif name == "due_date":
            values.append(to_ts(task.due_date) if task.due_date else "")
        elif name == "priority_rank":
            values.append(PRIORITY_RANK[task.priority])
        elif name == "position":
            values.append(task.position)
        else:
            values.append(to_ts(getattr(task, name)))
    values.append(task.id)
    return tuple(values)


# Search (GET /api/v1/search): the fields a hit's words can be found in.
SEARCH_FIELDS: tuple[str, ...] = ("title", "description", "comments")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed search, its names resolved; `board_ids` is already limited to the caller's.

    Order: updated_at descending, then id descending (newest change first); `after` is the
    (updated_at as timefmt text, id) of the last hit handed out.
    """

    board_ids: tuple[str, ...]
    # Each term is the words of a word or phrase, matched as a phrase; all terms must match.
    terms: tuple[tuple[str, ...], ...] = ()
    status: Status | None = None
    assignee_id: str | None = None
    unassigned: bool = False
    tags: tuple[str, ...] = ()
    due_before: datetime | None = None
    due_after: datetime | None = None
    not_done: bool = False
    column: str | None = None
    # `column:"Name"` resolved: the ids of the caller's columns of that name (None: no filter).
    column_ids: tuple[str, ...] | None = None
    limit: int = 50
    after: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    task: Task
    # The fields in which some term of the query was found (empty for filters only).
    matched_in: tuple[str, ...]


# --- webhooks (services/webhooks.py) -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Webhook:
    """A board's outgoing webhook and its delivery state.

    `cursor` is the last seq delivered (or skipped by the `events` filter); `lease_owner` and
    `lease_until` name the instance sending it now; `attempt`, `next_attempt_at` and
    `failing_since` are the retry state of the event after `cursor`."""

    id: str
    board_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    cursor: int = 0
    disabled_reason: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    attempt: int = 0
    next_attempt_at: datetime | None = None
    failing_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to deliver one event to one webhook."""

    id: str
    webhook_id: str
    board_id: str
    seq: int
    event_type: str
    message_id: str
    status: Literal["succeeded", "failed"]
    response_code: int | None
    duration_ms: int
    attempt: int
    error: str | None
    at: datetime
