"""The storage contract of notifications and watches (services/notifications.py), on every
store: SQLite, and MongoDB (the emulator, or a real server) with `-m mongo`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from taskflow.domain import Notification, Watch
from taskflow.ids import new_id
from taskflow.timefmt import to_ts
from tests.storage.conftest import T0


async def tx(store: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    return await store.transact(lambda t: getattr(t, name)(*args, **kwargs))


def note(user_id: str, board_id: str = "b1", task_id: str = "t1", minutes: int = 0,
         **changes: Any) -> Notification:
    made = Notification(id=new_id(), user_id=user_id, type="mentioned", board_id=board_id,
                        task_id=task_id, actor_id="actor", actor_name="Actor",
                        summary="Title: text", created_at=T0 + timedelta(minutes=minutes))
    return replace(made, **changes)


def key(n: Notification) -> tuple[int, str, str]:
    return (0 if n.read_at is None else 1, to_ts(n.created_at), n.id)


async def test_notifications_unread_first_newest_first_with_keyset(store: Any) -> None:
    notes = [note("u", minutes=i) for i in range(6)]
    notes.append(replace(note("u", minutes=3), id="0" * 24))  # a tie on created_at
    await tx(store, "insert_notifications", notes)
    await tx(store, "insert_notifications", [note("other")])
    read = {notes[1].id, notes[4].id}
    assert await tx(store, "mark_notifications_read", "u", sorted(read), T0 + timedelta(hours=1)) == 2
    assert await tx(store, "mark_notifications_read", "u", sorted(read), T0) == 0  # already
    assert await store.count_unread_notifications("u") == 5
    everything = await store.select_notifications("u", unread_only=False, limit=50, after=None)
    assert [n.read_at is not None for n in everything] == [False] * 5 + [True] * 2
    assert [key(n) for n in everything] == sorted(
        [key(n) for n in everything], key=lambda k: (k[0], _desc(k[1]), _desc(k[2])))
    assert everything[0] == notes[5] and everything[-1].id == notes[1].id
    assert everything[-1].read_at == T0 + timedelta(hours=1)
    pages, after = [], None
    while True:
        page = await store.select_notifications("u", unread_only=False, limit=2, after=after)
        pages += page
        if len(page) < 2:
            break
        after = key(page[-1])
    assert [n.id for n in pages] == [n.id for n in everything]
    unread = await store.select_notifications("u", unread_only=True, limit=50, after=None)
    assert [n.id for n in unread] == [n.id for n in everything[:5]]
    assert await store.select_notification("u", notes[0].id) == notes[0]
    assert await store.select_notification("other", notes[0].id) is None
    assert await tx(store, "mark_notifications_read", "u", None, T0) == 5
    assert await store.count_unread_notifications("u") == 0
    assert await store.count_unread_notifications("other") == 1


def _desc(text: str) -> list[int]:
    return [-ord(c) for c in text]


async def test_delete_notifications_by_board_user_and_task(store: Any) -> None:
    keep = note("u", board_id="b2")
    await tx(store, "insert_notifications", [note("u"), note("u", task_id="t2"), note("v"), keep])
    await tx(store, "delete_notifications", "b1", task_id="t2")
    assert len(await store.select_notifications("u", unread_only=False, limit=9, after=None)) == 2
    await tx(store, "delete_notifications", "b1", user_id="u")
    assert [n.id for n in await store.select_notifications("u", unread_only=False, limit=9,
                                                           after=None)] == [keep.id]
    assert await store.count_unread_notifications("v") == 1
    await tx(store, "delete_notifications", "b1")
    assert await store.count_unread_notifications("v") == 0


async def test_a_notification_about_the_board_made_by_taskflow(store: Any) -> None:
    """`task_id` and `actor_id` None (a webhook disabled) read back as None; deleting a task's
    notifications leaves it, deleting the board's takes it."""
    about_board = note("u", type="webhook_disabled", task_id=None, actor_id=None, actor_name="")
    await tx(store, "insert_notifications", [about_board, note("u")])
    assert await store.select_notification("u", about_board.id) == about_board
    await tx(store, "delete_notifications", "b1", task_id="t1")
    assert [n.id for n in await store.select_notifications("u", unread_only=False, limit=9,
                                                           after=None)] == [about_board.id]
    await tx(store, "delete_notifications", "b1")
    assert await store.count_unread_notifications("u") == 0


async def test_purge_notifications_keeps_recent_and_unread_longer(store: Any) -> None:
    old_read = note("u", minutes=0, read_at=T0)
    old_unread = note("u", minutes=1)
    new_read = note("u", minutes=10, read_at=T0)
    await tx(store, "insert_notifications", [old_read, old_unread, new_read])
    purged = await tx(store, "purge_notifications", read_before=T0 + timedelta(minutes=5),
                      unread_before=T0)
    assert purged == 1
    left = await store.select_notifications("u", unread_only=False, limit=9, after=None)
    assert {n.id for n in left} == {old_unread.id, new_read.id}


async def test_watches(store: Any) -> None:
    board = Watch(user_id="u", board_id="b1", task_id=None, created_at=T0)
    task = Watch(user_id="u", board_id="b1", task_id="t1", created_at=T0 + timedelta(seconds=1))
    other = Watch(user_id="v", board_id="b1", task_id="t2", created_at=T0)
    for watch in (board, task, task, other):  # twice: idempotent
        await tx(store, "upsert_watch", watch)
    await tx(store, "upsert_watch", replace(task, created_at=T0 + timedelta(days=1)))
    assert sorted(await store.select_watchers("b1", "t1"), key=str) == sorted([board, task], key=str)
    assert sorted(await store.select_watchers("b1", "t2"), key=str) == sorted([board, other],
                                                                              key=str)
    assert await store.select_watchers("b1", None) == [board]
    assert await store.select_watchers("b9", "t1") == []
    mine = await store.select_watches_of_user("u", board_id=None, limit=9, after=None)
    assert mine == [board, task]
    first = await store.select_watches_of_user("u", board_id="b1", limit=1, after=None)
    assert first == [board]
    rest = await store.select_watches_of_user("u", board_id="b1", limit=9,
                                              after=(to_ts(board.created_at), "b1/"))
    assert rest == [task]
    await tx(store, "delete_board_watch", "b1", "u")
    assert await store.select_watchers("b1", None) == []
    await tx(store, "delete_watches", "b1", user_id="u", task_id="t1")
    assert await store.select_watchers("b1", "t1") == []
    await tx(store, "upsert_watch", task)
    await tx(store, "delete_watches", "b1", user_id="v")
    assert await store.select_watchers("b1", "t2") == []
    await tx(store, "delete_watches", "b1")
    assert await store.select_watches_of_user("u", board_id=None, limit=9, after=None) == []
