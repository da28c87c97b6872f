"""The storage contract of search_tasks (services/ports.py), on SQLite and MongoDB alike.

SQLite answers a search one of two ways (sqlite_search.search): through the FTS index, or,
for words in more than `search_walk_above` tasks, by walking tasks newest first. Every test
runs on both ways (`walk`): the walk with a threshold of 0.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from taskflow.domain import Comment, SearchQuery, Task
from taskflow.ids import new_id
from taskflow.services.search_query import parse
from taskflow.timefmt import to_ts
from tests.storage.conftest import T0, make_board, make_task, make_user, seed


@pytest.fixture(params=["index", "walk"])
async def store(stores: Any, request: pytest.FixtureRequest) -> Any:
    if request.param == "walk" and stores.kind != "sqlite":
        pytest.skip("the walk is SQLite's")
    opened = await stores.open()
    if request.param == "walk":
        opened.search_walk_above = 0
    return opened


def q(board_ids: Any, text: str = "", **fields: Any) -> SearchQuery:
    """A SearchQuery of the words of `text` (parsed as the service does) plus `fields`."""
    terms = parse(text).terms if text else ()
    return SearchQuery(board_ids=tuple(board_ids), terms=terms, **fields)


async def ids(store: Any, query: SearchQuery) -> list[str]:
    return [hit.task.id for hit in await store.search_tasks(query)]


async def add(store: Any, *tasks: Task) -> None:
    async def work(tx: Any) -> None:
        for task in tasks:
            await tx.insert_task(task)

    await store.transact(work)


def comment(task: Task, body: str) -> Comment:
    return Comment(id=new_id(), task_id=task.id, board_id=task.board_id,
                   author_id=task.created_by, body=body, created_at=T0)


async def test_words_match_title_description_and_comments_all_required(store: Any) -> None:
    _, board = await seed(store)
    a = make_task(board, 1, title="Deploy the billing service", description="")
    b = make_task(board, 2, title="Write notes", description="billing release notes")
    c = make_task(board, 3, title="Unrelated", description="")
    await add(store, a, b, c)
    note = comment(c, "the billing dashboard is slow")
    await store.transact(lambda tx: tx.insert_comment(note))

    hits = await store.search_tasks(q([board.id], "billing"))
    assert {hit.task.id: hit.matched_in for hit in hits} == {
        a.id: ("title",), b.id: ("description",), c.id: ("comments",)}
    # Newest change first.
    assert [hit.task.id for hit in hits] == [c.id, b.id, a.id]
    assert await ids(store, q([board.id], "billing notes")) == [b.id]
    assert await ids(store, q([board.id], "BILLING Dashboard")) == [c.id]
    assert await ids(store, q([board.id], "billing absent")) == []
    assert hits[2].task == a


async def test_phrases_are_adjacent_words(store: Any) -> None:
    _, board = await seed(store)
    a = make_task(board, 1, title="release notes for March")
    b = make_task(board, 2, title="notes about the release")
    await add(store, a, b)
    assert await ids(store, q([board.id], '"release notes"')) == [a.id]
    assert await ids(store, q([board.id], "release notes")) == [b.id, a.id]
    assert await ids(store, q([board.id], "release-notes")) == [a.id]
    assert await ids(store, q([board.id], "release_notes")) == [a.id]


async def test_comments_are_indexed_as_they_come_and_go(store: Any) -> None:
    _, board = await seed(store)
    task = make_task(board, 1, title="plain")
    await add(store, task)
    first, second = comment(task, "zebra crossing"), comment(task, "giraffe")
    await store.transact(lambda tx: tx.insert_comment(first))
    await store.transact(lambda tx: tx.insert_comment(second))
    assert await ids(store, q([board.id], "zebra giraffe")) == [task.id]
    await store.transact(lambda tx: tx.delete_comment(board.id, first.id))
    assert await ids(store, q([board.id], "zebra")) == []
    assert await ids(store, q([board.id], "giraffe")) == [task.id]


async def test_updates_and_deletes_keep_the_index_in_step(store: Any) -> None:
    _, board = await seed(store)
    task = make_task(board, 1, title="old words", description="first text")
    await add(store, task)
    moved = replace(task, title="new title", description="second text", version=2,
                    updated_at=T0 + timedelta(hours=1))
    await store.transact(lambda tx: tx.update_task(moved))
    assert await ids(store, q([board.id], "old")) == []
    assert await ids(store, q([board.id], "new second")) == [task.id]
    hit = (await store.search_tasks(q([board.id], "new")))[0]
    assert hit.task == moved
    # An update that leaves the text alone (a move) keeps it findable.
    again = replace(moved, position=99.0, version=3)
    await store.transact(lambda tx: tx.update_task(again))
    assert await ids(store, q([board.id], "second")) == [task.id]
    await store.transact(lambda tx: tx.delete_task(board.id, task.id))
    assert await ids(store, q([board.id], "second")) == []


async def test_deleting_a_board_drops_its_tasks_from_search(store: Any) -> None:
    (ada,), board = await seed(store)
    other = make_board(ada, name="Other")
    await store.transact(lambda tx: tx.insert_board(other))
    a, b = make_task(board, 1, title="shared word"), make_task(other, 2, title="shared word")
    await add(store, a, b)
    await store.transact(lambda tx: tx.delete_board(board.id, seq=0, at=T0))
    assert await ids(store, q([board.id, other.id], "shared")) == [b.id]


async def test_only_the_given_boards_are_searched(store: Any) -> None:
    (ada,), board = await seed(store)
    other = make_board(ada, name="Other")
    await store.transact(lambda tx: tx.insert_board(other))
    a, b = make_task(board, 1, title="secret plan"), make_task(other, 2, title="secret plan")
    await add(store, a, b)
    assert await ids(store, q([board.id], "secret")) == [a.id]
    assert await ids(store, q([], "secret")) == []
    assert await ids(store, q([board.id], status="todo")) == [a.id]


@pytest.mark.parametrize("text", ["%", "_", ".*", "a.*", '"', "\\", "(", "[x]", "{x}", "+", "?",
                                  "NEAR(a b)", "a OR b", "a*", "^a", "-a", "AND", "NOT"])
async def test_hostile_input_is_literal(store: Any, text: str) -> None:
    _, board = await seed(store)
    tasks = [make_task(board, 1, title="a b c"), make_task(board, 2, title="alpha beta"),
             make_task(board, 3, title="100% done now"), make_task(board, 4, title="AND NOT x")]
    await add(store, *tasks)
    parsed = parse(text)
    if not parsed.terms and not parsed.impossible:
        return  # no words at all: the service refuses it (422) before any store
    found = [] if parsed.impossible else await ids(store, q([board.id], text))
    expected = {
        "a.*": [tasks[0].id], "NEAR(a b)": [], "a OR b": [], "a*": [tasks[0].id],
        "^a": [tasks[0].id], "-a": [tasks[0].id], "AND": [tasks[3].id], "NOT": [tasks[3].id],
        "[x]": [tasks[3].id], "{x}": [tasks[3].id],
    }.get(text, [])
    assert found == expected


async def test_filters(store: Any) -> None:
    (ada, bob), board = await seed(store, users=2)
    now = T0
    tasks = [
        make_task(board, 1, title="one", status="done", tags=("x",)),
        make_task(board, 2, title="two", assignee_id=ada.id, tags=("x", "y")),
        make_task(board, 3, title="three", assignee_id=bob.id, due_date=now + timedelta(days=2)),
        make_task(board, 4, title="four", due_date=now - timedelta(days=1)),
        make_task(board, 5, title="five", status="done", due_date=now - timedelta(days=1)),
        make_task(board, 6, title="six", due_date=now + timedelta(days=30)),
    ]
    await add(store, *tasks)
    t = [task.id for task in tasks]
    b = [board.id]
    newest = list(reversed(t))  # filters only: newest updated_at first
    assert await ids(store, q(b, status="done")) == [t[4], t[0]]
    assert await ids(store, q(b, assignee_id=ada.id)) == [t[1]]
    assert await ids(store, q(b, unassigned=True)) == [x for x in newest if x not in (t[1], t[2])]
    assert await ids(store, q(b, tags=("x",))) == [t[1], t[0]]
    assert await ids(store, q(b, tags=("x", "y"))) == [t[1]]
    assert await ids(store, q(b, tags=("X",))) == []
    assert await ids(store, q(b, due_before=now + timedelta(days=7))) == [t[4], t[3], t[2]]
    assert await ids(store, q(b, due_before=now, not_done=True)) == [t[3]]
    assert await ids(store, q(b, due_after=now + timedelta(days=3))) == [t[5]]
    assert await ids(store, q(b, "two", tags=("x",), assignee_id=ada.id)) == [t[1]]
    assert await ids(store, q(b, "two", status="done")) == []


async def test_keyset_pages_cover_every_hit_once(store: Any) -> None:
    _, board = await seed(store)
    tasks = []
    for n in range(23):
        where = n % 3
        tasks.append(make_task(board, n, title="needle" if where == 0 else f"t{n}",
                               description="needle" if where == 1 else "",
                               updated_at=T0 + timedelta(seconds=n % 5)))
    await add(store, *tasks)
    for t in tasks[2::3]:
        note = comment(t, "needle in comments")
        await store.transact(lambda tx, note=note: tx.insert_comment(note))
    expected = [t.id for t in sorted(tasks, key=lambda t: (t.updated_at, t.id), reverse=True)]
    for query in (q([board.id], "needle"), q([board.id], status="todo")):
        full = await store.search_tasks(replace(query, limit=100))
        assert [h.task.id for h in full] == expected
        seen: list[str] = []
        after = None
        while True:
            page = await store.search_tasks(replace(query, limit=4, after=after))
            seen.extend(h.task.id for h in page)
            if len(page) < 4:
                break
            last = page[-1].task
            after = (to_ts(last.updated_at), last.id)
        assert seen == expected


async def test_diacritics_and_case(store: Any, stores: Any) -> None:
    _, board = await seed(store)
    task = make_task(board, 1, title="Crème Brûlée")
    await add(store, task)
    assert await ids(store, q([board.id], "crème")) == [task.id]
    assert await ids(store, q([board.id], "BRÛLÉE")) == [task.id]
    if stores.kind == "sqlite":  # MongoDB's regular expressions keep diacritics (README)
        assert await ids(store, q([board.id], "creme brulee")) == [task.id]


async def test_many_boards_and_users(store: Any) -> None:
    users = [make_user() for _ in range(3)]
    boards = [make_board(users[i % 3], name=f"B{i}") for i in range(6)]

    async def work(tx: Any) -> None:
        for user in users:
            await tx.insert_user(user)
        for board in boards:
            await tx.insert_board(board)
        for i, board in enumerate(boards):
            await tx.insert_task(make_task(board, i, title=f"common item{i}"))

    await store.transact(work)
    hits = await store.search_tasks(q([b.id for b in boards[:4]], "common"))
    assert sorted(h.task.board_id for h in hits) == sorted(b.id for b in boards[:4])


async def test_concurrent_comment_writers_leave_no_word_unindexed(stores: Any, store: Any) -> None:
    """20 writers comment on one task at once (each comment rewrites the task's indexed
    comment text): afterwards every one of the 20 words is found (0 missing of 20)."""
    stores.skip_on_emulator("concurrent-transactions")
    _, board = await seed(store)
    task = make_task(board, 1, title="busy")
    await add(store, task)
    words = [f"word{n}x" for n in range(20)]
    notes = [comment(task, f"note {word}") for word in words]
    await asyncio.gather(*(store.transact(lambda tx, note=note: tx.insert_comment(note))
                           for note in notes))
    missing = [w for w in words if await ids(store, q([board.id], w)) != [task.id]]
    assert missing == []
    await asyncio.gather(*(store.transact(lambda tx, note=note: tx.delete_comment(board.id, note.id))
                           for note in notes[:10]))
    left = [w for w in words if await ids(store, q([board.id], w)) == [task.id]]
    assert left == words[10:]


async def test_a_column_filter_keeps_the_tasks_of_those_columns(store: Any) -> None:
    """`column:"Review"`, resolved by the service to the caller's columns of that name."""
    _, board = await seed(store)
    todo, doing = board.columns[0].id, board.columns[1].id
    a = make_task(board, 1, title="release plan", column_id=todo)
    b = make_task(board, 2, title="release notes", status="in_progress", column_id=doing)
    await add(store, a, b)
    assert await ids(store, q([board.id], "release", column_ids=(doing,))) == [b.id]
    assert await ids(store, q([board.id], column_ids=(todo, doing))) == [b.id, a.id]
    assert await ids(store, q([board.id], "release", column_ids=(new_id(),))) == []
