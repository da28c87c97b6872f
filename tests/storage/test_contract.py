"""The storage contract (services/ports.py), one suite for every store: SQLite and MongoDB."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskflow.domain import (
    PRIORITY_RANK,
    SORT_FIELDS,
    SORTS,
    Attachment,
    ChecklistItem,
    Column,
    Comment,
    Login,
    Member,
    RefreshToken,
    Stats,
    Task,
    TaskQuery,
    row_of_task,
    sort_values,
    task_of_row,
)
from taskflow.errors import Conflict
from taskflow.ids import new_id
from taskflow.services.events import EventService
from taskflow.services.views import task_row_view, task_view
from taskflow.timefmt import to_ts
from tests.storage.conftest import T0, Stores, make_board, make_task, make_user, seed


async def tx(store: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """One transaction calling one Transaction method."""
    return await store.transact(lambda t: getattr(t, name)(*args, **kwargs))


# --- users -----------------------------------------------------------------------------------
async def test_user_round_trip_and_case_insensitive_lookup(store: Any) -> None:
    user = make_user(email="Ada.Lovelace@Example.COM")
    await tx(store, "insert_user", user)
    assert await store.select_user(user.id) == user
    assert await store.select_user_by_email("ada.lovelace@example.com") == user
    assert await store.select_user_by_email("ADA.LOVELACE@EXAMPLE.COM") == user
    assert await store.select_user(new_id()) is None
    assert await store.select_user_by_email("nobody@example.com") is None
    found = await store.select_user(user.id)
    assert found.created_at.tzinfo is not None and found.created_at.utcoffset() == timedelta(0)
    assert isinstance(found.id, str)


@pytest.mark.parametrize(("first", "second"), [
    ("ada@example.com", "ADA@example.com"),
    ("Ada@Example.com", "aDA@eXAMPLE.COM"),
    ("strasse@example.com", "STRASSE@example.com"),
    ("straße@example.com", "STRASSE@example.com"),  # casefold: ß is ss
])
async def test_email_is_unique_case_insensitively(store: Any, first: str, second: str) -> None:
    await tx(store, "insert_user", make_user(email=first))
    with pytest.raises(Conflict):
        await tx(store, "insert_user", make_user(email=second))


async def test_update_user_and_email_conflict(store: Any) -> None:
    ada, bob = make_user(email="ada@example.com"), make_user(email="bob@example.com")
    for user in (ada, bob):
        await tx(store, "insert_user", user)
    changed = replace(ada, email="ADA@Example.com", name="Ada L.", password_hash="$2b$new",
                      credentials_version=2)
    await tx(store, "update_user", changed)
    assert await store.select_user(ada.id) == changed
    with pytest.raises(Conflict):
        await tx(store, "update_user", replace(bob, email="ada@EXAMPLE.com"))
    assert await store.select_user(bob.id) == bob


# --- boards and members ----------------------------------------------------------------------
async def test_boards_and_members(store: Any) -> None:
    (ada, bob, cy), board = await seed(store, users=3)
    found = await store.select_board(board.id)
    # Members in the order they were added; those added together by user id.
    assert found == replace(board, members=tuple(sorted(board.members, key=lambda m: m.user_id)))
    assert found.role_of(bob.id) == "editor"
    assert found.role_of(ada.id) == "owner"

    await tx(store, "update_member", board.id, bob.id, "viewer")
    await tx(store, "delete_member", board.id, cy.id)
    found = await store.select_board(board.id)
    assert sorted((m.user_id, m.role) for m in found.members) == sorted(
        [(ada.id, "owner"), (bob.id, "viewer")])
    assert Member(user_id=ada.id, name=ada.name, email=ada.email, role="owner") in found.members

    with pytest.raises(Conflict):
        await tx(store, "insert_member", board.id,
                 Member(user_id=bob.id, name=bob.name, email=bob.email, role="editor"),
                 added_at=T0)
    await tx(store, "insert_member", board.id,
             Member(user_id=cy.id, name=cy.name, email=cy.email, role="viewer"),
             added_at=T0 + timedelta(hours=1))
    assert [m.user_id for m in (await store.select_board(board.id)).members] == [
        *sorted([ada.id, bob.id]), cy.id]

    later = T0 + timedelta(days=1)
    await store.transact(lambda t: t.update_board(board.id, name="Renamed", description="d",
                                                  updated_at=later))
    found = await store.select_board(board.id)
    assert (found.name, found.description, found.updated_at, found.created_at) == (
        "Renamed", "d", later, T0)
    assert await store.select_board(new_id()) is None


async def test_boards_of_a_user_in_creation_order(store: Any) -> None:
    (ada,), first = await seed(store)
    bob = make_user()
    await tx(store, "insert_user", bob)
    second = make_board(bob, created_at=T0 - timedelta(days=1))
    third = make_board(ada, created_at=T0 + timedelta(days=1))
    for board in (second, third):
        await tx(store, "insert_board", board)
    await tx(store, "insert_member", second.id,
             Member(user_id=ada.id, name=ada.name, email=ada.email, role="viewer"), added_at=T0)

    boards = await store.select_boards_of_user(ada.id)
    assert [b.id for b in boards] == [second.id, first.id, third.id]
    assert [m.user_id for m in boards[0].members] == [bob.id, ada.id]
    assert await store.select_boards_of_user(new_id()) == []

    await tx(store, "append_event", third.id, type="board:updated", actor_id=ada.id, at=T0, data={})
    assert await store.select_board_seqs_of_user(ada.id) == sorted(
        [(second.id, 0), (first.id, 0), (third.id, 1)])
    assert await store.select_board_seqs([third.id, first.id, new_id()]) == {third.id: 1, first.id: 0}
    assert await store.select_board_seqs([]) == {}


async def test_delete_board_deletes_everything_of_it(store: Any) -> None:
    (ada,), board = await seed(store)
    (_,), other = await seed(store)
    keep = make_task(other)
    task = make_task(board)
    comment = Comment(id=new_id(), task_id=task.id, board_id=board.id, author_id=ada.id,
                      body="hi", created_at=T0)
    attachment = make_attachment(task)

    async def fill(t: Any) -> None:
        for item in (task, keep):
            await t.insert_task(item)
        await t.insert_comment(comment)
        await t.insert_attachment(attachment)
        await t.append_event(board.id, type="task:created", actor_id=ada.id, at=T0, data={})

    await store.transact(fill)
    await tx(store, "delete_board", board.id, seq=1, at=T0)
    assert await store.select_board(board.id) is None
    assert await store.select_task(task.id) is None
    assert await store.select_comment(board.id, comment.id) is None
    assert await store.select_attachment(board.id, attachment.id) is None
    assert await store.select_boards_of_user(ada.id) == []
    assert await store.select_task(keep.id) == keep
    # The log outlives the board (a tombstone keeps its last seq) until it is purged.
    assert [e.seq for e in await store.select_events(board.id, since=0, limit=10)] == [1]
    assert await store.select_board_seqs([board.id, other.id]) == {board.id: 1, other.id: 0}
    assert await tx(store, "purge_deleted_boards", T0) == 0
    assert await tx(store, "purge_deleted_boards", T0 + timedelta(seconds=1)) == 1
    assert await store.select_events(board.id, since=0, limit=10) == []
    assert await store.select_oldest_event_seq(board.id) is None
    assert await store.select_board_seqs([board.id]) == {}


# --- tasks -----------------------------------------------------------------------------------
async def test_task_crud(store: Any) -> None:
    (ada,), board = await seed(store)
    task = make_task(board, tags=("a", "b"), due_date=T0 + timedelta(days=2), assignee_id=ada.id)
    await tx(store, "insert_task", task)
    assert await store.select_task(task.id) == task

    changed = replace(task, title="new", description="more", status="done", priority="urgent",
                      due_date=None, assignee_id=None, tags=("c",), position=2.5,
                      updated_at=T0 + timedelta(minutes=1), completed_at=T0 + timedelta(minutes=1),
                      version=2)
    await tx(store, "update_task", changed)
    assert await store.select_task(task.id) == changed

    listed = replace(changed, version=3, checklist=(
        ChecklistItem(id="i1", text="first", done=True, position=1.0),
        ChecklistItem(id="i2", text="zweite ✓", done=False, position=2.5)))
    await tx(store, "update_task", listed)
    assert await store.select_task(task.id) == listed
    (row,) = await store.select_task_rows(TaskQuery(board_ids=(board.id,)))
    assert row["checklist"] == [{"id": "i1", "text": "first", "done": True, "position": 1.0},
                                {"id": "i2", "text": "zweite ✓", "done": False, "position": 2.5}]

    comment = Comment(id=new_id(), task_id=task.id, board_id=board.id, author_id=ada.id, body="x",
                      created_at=T0)
    await tx(store, "insert_comment", comment)
    await tx(store, "delete_task", board.id, task.id)
    assert await store.select_task(task.id) is None
    assert await store.select_comment(board.id, comment.id) is None
    assert await store.select_task(new_id()) is None


async def test_select_column_orders_by_position(store: Any) -> None:
    (_,), board = await seed(store)
    tasks = [make_task(board, n, position=p) for n, p in enumerate([3.0, 1.0, 2.0, 1.0])]
    tasks.append(make_task(board, 9, status="done", position=0.0))

    async def fill(t: Any) -> None:
        for task in tasks:
            await t.insert_task(task)

    await store.transact(fill)
    todo, doing = board.columns[0].id, board.columns[1].id
    column = await store.select_column(board.id, todo)
    assert column == sorted(tasks[:4], key=lambda t: (t.position, t.id))
    assert await store.select_column(board.id, doing) == []
    # The column's end, and each task's neighbours, agree with the whole column.
    assert await store.select_column_end(board.id, todo) == 3.0
    assert await store.select_column_end(board.id, doing) is None
    for index, task in enumerate(column):
        before = column[index - 1] if index > 0 else None
        after = column[index + 1] if index + 1 < len(column) else None
        assert await store.select_neighbours(task) == (before, after)


async def test_board_columns_round_trip_and_tasks_by_column(store: Any) -> None:
    (_,), board = await seed(store)
    assert (await store.select_board(board.id)).columns == board.columns
    review = Column(id=new_id(), name="Review", category="in_progress", wip_limit=3)
    columns = (board.columns[0], review, *board.columns[1:])
    later = T0 + timedelta(hours=1)
    await store.transact(lambda t: t.update_board_columns(board.id, columns, updated_at=later))
    found = await store.select_board(board.id)
    assert found.columns == columns and found.updated_at == later
    assert [b.columns for b in await store.select_boards_of_user(board.owner_id)] == [columns]
    # A column's tasks are found by column id, not by status: two in_progress columns.
    first = make_task(board, 1, status="in_progress")
    second = make_task(board, 2, status="in_progress", column_id=review.id)

    async def fill(t: Any) -> None:
        await t.insert_task(first)
        await t.insert_task(second)

    await store.transact(fill)
    assert await store.select_column(board.id, review.id) == [second]
    assert await store.select_column(board.id, board.columns[1].id) == [first]
    assert await store.select_neighbours(second) == (None, None)
    moved = replace(first, column_id=review.id, position=5.0, version=2)
    await tx(store, "update_task", moved)
    assert await store.select_task(first.id) == moved
    assert await store.select_column(board.id, review.id) == [second, moved]
    query = TaskQuery(board_ids=(board.id,), column_id=review.id, sort="position")
    assert await store.select_tasks(query) == [second, moved]
    assert [row["column_id"] for row in await store.select_task_rows(query)] == [review.id] * 2


async def _listing(store: Any) -> tuple[Any, Any, list[Task]]:
    """Two boards of varied tasks: ties in every sort key, missing due dates, two assignees."""
    (ada, bob), board = await seed(store, users=2)
    other = make_board(ada)
    await tx(store, "insert_board", other)
    statuses, priorities = ("todo", "in_progress", "done"), ("low", "medium", "high", "urgent")
    tasks = []
    for n in range(14):
        tasks.append(make_task(
            board if n % 4 else other, n,
            status=statuses[n % 3], priority=priorities[n % 4],
            assignee_id=(ada.id, bob.id, None)[n % 3],
            created_at=T0 + timedelta(seconds=n // 3),  # ties of three
            updated_at=T0 + timedelta(seconds=(n * 7) % 5),
            due_date=None if n % 3 == 0 else T0 + timedelta(days=n % 4),
            position=float(n % 5),
            checklist=tuple(ChecklistItem(id=f"i{k}", text=f"step {k}", done=k % 2 == 0,
                                          position=float(k)) for k in range(n % 3)),
        ))

    async def fill(t: Any) -> None:
        for task in tasks:
            await t.insert_task(task)

    await store.transact(fill)
    return (ada, bob), (board, other), tasks


def _expected(tasks: list[Task], sort: str) -> list[Task]:
    """The order of `sort` computed here: fields in order, `due_missing` always ascending."""
    descending = sort.startswith("-")
    names = [*SORT_FIELDS[sort.lstrip("-")], "id"]

    def compare(a: Task, b: Task) -> int:
        for name, x, y in zip(names, sort_values(a, sort), sort_values(b, sort), strict=True):
            if x != y:
                result = -1 if x < y else 1
                return -result if descending and name != "due_missing" else result
        return 0

    return sorted(tasks, key=functools.cmp_to_key(compare))


@pytest.mark.parametrize("sort", [*SORTS, "-position"])
async def test_every_sort_both_ways_and_keyset_pages(store: Any, sort: str) -> None:
    _, (board, other), tasks = await _listing(store)
    query = TaskQuery(board_ids=(board.id, other.id), sort=sort, limit=100)
    full = await store.select_tasks(query)
    assert [t.id for t in full] == [t.id for t in _expected(tasks, sort)]
    if "due_date" in sort:
        assert all(t.due_date is None for t in full[-5:]), "missing due dates sort last"

    pages, after = [], None
    while True:
        page = await store.select_tasks(replace(query, limit=4, after=after))
        pages.extend(page)
        if len(page) < 4:
            break
        after = sort_values(page[-1], sort)
    assert [t.id for t in pages] == [t.id for t in full]
    # rows (what listings read) are the same tasks, in the same order
    rows = await store.select_task_rows(query)
    assert rows == [row_of_task(t) for t in full]
    assert [task_of_row(row) for row in rows] == full
    assert [task_row_view(row) for row in rows] == [task_view(t) for t in full]


async def test_each_filter(store: Any) -> None:
    (ada, bob), (board, other), tasks = await _listing(store)
    both = (board.id, other.id)

    async def ids(**filters: Any) -> set[str]:
        return {t.id for t in await store.select_tasks(TaskQuery(board_ids=both, limit=100, **filters))}

    assert await ids() == {t.id for t in tasks}
    assert {t.id for t in await store.select_tasks(TaskQuery(board_ids=(other.id,), limit=100))} == {
        t.id for t in tasks if t.board_id == other.id}
    assert await store.select_tasks(TaskQuery(board_ids=(), limit=100)) == []
    assert await ids(status="done") == {t.id for t in tasks if t.status == "done"}
    assert await ids(assignee_id=bob.id) == {t.id for t in tasks if t.assignee_id == bob.id}
    assert await ids(priority="urgent") == {t.id for t in tasks if t.priority == "urgent"}
    cutoff = T0 + timedelta(days=2)
    assert await ids(due_before=cutoff) == {t.id for t in tasks if t.due_date and t.due_date < cutoff}
    assert await ids(status="todo", assignee_id=ada.id, priority="low") == {
        t.id for t in tasks if (t.status, t.assignee_id, t.priority) == ("todo", ada.id, "low")}
    assert len(await store.select_tasks(TaskQuery(board_ids=both, limit=3))) == 3


TRICKY = ["50% off", "snake_case_name", "a.*b", r"back\slash", "(paren)[bracket]{brace}",
          "plus+question?", "caret^dollar$", "pipe|bar", "UPPER lower", "percent%_under"]


@pytest.mark.parametrize("text", ["%", "_", ".*", "\\", "(", "[bracket]", "{brace}", "+", "?",
                                  "^", "$", "|", "upper LOWER", "OFF", "e.n", "%_", "a.*b", ".",
                                  r"\s"])
async def test_text_search_is_literal_and_case_insensitive(store: Any, text: str) -> None:
    (_,), board = await seed(store)
    tasks = [make_task(board, n, title=title) for n, title in enumerate(TRICKY)]
    tasks.append(make_task(board, 50, title="plain", description="described " + TRICKY[0]))
    tasks.append(make_task(board, 51, title="nothing special"))

    async def fill(t: Any) -> None:
        for task in tasks:
            await t.insert_task(task)

    await store.transact(fill)
    found = await store.select_tasks(TaskQuery(board_ids=(board.id,), text=text, limit=100))
    needle = text.lower()
    assert {t.id for t in found} == {
        t.id for t in tasks if needle in t.title.lower() or needle in t.description.lower()}


# --- stats -----------------------------------------------------------------------------------
async def test_stats(store: Any) -> None:
    (_,), board = await seed(store)
    (_,), other = await seed(store)
    now = T0 + timedelta(days=10)
    specs = [  # status, due (relative to now), completed (relative to now)
        ("todo", timedelta(hours=-1), None),       # overdue
        ("in_progress", timedelta(hours=-50), None),  # overdue
        ("todo", timedelta(hours=47), None),       # due soon
        ("todo", timedelta(hours=49), None),       # neither
        ("todo", None, None),                      # no due date: neither
        ("done", timedelta(hours=-5), timedelta(days=-1)),  # done: not overdue; completed recently
        ("done", None, timedelta(days=-8)),        # completed long ago
        ("done", timedelta(hours=1), timedelta(days=-6)),   # done, not due soon; completed recently
    ]
    tasks = [make_task(board, n, status=status, due_date=now + due if due is not None else None,
                       completed_at=now + done if done is not None else None)
             for n, (status, due, done) in enumerate(specs)]
    tasks.append(make_task(other, 99, status="todo", due_date=now - timedelta(days=1)))

    async def fill(t: Any) -> None:
        for task in tasks:
            await t.insert_task(task)

    await store.transact(fill)
    todo, doing, done = (c.id for c in board.columns)
    assert await store.compute_stats([board.id], now) == Stats(
        total=8, by_status={"todo": 4, "in_progress": 1, "done": 3}, overdue=2, due_soon=1,
        completed_last_7_days=2, by_column={todo: 4, doing: 1, done: 3})
    both = await store.compute_stats([board.id, other.id], now)
    assert (both.total, both.overdue, both.by_status["todo"]) == (9, 3, 5)
    assert both.by_column[other.columns[0].id] == 1 and len(both.by_column) == 4
    empty = Stats(0, {"todo": 0, "in_progress": 0, "done": 0}, 0, 0, 0, {})
    assert await store.compute_stats([], now) == empty
    assert await store.compute_stats([new_id()], now) == empty


# --- comments and attachments ----------------------------------------------------------------
async def test_comments_page_by_time_then_id(store: Any) -> None:
    (ada,), board = await seed(store)
    task, other = make_task(board), make_task(board, 1)
    comments = [Comment(id=new_id(), task_id=task.id, board_id=board.id, author_id=ada.id,
                        body=f"c{n}", created_at=T0 + timedelta(seconds=n // 2)) for n in range(7)]

    async def fill(t: Any) -> None:
        for item in (task, other):
            await t.insert_task(item)
        for comment in comments:
            await t.insert_comment(comment)

    await store.transact(fill)
    ordered = sorted(comments, key=lambda c: (c.created_at, c.id))
    assert await store.select_comments(board.id, task.id, limit=100, after=None) == ordered
    assert await store.select_comments(board.id, other.id, limit=100, after=None) == []
    pages: list[Comment] = []
    after: tuple[str, str] | None = None
    while page := await store.select_comments(board.id, task.id, limit=3, after=after):
        pages.extend(page)
        last = page[-1]
        after = (to_ts(last.created_at), last.id)
    assert pages == ordered
    assert await store.select_comment(board.id, comments[0].id) == comments[0]
    await tx(store, "delete_comment", board.id, comments[0].id)
    assert await store.select_comment(board.id, comments[0].id) is None


def make_attachment(task: Task, **overrides: Any) -> Attachment:
    fields: dict[str, Any] = {
        "id": new_id(), "task_id": task.id, "board_id": task.board_id, "filename": "a.txt",
        "content_type": "text/plain", "size": 3, "created_by": task.created_by, "created_at": T0,
        "storage_key": f"k/{new_id()}", "pending": False}
    return Attachment(**{**fields, **overrides})


async def test_attachments(store: Any) -> None:
    (_,), board = await seed(store)
    task = make_task(board)
    later = make_attachment(task, created_at=T0 + timedelta(seconds=2))
    pending = make_attachment(task, pending=True, size=0, created_at=T0 - timedelta(hours=2))
    first = make_attachment(task)

    async def fill(t: Any) -> None:
        await t.insert_task(task)
        for item in (later, pending, first):
            await t.insert_attachment(item)

    await store.transact(fill)
    assert await store.select_attachment(board.id, first.id) == first
    assert await store.select_attachments(board.id, task.id) == [pending, first, later]
    assert {a.id for a in await store.select_attachments_of_board(board.id)} == {
        first.id, later.id, pending.id}
    assert await store.select_stale_pending_attachments(T0 - timedelta(hours=1)) == [pending]
    assert await store.select_stale_pending_attachments(T0 - timedelta(hours=3)) == []
    await store.transact(lambda t: t.confirm_attachment(board.id, pending.id, size=10, at=T0))
    assert await store.select_attachment(board.id, pending.id) == replace(pending, pending=False, size=10,
                                                                created_at=T0)
    await tx(store, "delete_attachment", board.id, first.id)
    assert await store.select_attachment(board.id, first.id) is None
    await tx(store, "delete_task", board.id, task.id)
    assert await store.select_attachments(board.id, task.id) == []


# --- events ----------------------------------------------------------------------------------
async def test_events_append_select_oldest(store: Any) -> None:
    (ada,), board = await seed(store)
    appended = []
    for n in range(5):
        appended.append(await tx(store, "append_event", board.id, type="task:updated",
                                 actor_id=ada.id, at=T0 + timedelta(seconds=n),
                                 data={"n": n, "nested": {"list": [1, "two", None]}}))
    assert [e.seq for e in appended] == [1, 2, 3, 4, 5]
    assert await store.select_events(board.id, since=0, limit=100) == appended
    assert await store.select_events(board.id, since=2, limit=2) == appended[2:4]
    assert await store.select_events(board.id, since=5, limit=10) == []
    assert await store.select_oldest_event_seq(board.id) == 1
    assert (await store.select_board(board.id)).seq == 5

    assert (await tx(store, "append_event", board.id, type="x", actor_id=ada.id, at=T0,
                     data={})).seq == 6
    assert [e.seq for e in await store.select_events(board.id, since=4, limit=10)] == [5, 6]
    with pytest.raises(LookupError):
        await tx(store, "append_event", new_id(), type="x", actor_id=ada.id, at=T0, data={})
    assert await store.select_oldest_event_seq(new_id()) is None


async def test_event_time_round_trips_to_the_millisecond(store: Any) -> None:
    (ada,), board = await seed(store)
    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    event = await tx(store, "append_event", board.id, type="x", actor_id=ada.id, at=at, data={})
    (stored,) = await store.select_events(board.id, since=0, limit=1)
    assert stored.at.tzinfo is not None and stored.at.utcoffset() == timedelta(0)
    assert stored.at.isoformat(timespec="milliseconds") == "2026-03-01T12:00:00.123+00:00"
    assert event.at.isoformat(timespec="milliseconds") == stored.at.isoformat(timespec="milliseconds")


async def test_retention_keeps_the_newest_events_and_the_recent_ones(stores: Stores) -> None:
    store = await stores.open(events_kept=10)
    assert (await stores.open()).events_kept == 10_000  # the default
    (ada,), board = await seed(store)
    for n in range(35):  # an hour apart: the first 20 are older than T0 + 20h
        await tx(store, "append_event", board.id, type="x", actor_id=ada.id,
                 at=T0 + timedelta(hours=n), data={"n": n})
    # Appending prunes nothing: the periodic prune does.
    assert await store.select_oldest_event_seq(board.id) == 1
    assert await tx(store, "prune_events", board.id, before=T0) == 0
    # Older than the cut and outside the newest 10: seq 1..20 go; 21..35 stay.
    assert await tx(store, "prune_events", board.id, before=T0 + timedelta(hours=20)) == 20
    assert await store.select_oldest_event_seq(board.id) == 21
    # However old, the newest 10 stay.
    assert await tx(store, "prune_events", board.id, before=T0 + timedelta(days=30)) == 5
    kept = await store.select_events(board.id, since=0, limit=100)
    assert [e.seq for e in kept] == list(range(26, 36))
    assert await tx(store, "prune_events", new_id(), before=T0 + timedelta(days=30)) == 0


async def test_the_periodic_prune_goes_over_every_live_board(stores: Stores) -> None:
    store = await stores.open(events_kept=2)
    (ada,), first = await seed(store)
    boards = [first]
    for n in range(3):
        board = make_board(ada, name=f"b{n}")
        await tx(store, "insert_board", board)
        boards.append(board)
    for board in boards:
        for n in range(5):
            await tx(store, "append_event", board.id, type="x", actor_id=ada.id,
                     at=T0 + timedelta(hours=n), data={})
    # Deleted boards are left to purge_deleted_boards.
    await tx(store, "delete_board", boards[3].id, seq=5, at=T0)
    pruned = await EventService(store=store).prune(T0 + timedelta(days=1))
    assert pruned == 3 * 3
    for board in boards[:3]:
        assert await store.select_oldest_event_seq(board.id) == 4
    assert await store.select_oldest_event_seq(boards[3].id) == 1


async def test_events_are_found_by_their_task(store: Any) -> None:
    (ada,), board = await seed(store)
    task, other = make_task(board, 1), make_task(board, 2)
    for type, data in [("task:created", {"id": task.id}), ("task:created", {"id": other.id}),
                       ("comment:created", {"id": "c1", "task_id": task.id, "body": "hi"}),
                       ("board:updated", {"id": board.id}),
                       ("task:updated", {"id": task.id}),
                       ("attachment:added", {"id": "a1", "task_id": task.id}),
                       ("comment:deleted", {"id": "c1", "task_id": other.id}),
                       ("attachment:deleted", {"id": "a1", "task_id": task.id}),
                       ("task:deleted", {"id": task.id})]:
        await tx(store, "append_event", board.id, type=type, actor_id=ada.id, at=T0, data=data)
    mine = await store.select_task_events(board.id, task.id, before=None, limit=100)
    assert [e.seq for e in mine] == [9, 8, 6, 5, 3, 1]
    assert mine[0].type == "task:deleted" and mine[-1].data == {"id": task.id}
    assert [e.seq for e in await store.select_task_events(board.id, task.id, before=6,
                                                          limit=2)] == [5, 3]
    assert [e.seq for e in await store.select_task_events(board.id, other.id, before=None,
                                                          limit=100)] == [7, 2]
    assert await store.select_task_events(board.id, new_id(), before=None, limit=10) == []


async def test_board_ids_page_in_order(store: Any) -> None:
    (ada,), first = await seed(store)
    boards = [first]
    for n in range(4):
        board = make_board(ada, name=f"b{n}")
        await tx(store, "insert_board", board)
        boards.append(board)
    ids = sorted(b.id for b in boards)
    assert await store.select_board_ids(after=None, limit=3) == ids[:3]
    assert await store.select_board_ids(after=ids[2], limit=3) == ids[3:]
    assert await store.select_board_ids(after=ids[-1], limit=3) == []


# --- logins and refresh tokens ---------------------------------------------------------------
async def test_logins_and_revocation(store: Any) -> None:
    (ada,), _ = await seed(store)
    logins = [Login(id=new_id(), user_id=ada.id, created_at=T0, revoked_at=None,
                    credentials_version=1) for _ in range(3)]
    for login in logins:
        await tx(store, "insert_login", login)
    assert await store.select_login(logins[0].id) == logins[0]
    at = T0 + timedelta(minutes=5)
    await tx(store, "revoke_login", logins[0].id, at)
    unknown = new_id()
    live = await store.select_live_logins([login.id for login in logins] + [unknown])
    assert sorted(live) == sorted(login.id for login in logins[1:])
    await tx(store, "revoke_login", logins[0].id, at + timedelta(minutes=1))  # keeps the first time
    assert (await store.select_login(logins[0].id)).revoked_at == at
    revoked = await tx(store, "revoke_logins_of_user", ada.id, at)
    assert sorted(revoked) == sorted(login.id for login in logins[1:])
    assert await tx(store, "revoke_logins_of_user", ada.id, at) == []
    assert await store.select_login(new_id()) is None


async def test_refresh_token_is_spent_once(store: Any) -> None:
    (ada,), _ = await seed(store)
    login = Login(id=new_id(), user_id=ada.id, created_at=T0, revoked_at=None, credentials_version=1)
    token = RefreshToken(token_hash="h" * 64, login_id=login.id, user_id=ada.id,
                         expires_at=T0 + timedelta(days=30), used_at=None)
    await tx(store, "insert_login", login)
    await tx(store, "insert_refresh_token", token)
    assert await store.select_refresh_token(token.token_hash) == token
    at = T0 + timedelta(minutes=1)
    assert await tx(store, "spend_refresh_token", token.token_hash, at) is True
    assert await tx(store, "spend_refresh_token", token.token_hash, at) is False
    assert (await store.select_refresh_token(token.token_hash)).used_at == at
    assert await tx(store, "spend_refresh_token", "unknown", at) is False
    assert await store.select_refresh_token("unknown") is None


# --- transactions ----------------------------------------------------------------------------
class Boom(Exception):
    pass


async def test_an_exception_rolls_everything_back(store: Any) -> None:
    (ada,), board = await seed(store)
    newcomer, task = make_user(), make_task(board)

    async def work(t: Any) -> None:
        await t.insert_user(newcomer)
        await t.insert_task(task)
        await t.update_board(board.id, name="changed", description="", updated_at=T0)
        event = await t.append_event(board.id, type="task:created", actor_id=ada.id, at=T0, data={})
        assert event.seq == 1
        assert await t.select_task(task.id) == task  # a transaction reads its own writes
        raise Boom

    with pytest.raises(Boom):
        await store.transact(work)
    assert await store.select_user(newcomer.id) is None
    assert await store.select_task(task.id) is None
    assert (await store.select_board(board.id)).name == board.name
    assert (await store.select_board(board.id)).seq == 0
    assert await store.select_events(board.id, since=0, limit=10) == []
    # and the next event takes the seq the rolled-back one had
    assert (await tx(store, "append_event", board.id, type="x", actor_id=ada.id, at=T0,
                     data={})).seq == 1


async def test_a_conflict_rolls_back_the_whole_transaction(store: Any) -> None:
    (ada,), board = await seed(store)
    task = make_task(board)

    async def work(t: Any) -> None:
        await t.insert_task(task)
        await t.insert_user(make_user(email=ada.email.upper()))

    with pytest.raises(Conflict):
        await store.transact(work)
    assert await store.select_task(task.id) is None


async def test_transact_returns_what_work_returned(store: Any) -> None:
    (_,), board = await seed(store)

    async def work(t: Any) -> tuple[str, int]:
        return "done", (await t.select_board(board.id)).seq

    assert await store.transact(work) == ("done", 0)


async def test_uncommitted_writes_are_invisible_outside(stores: Stores) -> None:
    stores.skip_on_emulator("isolation")
    store = await stores.open()
    (_,), board = await seed(store)
    task = make_task(board)
    seen: list[Any] = []

    async def work(t: Any) -> None:
        await t.insert_task(task)
        seen.append(await store.select_task(task.id))

    await store.transact(work)
    assert seen == [None]
    assert await store.select_task(task.id) == task


async def test_priority_rank_is_stored_for_sorting(store: Any) -> None:
    (_,), board = await seed(store)
    tasks = [make_task(board, n, priority=p) for n, p in enumerate(PRIORITY_RANK)]
    for task in tasks:
        await tx(store, "insert_task", task)
    listed = await store.select_tasks(TaskQuery(board_ids=(board.id,), sort="-priority", limit=10))
    assert [t.priority for t in listed] == ["urgent", "high", "medium", "low"]


async def test_a_failing_write_fails_its_transaction_and_rolls_it_back(store: Any) -> None:
    """A write may reach the store with a later call (SQLite sends an insert with the next
    statement or the commit): its failure still fails the transaction, and nothing stays."""
    (ada,), board = await seed(store)
    task = make_task(board)
    await tx(store, "insert_task", task)
    again = make_task(board, id=task.id, title="same id")

    async def work(t: Any) -> None:
        await t.append_event(board.id, type="task:created", actor_id=ada.id, at=T0, data={})
        await t.insert_task(again)  # the same id: refused by the store, here or at commit

    with pytest.raises(Exception):  # noqa: B017, PT011 - each store raises its own error
        await store.transact(work)
    assert (await store.select_task(task.id)).title == task.title
    assert await store.select_events(board.id, since=0, limit=10) == []


async def test_a_board_read_in_a_transaction_sees_its_earlier_writes(store: Any) -> None:
    (ada,), board = await seed(store)
    task = make_task(board)
    await tx(store, "insert_task", task)

    async def work(t: Any) -> tuple[int, str]:
        await t.select_task(task.id)
        await t.update_board(board.id, name="renamed", description="", updated_at=T0)
        await t.append_event(board.id, type="board:updated", actor_id=ada.id, at=T0, data={})
        seen = await t.select_board(board.id)
        return seen.seq, seen.name

    assert await store.transact(work) == (1, "renamed")
