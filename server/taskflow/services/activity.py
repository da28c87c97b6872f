"""A task's activity: who changed what and when, read from the board's event log.

Each event about the task becomes one entry. A task:updated lists the fields that differ
from the task's previous state in the log (its previous task:created or task:updated);
checklist changes are listed per item (field "checklist", the item before and after, null
for an item added or removed). Entries whose only change is `position` (a drag within a
column, or the server renumbering a column) are left out. `version` and `updated_at` are
never listed.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from taskflow.domain import Event, Page
from taskflow.errors import ValidationFailed
from taskflow.services.access import Actor, task_for
from taskflow.services.ports import Store
from taskflow.services.views import rfc3339

ACTIVITY_TYPES = frozenset({"task:created", "task:updated", "comment:created", "comment:deleted",
                            "attachment:added", "attachment:deleted"})
_STATES = frozenset({"task:created", "task:updated"})
# Fields of a task view that an entry lists, in this order (checklist is listed per item).
FIELDS = ("title", "description", "status", "priority", "due_date", "assignee_id", "tags",
          "position", "completed_at")
# Events read per trip to the store; a page stops after this many trips even if not full.
_BATCH = 50
_MAX_TRIPS = 20


class _Scan:
    """The task's events below one seq, newest first, fetched in batches as they are read."""

    def __init__(self, store: Store, board_id: str, task_id: str, before: int | None) -> None:
        self._store, self._board_id, self._task_id = store, board_id, task_id
        self._before = before
        self._trips = 0
        self.events: list[Event] = []
        self.done = False  # nothing older is left to fetch
        self.capped = False  # stopped early: older events may be left

    async def at(self, index: int) -> Event | None:
        while index >= len(self.events) and not (self.done or self.capped):
            batch = await self._store.select_task_events(self._board_id, self._task_id,
                                                         before=self._before, limit=_BATCH)
            self._trips += 1
            self.events.extend(batch)
            if batch:
                self._before = batch[-1].seq
            self.done = len(batch) < _BATCH
            self.capped = not self.done and self._trips >= _MAX_TRIPS
        return self.events[index] if index < len(self.events) else None


class ActivityService:
    def __init__(self, *, store: Store) -> None:
        self._store = store

    async def list(self, actor: Actor, task_id: str, *, limit: int = 50,
                   cursor: str | None = None) -> Page[dict[str, Any]]:
        """Entries newest first; the cursor names the seq the next page starts below."""
        task, board = await task_for(self._store, task_id, actor)
        before = _decode(cursor) if cursor else None
        scan = _Scan(self._store, task.board_id, task_id, before)
        entries: list[dict[str, Any]] = []
        names = {member.user_id: member.name for member in board.members}
        index, last_seq = 0, None
        while len(entries) < limit:
            event = await scan.at(index)
            if event is None:
                break
            index += 1
            last_seq = event.seq
            if event.type not in ACTIVITY_TYPES:
                continue
            previous = None
            if event.type == "task:updated":
                ahead = index
                while (older := await scan.at(ahead)) is not None and older.type not in _STATES:
                    ahead += 1
                previous = older
            entry = await self._entry(event, previous, names)
            if entry is not None:
                entries.append(entry)
        more = last_seq is not None and (await scan.at(index) is not None or scan.capped)
        return Page(items=entries,
                    next_cursor=_encode(last_seq) if more and last_seq is not None else None)

    async def _entry(self, event: Event, previous: Event | None,
                     names: dict[str, str]) -> dict[str, Any] | None:
        changes = _changes(event, previous)
        if changes is None:
            return None
        if event.actor_id not in names:  # a former member, looked up once per page
            user = await self._store.select_user(event.actor_id)
            names[event.actor_id] = user.name if user else ""
        return {"seq": event.seq, "at": rfc3339(event.at), "type": event.type,
                "actor": {"user_id": event.actor_id, "name": names[event.actor_id]},
                "changes": changes}


def _changes(event: Event, previous: Event | None) -> list[dict[str, Any]] | None:
    """The entry's changes; None for an entry that is left out (position only)."""
    data = event.data
    if event.type == "task:created":
        return [{"field": name, "before": None, "after": data.get(name)} for name in FIELDS
                if data.get(name) not in (None, "", []) and name != "position"] + [
            {"field": "checklist", "before": None, "after": item}
            for item in data.get("checklist") or []]
    if event.type == "task:updated":
        if previous is None:  # the state before fell out of the kept log
            return []
        before = previous.data
        changes = [{"field": name, "before": before.get(name), "after": data.get(name)}
                   for name in FIELDS if before.get(name) != data.get(name)]
        changes += _checklist_changes(before.get("checklist") or [], data.get("checklist") or [])
        if not changes or [c["field"] for c in changes] == ["position"]:
            return None
        return changes
    if event.type == "comment:created":
        return [{"field": "comment", "before": None,
                 "after": {"id": data.get("id"), "body": data.get("body")}}]
    if event.type == "comment:deleted":
        return [{"field": "comment", "before": {"id": data.get("id")}, "after": None}]
    if event.type == "attachment:added":
        return [{"field": "attachment", "before": None,
                 "after": {"id": data.get("id"), "filename": data.get("filename")}}]
    return [{"field": "attachment", "before": {"id": data.get("id")}, "after": None}]


def _checklist_changes(before: list[dict[str, Any]],
                       after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    old = {item["id"]: item for item in before}
    new = {item["id"]: item for item in after}
    changes = [{"field": "checklist", "before": old.get(key), "after": new.get(key)}
               for key in dict.fromkeys([*new, *old]) if old.get(key) != new.get(key)]
    return changes


def _encode(seq: int) -> str:
    return base64.urlsafe_b64encode(f"a{seq}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("a") or not text[1:].isdigit():
            raise ValueError(text)
        return int(text[1:])
    except (binascii.Error, ValueError, UnicodeDecodeError):
        msg = "is not a cursor this listing handed out"
        raise ValidationFailed(msg, errors=[{"loc": ["query", "cursor"], "msg": msg}]) from None
