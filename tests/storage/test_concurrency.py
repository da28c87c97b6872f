"""A board's `seq` stays gap-free and duplicate-free under many concurrent writers: on one
store, and on several store instances sharing one database (as several TaskFlow instances
do), with some writers failing after they took a number (their transaction rolls back, so
their number is reused, never skipped)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from taskflow.domain import Board, Event
from tests.storage.conftest import T0, Stores, seed

WRITERS, EVENTS_EACH = 20, 10


class Failed(Exception):
    pass


async def _writer(store: Any, board: Board, actor: str, name: str, *, fail_every: int = 0) -> list[int]:
    """EVENTS_EACH committed events, one transaction each; with `fail_every`, that many
    attempts in, one transaction appends and then raises (and must leave no trace)."""
    seqs: list[int] = []
    attempt = 0
    while len(seqs) < EVENTS_EACH:
        attempt += 1
        failing = fail_every > 0 and attempt % fail_every == 0

        async def work(tx: Any, failing: bool = failing) -> Event:
            event: Event = await tx.append_event(board.id, type="task:updated", actor_id=actor,
                                                 at=T0, data={"writer": name})
            if failing:
                raise Failed
            return event

        with contextlib.suppress(Failed):
            seqs.append((await store.transact(work)).seq)
    return seqs


async def _check(store: Any, board: Board, per_writer: list[list[int]]) -> None:
    total = sum(len(seqs) for seqs in per_writer)
    events = await store.select_events(board.id, since=0, limit=total + 10)
    assert [e.seq for e in events] == list(range(1, total + 1)), "gap or duplicate in seq"
    assert (await store.select_board(board.id)).seq == total
    assert sorted(s for seqs in per_writer for s in seqs) == list(range(1, total + 1))
    for seqs in per_writer:
        assert seqs == sorted(seqs), "one writer's events must be numbered in its own order"
    by_writer: dict[str, int] = {}
    for event in events:
        by_writer[event.data["writer"]] = by_writer.get(event.data["writer"], 0) + 1
    assert set(by_writer.values()) == {EVENTS_EACH}


async def test_seq_is_gap_free_with_concurrent_writers_on_one_store(stores: Stores) -> None:
    stores.skip_on_emulator("concurrent-transactions")
    store = await stores.open()
    (user,), board = await seed(store)
    per_writer = await asyncio.gather(*(
        _writer(store, board, user.id, f"w{n}", fail_every=3 if n % 4 == 0 else 0)
        for n in range(WRITERS)))
    await _check(store, board, per_writer)


async def test_seq_is_gap_free_across_store_instances(stores: Stores) -> None:
    stores.skip_on_emulator("concurrent-transactions")
    instances = [await stores.open() for _ in range(3)]
    (user,), board = await seed(instances[0])
    per_writer = await asyncio.gather(*(
        _writer(instances[n % 3], board, user.id, f"w{n}", fail_every=4 if n % 5 == 0 else 0)
        for n in range(WRITERS)))
    await _check(instances[1], board, per_writer)


async def test_without_transactions_seq_is_still_unique_and_gap_free_when_nothing_fails(
    stores: Stores,
) -> None:
    """What TASKFLOW_MONGODB_ALLOW_STANDALONE (emulators, tests) runs: each write on its own.
    The board's `$inc` alone still hands out unique numbers in order; only a write that
    fails half-way would leave a gap, which is why production needs transactions."""
    if stores.kind == "sqlite":
        pytest.skip("SQLite always runs writes in transactions")
    store = await stores.open(transactions=False)
    (user,), board = await seed(store)
    per_writer = await asyncio.gather(*(
        _writer(store, board, user.id, f"w{n}") for n in range(WRITERS)))
    await _check(store, board, per_writer)
