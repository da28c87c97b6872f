"""Mentions, watches and notifications.

Who hears about a write is decided inside the write's own transaction (`Outbox.deliver`,
called by the task and comment services with the board as that transaction read it), so a
member removed by a transaction that committed first is never notified, and removing a
member deletes their watches and notifications of the board in the removal's transaction.
The notifications are pushed live after commit (Recorder), to every socket of each
recipient on every instance.

Mention syntax: `@[Full Name]` (any member name, spaces allowed; what the web client's
member picker inserts) or `@Name` for a name without spaces (letters, digits, `.`, `_`,
`-`). Names compare case-insensitively with runs of spaces folded; a name shared by several
members mentions each of them. `@` right after a letter or digit (an email address) is no
mention.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from taskflow.domain import (
    Board,
    Member,
    Notification,
    NotificationsRead,
    NotificationType,
    Task,
    Watch,
)
from taskflow.errors import NotFound
from taskflow.ids import new_id
from taskflow.services.access import Actor, board_for, task_for
from taskflow.services.changes import Change, Recorder
from taskflow.services.cursors import decode_keys, encode_keys
from taskflow.services.ports import Store
from taskflow.timefmt import to_ts

_MENTION = re.compile(r"(?<![\w@])@(?:\[([^\]\n]{1,200})\]|([\w][\w.\-]*))")
SUMMARY_CHARS = 200
READ_KEPT = timedelta(days=90)
UNREAD_KEPT = timedelta(days=365)
# One notification per recipient per write: the most specific reason wins (lowest rank).
RANK: dict[NotificationType, int] = {"assigned": 0, "mentioned": 1, "commented": 2,
                                     "task_created": 2, "task_updated": 3}


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


def mentioned(text: str, members: Iterable[Member]) -> set[str]:
    """The user ids of the members that `text` mentions."""
    names = [m for m in (match.group(1) or match.group(2).rstrip(".-")
                         for match in _MENTION.finditer(text or "")) if m]
    if not names:
        return set()
    by_name: dict[str, set[str]] = {}
    for member in members:
        by_name.setdefault(_norm(member.name), set()).add(member.user_id)
    return {user_id for name in names for user_id in by_name.get(_norm(name), ())}


def excerpt(text: str, limit: int = SUMMARY_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


@dataclass
class Outbox:
    """The notifications one write makes: a reason per recipient, the most specific kept."""

    reasons: dict[str, NotificationType] = field(default_factory=dict)

    def add(self, user_ids: Iterable[str], type: NotificationType) -> None:
        for user_id in user_ids:
            held = self.reasons.get(user_id)
            if held is None or RANK[type] < RANK[held]:
                self.reasons[user_id] = type

    async def deliver(self, change: Change, board: Board, task: Task, detail: str) -> None:
        """Stores one notification per recipient (never the actor, never a non-member of
        `board`, which the caller read in this same transaction)."""
        members = {m.user_id: m for m in board.members}
        recipients = [(u, t) for u, t in self.reasons.items()
                      if u != change.actor_id and u in members]
        if not recipients:
            return
        actor = members.get(change.actor_id)
        actor_name = actor.name if actor else ""
        now = change.clock.now()
        summary = excerpt(f"{task.title}: {detail}" if detail else task.title)
        made = [Notification(id=new_id(), user_id=user_id, type=type, board_id=board.id,
                             task_id=task.id, actor_id=change.actor_id, actor_name=actor_name,
                             summary=summary, created_at=now)
                for user_id, type in recipients]
        await change.tx.insert_notifications(made)
        change.notifications.extend(made)


async def webhook_disabled(change: Change, board_id: str, url: str, reason: str) -> None:
    """Tells the board's owner, in the transaction that disabled the webhook, that TaskFlow
    did (they alone manage webhooks). Nothing when the board is gone."""
    board = await change.tx.select_board(board_id)
    if board is None:
        return
    made = Notification(id=new_id(), user_id=board.owner_id, type="webhook_disabled",
                        board_id=board_id, task_id=None, actor_id=None, actor_name="",
                        summary=excerpt(f"Webhook to {url} disabled: {reason}"),
                        created_at=change.clock.now())
    await change.tx.insert_notifications([made])
    change.notifications.append(made)


async def watchers(change: Change, board_id: str, task_id: str | None) -> list[str]:
    return [w.user_id for w in await change.tx.select_watchers(board_id, task_id)]


async def watch_in(change: Change, user_id: str, board_id: str, task_id: str) -> None:
    """Creating a task or commenting on it makes its author watch it."""
    await change.tx.upsert_watch(Watch(user_id=user_id, board_id=board_id, task_id=task_id,
                                       created_at=change.clock.now()))


def watch_key(watch: Watch) -> str:
    return f"{watch.board_id}/{watch.task_id or ''}"


@dataclass(frozen=True, slots=True)
class NotificationPage:
    items: list[Notification]
    next_cursor: str | None
    unread_count: int


@dataclass(frozen=True, slots=True)
class WatchPage:
    items: list[Watch]
    next_cursor: str | None


class NotificationService:
    def __init__(self, *, store: Store, recorder: Recorder) -> None:
        self._store = store
        self._recorder = recorder

    async def list(self, actor: Actor, *, unread_only: bool = False, limit: int = 50,
                   cursor: str | None = None) -> NotificationPage:
        """Unread first, then newest first; keyset over (read, created_at, id)."""
        after = decode_keys(cursor, "n", (int, str, str)) if cursor else None
        items = await self._store.select_notifications(
            actor.user_id, unread_only=unread_only, limit=limit + 1,
            after=(after[0], after[1], after[2]) if after else None)
        last = items[limit - 1] if len(items) > limit else None
        next_cursor = (encode_keys("n", [0 if last.read_at is None else 1,
                                         to_ts(last.created_at), last.id]) if last else None)
        unread = await self._store.count_unread_notifications(actor.user_id)
        return NotificationPage(items=items[:limit], next_cursor=next_cursor, unread_count=unread)

    async def read(self, actor: Actor, notification_id: str) -> Notification:
        """Marks one read (idempotent); another user's is NotFound."""
        async def work(change: Change) -> Notification:
            found = await change.tx.select_notification(actor.user_id, notification_id)
            if found is None:
                raise NotFound("Notification not found")
            if found.read_at is not None:
                return found
            now = change.clock.now()
            await change.tx.mark_notifications_read(actor.user_id, [notification_id], now)
            change.reads.append(NotificationsRead(user_id=actor.user_id, ids=(notification_id,)))
            return replace(found, read_at=now)

        return await self._recorder.run(actor.user_id, work)

    async def read_all(self, actor: Actor) -> int:
        async def work(change: Change) -> int:
            updated = await change.tx.mark_notifications_read(actor.user_id, None,
                                                              change.clock.now())
            if updated:
                change.reads.append(NotificationsRead(user_id=actor.user_id, ids=None))
            return updated

        return await self._recorder.run(actor.user_id, work)

    async def watch(self, actor: Actor, *, board_id: str | None = None,
                    task_id: str | None = None) -> None:
        """Watches a task (`task_id`) or a board; any member may, viewers too."""
        async def work(change: Change) -> None:
            if task_id is not None:
                task, _ = await task_for(change.tx, task_id, actor)
                await watch_in(change, actor.user_id, task.board_id, task.id)
            else:
                assert board_id is not None
                await board_for(change.tx, board_id, actor)
                await change.tx.upsert_watch(Watch(user_id=actor.user_id, board_id=board_id,
                                                   task_id=None, created_at=change.clock.now()))

        await self._recorder.run(actor.user_id, work)

    async def unwatch(self, actor: Actor, *, board_id: str | None = None,
                      task_id: str | None = None) -> None:
        async def work(change: Change) -> None:
            if task_id is not None:
                task, _ = await task_for(change.tx, task_id, actor)
                await change.tx.delete_watches(task.board_id, user_id=actor.user_id,
                                               task_id=task.id)
            else:
                assert board_id is not None
                await board_for(change.tx, board_id, actor)
                await change.tx.delete_board_watch(board_id, actor.user_id)

        await self._recorder.run(actor.user_id, work)

    async def watches(self, actor: Actor, *, board_id: str | None = None, limit: int = 50,
                      cursor: str | None = None) -> WatchPage:
        """What the caller watches (on one board, when named), oldest first."""
        if board_id is not None:
            await board_for(self._store, board_id, actor)
        after = decode_keys(cursor, "w", (str, str)) if cursor else None
        items = await self._store.select_watches_of_user(
            actor.user_id, board_id=board_id, limit=limit + 1,
            after=(after[0], after[1]) if after else None)
        last = items[limit - 1] if len(items) > limit else None
        next_cursor = encode_keys("w", [to_ts(last.created_at), watch_key(last)]) if last else None
        return WatchPage(items=items[:limit], next_cursor=next_cursor)

    async def purge(self, now: datetime) -> int:
        """Read notifications older than 90 days, unread ones older than 365 (housekeeping)."""
        return await self._store.transact(lambda tx: tx.purge_notifications(
            read_before=now - READ_KEPT, unread_before=now - UNREAD_KEPT))

