"""Reading an import file: TaskFlow's own export (services/exports.py) or a Trello board export.

The file is read with ijson (its C backend), a pass per part of the document, never whole:
a 100 MB export costs a few passes of parsing, not its size in memory. Everything read is
checked here; a problem is a ValidationFailed naming its JSONPath (`$.cards[17].name`).
These functions block (file reads, parsing): callers run them in a thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import ijson  # type: ignore[import-untyped]

from taskflow.domain import MAX_COLUMNS, PRIORITIES, STATUSES, Priority, Status
from taskflow.errors import ValidationFailed
from taskflow.services.exports import FORMAT, VERSION

MAX_TAGS, TAG_CHARS, TITLE_CHARS, TEXT_CHARS = 20, 50, 200, 10_000
NAME_CHARS, COLUMN_CHARS, DESCRIPTION_CHARS = 100, 60, 2000
ITEM_CHARS, MAX_ITEMS, COMMENT_CHARS = 500, 100, 5000
ITEM_STEP = 1024.0
Kind = Literal["taskflow", "trello"]
# What _detect notes of a top-level member that is an array or an object (not its value).
ARRAY, OBJECT = object(), object()
_DONE = ("done", "complete", "completed", "finished", "closed", "shipped", "erledigt")
_TODO = ("to do", "todo", "backlog", "ideas", "inbox", "new", "open")
_DOING = ("doing", "in progress", "wip", "in review", "review", "ongoing")


def invalid(path: str, msg: str) -> ValidationFailed:
    """A 422 about one place of the import document."""
    return ValidationFailed(f"{path}: {msg}", errors=[{"loc": ["body", path], "msg": msg}])


@dataclass(frozen=True, slots=True)
class ImportedColumn:
    key: str
    name: str
    category: Status
    wip_limit: int | None = None


@dataclass(frozen=True, slots=True)
class ImportedComment:
    body: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuthoredComment(ImportedComment):
    """A comment whose author the file names: by email (ours) or by name alone (Trello)."""

    author_email: str = ""
    author_name: str = ""


@dataclass(slots=True)
class ImportedTask:
    key: str
    title: str
    description: str
    column_key: str
    priority: Priority
    due_date: datetime | None
    tags: tuple[str, ...]
    position: float
    created_at: datetime | None
    assignee_email: str | None
    checklist: tuple[tuple[str, bool], ...]
    comments: list[ImportedComment] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Outline:
    """What an import file holds, its tasks and comments still in the file."""

    kind: Kind
    name: str
    description: str
    columns: tuple[ImportedColumn, ...]
    tasks: Callable[[], Iterator[ImportedTask]]
    # Comments read apart from their tasks (Trello keeps them in `actions`): (task key, comment).
    comments: Callable[[], Iterator[tuple[str, ImportedComment]]]


def outline(path: Path) -> Outline:
    """Reads the file's format and its board's outline; the whole file is parsed once here,
    so invalid or truncated JSON is refused before anything else."""
    kind, scalars = _detect(path)
    if kind == "taskflow":
        return _native(path, scalars)
    return _trello(path, scalars)


# --- reading ---------------------------------------------------------------------------------
def _items(path: Path, prefix: str) -> Iterator[Any]:
    with path.open("rb") as file:
        yield from ijson.items(file, prefix, use_float=True)


def _detect(path: Path) -> tuple[Kind, dict[str, Any]]:
    keys: set[str] = set()
    scalars: dict[str, Any] = {}
    try:
        with path.open("rb") as file:
            _scan(file, keys, scalars)
    except ijson.JSONError as exc:
        raise invalid("$", f"is not valid JSON ({_short(exc)})") from None
    except UnicodeDecodeError:
        raise invalid("$", "is not UTF-8 text") from None
    if scalars.get("format") == FORMAT:
        if scalars.get("version") != VERSION:
            raise invalid("$.version", f"must be {VERSION}")
        return "taskflow", scalars
    if "cards" in keys and "lists" in keys:
        return "trello", scalars
    raise invalid("$", "is neither a TaskFlow board export (format "
                       f"{FORMAT!r}) nor a Trello board export (lists and cards)")


def _scan(file: IO[bytes], keys: set[str], scalars: dict[str, Any]) -> None:
    events = ijson.parse(file, use_float=True)
    first = next(events, None)
    if first is None:
        raise invalid("$", "is empty")
    if first[1] != "start_map":
        raise invalid("$", "must be a JSON object")
    for prefix, event, value in events:
        if prefix == "" and event == "map_key":
            keys.add(value)
        elif prefix and "." not in prefix and prefix not in scalars:
            # A top-level member: its value when a scalar, else what starts it (start_array:
            # an array; _array_check reads that, so that no array is ever built whole).
            scalars[prefix] = {"start_array": ARRAY, "start_map": OBJECT}.get(event, value)


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


# --- checks ----------------------------------------------------------------------------------
def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(path, "must be an object")
    return value


def _text(obj: dict[str, Any], key: str, path: str, *, default: str | None = None,
          nullable: bool = False) -> str:
    value = obj.get(key, default)
    if value is None and (nullable or default is not None):
        return default or ""
    if not isinstance(value, str):
        raise invalid(f"{path}.{key}", "must be a string")
    return value


def _id(obj: dict[str, Any], key: str, path: str) -> str:
    value = _text(obj, key, path)
    if not value:
        raise invalid(f"{path}.{key}", "must not be empty")
    return value


def _title(obj: dict[str, Any], key: str, path: str, limit: int, *,
           untitled: str | None = None) -> str:
    text = _text(obj, key, path).strip()
    if not text:
        if untitled is None:
            raise invalid(f"{path}.{key}", "must not be empty")
        return untitled
    return text[:limit]


def _number(obj: dict[str, Any], key: str, path: str, default: float | None = None) -> float:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        if value is None and default is not None:
            return default
        raise invalid(f"{path}.{key}", "must be a finite number")
    return float(value)


def _bool(obj: dict[str, Any], key: str, path: str) -> bool:
    value = obj.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"{path}.{key}", "must be true or false")
    return value


def _time(obj: dict[str, Any], key: str, path: str) -> datetime | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(f"{path}.{key}", "must be an RFC 3339 date-time or null")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(f"{path}.{key}", "must be an RFC 3339 date-time or null") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _list(obj: dict[str, Any], key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"{path}.{key}", "must be an array")
    return value


def _tags(names: list[Any], path: str) -> tuple[str, ...]:
    tags: dict[str, None] = {}
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise invalid(f"{path}[{i}]", "must be a string")
        if name.strip():
            tags[name.strip()[:TAG_CHARS]] = None
    if len(tags) > MAX_TAGS:
        raise invalid(path, f"a task has at most {MAX_TAGS} tags")
    return tuple(tags)


def _array_check(scalars: dict[str, Any], prefix: str, where: str) -> None:
    """Refuses a top-level member that is there but is no array (ijson would skip it)."""
    if prefix in scalars and scalars[prefix] not in (ARRAY, None):
        raise invalid(where, "must be an array")


def _unique_names(columns: list[ImportedColumn]) -> list[ImportedColumn]:
    seen: set[str] = set()
    named = []
    for column in columns:
        name, n = column.name, 1
        while name.casefold() in seen:
            n += 1
            name = f"{column.name[:COLUMN_CHARS - 5]} ({n})"
        seen.add(name.casefold())
        named.append(ImportedColumn(column.key, name, column.category, column.wip_limit))
    return named


# --- TaskFlow's own export ---------------------------------------------------------------------
def _native(path: Path, scalars: dict[str, Any]) -> Outline:
    board = next(_items(path, "board"), None)
    board = _obj(board, "$.board")
    name = _title(board, "name", "$.board", NAME_CHARS)
    description = _text(board, "description", "$.board", default="")[:DESCRIPTION_CHARS]
    _array_check(scalars, "columns", "$.columns")
    _array_check(scalars, "tasks", "$.tasks")
    columns: list[tuple[float, ImportedColumn]] = []
    for i, raw in enumerate(_items(path, "columns.item")):
        where = f"$.columns[{i}]"
        column = _obj(raw, where)
        category = column.get("category")
        if category not in STATUSES:
            raise invalid(f"{where}.category", f"must be one of {', '.join(STATUSES)}")
        wip = column.get("wip_limit")
        if wip is not None and (isinstance(wip, bool) or not isinstance(wip, int)
                                or not 1 <= wip <= 1000):
            raise invalid(f"{where}.wip_limit", "must be null or an integer 1..1000")
        key = _id(column, "id", where)
        columns.append((_number(column, "order", where, float(i)), ImportedColumn(
            key=key, name=_title(column, "name", where, COLUMN_CHARS), category=category,
            wip_limit=wip)))
    ordered = [c for _, c in sorted(columns, key=lambda pair: pair[0])]
    _check_columns(ordered, "$.columns")
    keys = {c.key for c in ordered}
    if len(keys) != len(ordered):
        raise invalid("$.columns", "column ids must be unique")

    def tasks() -> Iterator[ImportedTask]:
        for i, raw in enumerate(_items(path, "tasks.item")):
            yield _native_task(raw, f"$.tasks[{i}]", keys)

    return Outline(kind="taskflow", name=name, description=description,
                   columns=tuple(_unique_names(ordered)), tasks=tasks, comments=lambda: iter(()))


def _check_columns(columns: list[ImportedColumn], where: str) -> None:
    if len(columns) > MAX_COLUMNS:
        raise invalid(where, f"a board has at most {MAX_COLUMNS} columns")
    missing = set(STATUSES) - {c.category for c in columns}
    if missing:
        raise invalid(where, f"needs a column of each category (missing {sorted(missing)})")


def _native_task(raw: Any, where: str, column_keys: set[str]) -> ImportedTask:
    task = _obj(raw, where)
    column_key = _text(task, "column_id", where)
    if column_key not in column_keys:
        raise invalid(f"{where}.column_id", "must be the id of a column in $.columns")
    priority = task.get("priority", "medium")
    if priority not in PRIORITIES:
        raise invalid(f"{where}.priority", f"must be one of {', '.join(PRIORITIES)}")
    checklist = []
    items = _list(task, "checklist", where)
    if len(items) > MAX_ITEMS:
        raise invalid(f"{where}.checklist", f"a task has at most {MAX_ITEMS} checklist items")
    for j, item in enumerate(items):
        at = f"{where}.checklist[{j}]"
        entry = _obj(item, at)
        checklist.append((_number(entry, "position", at, float(j)),
                          _title(entry, "text", at, ITEM_CHARS), _bool(entry, "done", at)))
    comments: list[ImportedComment] = []
    for j, item in enumerate(_list(task, "comments", where)):
        at = f"{where}.comments[{j}]"
        entry = _obj(item, at)
        comments.append(AuthoredComment(
            body=_title(entry, "body", at, COMMENT_CHARS),
            created_at=_time(entry, "created_at", at),
            author_email=_text(entry, "author_email", at, nullable=True),
            author_name=_text(entry, "author_name", at, nullable=True)[:NAME_CHARS]))
    return ImportedTask(
        key=_text(task, "id", where, default=""), title=_title(task, "title", where, TITLE_CHARS),
        description=_text(task, "description", where, default="")[:TEXT_CHARS],
        column_key=column_key, priority=priority, due_date=_time(task, "due_date", where),
        tags=_tags(_list(task, "tags", where), f"{where}.tags"),
        position=_number(task, "position", where, 0.0), created_at=_time(task, "created_at", where),
        assignee_email=_text(task, "assignee_email", where, nullable=True) or None,
        checklist=tuple((text, done) for _, text, done in sorted(checklist, key=lambda c: c[0])),
        comments=comments)


# --- Trello ------------------------------------------------------------------------------------
def _trello(path: Path, scalars: dict[str, Any]) -> Outline:
    name = scalars.get("name")
    if not isinstance(name, str) or name in (ARRAY, OBJECT):
        raise invalid("$.name", "must be a string")
    desc = scalars.get("desc")
    if desc is not None and (not isinstance(desc, str) or desc in (ARRAY, OBJECT)):
        raise invalid("$.desc", "must be a string")
    for member in ("lists", "cards", "checklists", "actions", "labels"):
        _array_check(scalars, member, f"$.{member}")
    lists: list[tuple[float, str, str]] = []
    closed_lists: set[str] = set()
    for i, raw in enumerate(_items(path, "lists.item")):
        where = f"$.lists[{i}]"
        entry = _obj(raw, where)
        key = _id(entry, "id", where)
        if _bool(entry, "closed", where):
            closed_lists.add(key)
            continue
        lists.append((_number(entry, "pos", where, float(i)), key,
                      _title(entry, "name", where, COLUMN_CHARS, untitled="List")))
    lists.sort(key=lambda item: item[0])
    if len(lists) > MAX_COLUMNS:
        raise invalid("$.lists", f"a board has at most {MAX_COLUMNS} columns (open lists)")
    columns = _trello_columns([(key, title) for _, key, title in lists])
    list_keys = {key for _, key, _ in lists}
    labels: dict[str, str] = {}
    for i, raw in enumerate(_items(path, "labels.item")):
        entry = _obj(raw, f"$.labels[{i}]")
        labels[_text(entry, "id", f"$.labels[{i}]")] = (
            _text(entry, "name", f"$.labels[{i}]", default="")
            or _text(entry, "color", f"$.labels[{i}]", default=""))
    checklists = _trello_checklists(path)

    def tasks() -> Iterator[ImportedTask]:
        for i, raw in enumerate(_items(path, "cards.item")):
            where = f"$.cards[{i}]"
            card = _obj(raw, where)
            key = _text(card, "id", where)
            list_key = _text(card, "idList", where)
            if list_key in closed_lists or _bool(card, "closed", where):
                continue
            if list_key not in list_keys:
                raise invalid(f"{where}.idList", "names no list of the board")
            yield _trello_card(card, where, key, list_key, labels, checklists.get(key, []))

    def comments() -> Iterator[tuple[str, ImportedComment]]:
        for i, raw in enumerate(_items(path, "actions.item")):
            where = f"$.actions[{i}]"
            action = _obj(raw, where)
            if action.get("type") != "commentCard":
                continue
            data = _obj(action.get("data"), f"{where}.data")
            card = _obj(data.get("card"), f"{where}.data.card")
            text = _text(data, "text", f"{where}.data").strip()
            if not text:
                continue
            creator = action.get("memberCreator")
            author = ""
            if isinstance(creator, dict):
                author = str(creator.get("fullName") or creator.get("username") or "")
            yield _text(card, "id", f"{where}.data.card"), AuthoredComment(
                body=text[:COMMENT_CHARS], created_at=_time(action, "date", where),
                author_name=author[:NAME_CHARS])

    return Outline(kind="trello", name=name.strip()[:NAME_CHARS] or "Trello board",
                   description=(desc or "")[:DESCRIPTION_CHARS], columns=tuple(columns),
                   tasks=tasks, comments=comments)


def _trello_columns(lists: list[tuple[str, str]]) -> list[ImportedColumn]:
    """Open lists in `pos` order: a name that says its category decides it; otherwise the
    first list is todo, the last done, the others in_progress. A missing category gets a
    column of its own (every board has one of each)."""
    columns = []
    for i, (key, title) in enumerate(lists):
        folded = title.casefold().strip()
        category: Status
        if folded in _DONE:
            category = "done"
        elif folded in _TODO:
            category = "todo"
        elif folded in _DOING:
            category = "in_progress"
        elif i == 0:
            category = "todo"
        elif i == len(lists) - 1:
            category = "done"
        else:
            category = "in_progress"
        columns.append(ImportedColumn(key=key, name=title, category=category))
    present = {c.category for c in columns}
    if "todo" not in present:
        columns.insert(0, ImportedColumn(key="", name="To do", category="todo"))
    if "in_progress" not in present:
        at = next((i for i, c in enumerate(columns) if c.category == "done"), len(columns))
        columns.insert(at, ImportedColumn(key="", name="In progress", category="in_progress"))
    if "done" not in present:
        columns.append(ImportedColumn(key="", name="Done", category="done"))
    if len(columns) > MAX_COLUMNS:
        raise invalid("$.lists", f"a board has at most {MAX_COLUMNS} columns (open lists)")
    return _unique_names(columns)


def _trello_checklists(path: Path) -> dict[str, list[tuple[float, str, list[tuple[float, str,
                                                                                   bool]]]]]:
    """Checklists by card id: (pos, name, [(pos, text, done)]). Kept in memory: cards come
    before checklists in Trello's export, and a task is written with its checklist."""
    by_card: dict[str, list[tuple[float, str, list[tuple[float, str, bool]]]]] = {}
    for i, raw in enumerate(_items(path, "checklists.item")):
        where = f"$.checklists[{i}]"
        checklist = _obj(raw, where)
        items = []
        for j, item in enumerate(_list(checklist, "checkItems", where)):
            at = f"{where}.checkItems[{j}]"
            entry = _obj(item, at)
            state = entry.get("state", "incomplete")
            if state not in ("complete", "incomplete"):
                raise invalid(f"{at}.state", "must be complete or incomplete")
            items.append((_number(entry, "pos", at, float(j)),
                          _title(entry, "name", at, ITEM_CHARS, untitled="(empty)"),
                          state == "complete"))
        by_card.setdefault(_text(checklist, "idCard", where), []).append(
            (_number(checklist, "pos", where, float(i)),
             _text(checklist, "name", where, default=""), items))
    return by_card


def _trello_card(card: dict[str, Any], where: str, key: str, list_key: str,
                 labels: dict[str, str],
                 checklists: list[tuple[float, str, list[tuple[float, str, bool]]]]
                 ) -> ImportedTask:
    names: list[Any] = []
    for j, label in enumerate(_list(card, "labels", where)):
        entry = _obj(label, f"{where}.labels[{j}]")
        names.append(entry.get("name") or entry.get("color") or "")
    if not names:
        names = [labels.get(str(label_id), "") for label_id in _list(card, "idLabels", where)]
    items: list[tuple[str, bool]] = []
    several = len(checklists) > 1
    for _, title, entries in sorted(checklists, key=lambda c: c[0]):
        for _, text, done in sorted(entries, key=lambda e: e[0]):
            items.append(((f"{title}: {text}" if several and title else text)[:ITEM_CHARS], done))
    if len(items) > MAX_ITEMS:
        raise invalid(f"{where}.idChecklists", f"a task has at most {MAX_ITEMS} checklist items")
    return ImportedTask(
        key=key, title=_title(card, "name", where, TITLE_CHARS, untitled="(untitled)"),
        description=_text(card, "desc", where, default="")[:TEXT_CHARS], column_key=list_key,
        priority="medium", due_date=_time(card, "due", where),
        tags=_tags(names, f"{where}.labels"), position=_number(card, "pos", where, 0.0),
        created_at=_trello_time(key), assignee_email=None, checklist=tuple(items))


def _trello_time(card_id: str) -> datetime | None:
    """When a Trello card was made: its id starts with the Unix time in hex (a Mongo ObjectId)."""
    try:
        return datetime.fromtimestamp(int(card_id[:8], 16), UTC) if len(card_id) == 24 else None
    except ValueError:
        return None
