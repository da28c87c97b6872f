"""The store contract of board imports under way (services/imports.py), on every store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from taskflow.errors import Conflict
from tests.storage.conftest import T0, make_board, make_user


async def test_imports_under_way_are_found_once_stale_and_forgotten_when_done(store: Any) -> None:
    owner = make_user()
    boards = [make_board(owner, members=()) for _ in range(3)]

    async def setup(tx: Any) -> None:
        await tx.insert_user(owner)
        for i, board in enumerate(boards):
            await tx.insert_board(board)
            await tx.insert_import(board.id, owner.id, T0 + timedelta(minutes=i))

    await store.transact(setup)
    # Only those started before the cutoff, oldest first, up to the limit.
    assert await store.select_stale_imports(T0 + timedelta(minutes=2), limit=10) == [
        boards[0].id, boards[1].id]
    assert await store.select_stale_imports(T0 + timedelta(hours=1), limit=1) == [boards[0].id]
    assert await store.select_stale_imports(T0, limit=10) == []
    # A board being imported has no member: no one lists it.
    assert await store.select_boards_of_user(owner.id) == []

    await store.transact(lambda tx: tx.delete_import(boards[0].id))
    assert await store.select_stale_imports(T0 + timedelta(hours=1), limit=10) == [
        boards[1].id, boards[2].id]


async def test_an_import_is_marked_once(store: Any) -> None:
    owner = make_user()
    board = make_board(owner, members=())

    async def setup(tx: Any) -> None:
        await tx.insert_user(owner)
        await tx.insert_board(board)
        await tx.insert_import(board.id, owner.id, T0)

    await store.transact(setup)
    try:
        await store.transact(lambda tx: tx.insert_import(board.id, owner.id, T0))
    except Conflict:
        pass
    else:
        raise AssertionError("a second mark of the same import was accepted")
    assert await store.select_stale_imports(T0 + timedelta(days=1), limit=10) == [board.id]
