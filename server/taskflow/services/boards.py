"""Boards and their members."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from taskflow.domain import Board, Member, Page, Role, TaskQuery, default_columns
from taskflow.errors import Conflict, NotFound, UserNotFound, field_error
from taskflow.ids import new_id
from taskflow.services.access import Actor, active_user, board_for
from taskflow.services.attachments import blob_keys_of_board, discard_blobs
from taskflow.services.changes import Change, Recorder
from taskflow.services.cursors import decode_time_cursor, encode_time_cursor
from taskflow.services.ports import BlobStore, Clock, Store
from taskflow.services.views import board_view, member_view, task_view
from taskflow.timefmt import to_ts


class BoardService:
    def __init__(self, *, store: Store, recorder: Recorder, clock: Clock, blobs: BlobStore) -> None:
        self._store = store
        self._recorder = recorder
        self._clock = clock
        self._blobs = blobs

    async def list(self, actor: Actor, *, limit: int = 50, cursor: str | None = None) -> Page[Board]:
        """The actor's boards by (created_at, id), a page at a time."""
        boards = await self._store.select_boards_of_user(actor.user_id)
        if cursor:
            after = decode_time_cursor(cursor)
            boards = [b for b in boards if (to_ts(b.created_at), b.id) > after]
        last = boards[limit - 1] if len(boards) > limit else None
        next_cursor = encode_time_cursor(last.created_at, last.id) if last else None
        return Page(items=boards[:limit], next_cursor=next_cursor)

    async def get(self, actor: Actor, board_id: str) -> Board:
        return await board_for(self._store, board_id, actor)

    async def create(self, actor: Actor, *, name: str, description: str = "") -> Board:
        """A new board owned by the actor; creating a board is not an event."""
        user = active_user(await self._store.select_user(actor.user_id))
        now = self._clock.now()
        board = Board(id=new_id(), name=name, description=description, owner_id=user.id, seq=0,
                      created_at=now, updated_at=now,
                      members=(Member(user_id=user.id, name=user.name, email=user.email,
                                      role="owner"),),
                      columns=default_columns(new_id))

        async def work(change: Change) -> None:
            active_user(await change.tx.select_user(user.id))  # not deleted since
            await change.tx.insert_board(board)
            change.tell([user.id], board.id, "board:created")  # the creator's other tabs

        await self._recorder.run(actor.user_id, work)
        return board

    async def update(self, actor: Actor, board_id: str, *, name: str | None = None,
                     description: str | None = None) -> Board:
        async def work(change: Change) -> Board:
            board = await board_for(change.tx, board_id, actor, "editor")
            updated = replace(board, name=board.name if name is None else name,
                              description=board.description if description is None else description)
            if updated == board:
                return board
            # Writers of a board are serialized, so this change's event is the next seq.
            updated = replace(updated, updated_at=self._clock.now(), seq=board.seq + 1)
            await change.tx.update_board(board_id, name=updated.name,
                                         description=updated.description,
                                         updated_at=updated.updated_at)
            event = await change.record(board_id, "board:updated", board_view(updated))
            assert event.seq == updated.seq
            change.tell((m.user_id for m in board.members), board_id, "board:updated")
            return updated

        return await self._recorder.run(actor.user_id, work)

    async def delete(self, actor: Actor, board_id: str) -> None:
        """Deletes the board and everything on it; board:deleted is its last event."""
        async def work(change: Change) -> list[str]:
            return await drop_board(change, await board_for(change.tx, board_id, actor, "owner"))

        await discard_blobs(self._blobs, await self._recorder.run(actor.user_id, work))

    async def purge_deleted(self, before: datetime) -> int:
        """Forgets the event logs of boards deleted before `before` (housekeeping)."""
        return await self._store.transact(lambda tx: tx.purge_deleted_boards(before))

    async def add_member(self, actor: Actor, board_id: str, *, email: str, role: Role) -> Member:
        _check_assignable(role)

        async def work(change: Change) -> Member:
            await board_for(change.tx, board_id, actor, "owner")
            user = await change.tx.select_user_by_email(email)
            if user is None:
                raise UserNotFound()
            member = Member(user_id=user.id, name=user.name, email=user.email, role=role)
            await change.tx.insert_member(board_id, member, added_at=self._clock.now())
            await change.record(board_id, "member:added", member_view(member))
            change.tell([user.id], board_id, "member:added")
            return member

        return await self._recorder.run(actor.user_id, work)

    async def update_member(self, actor: Actor, board_id: str, user_id: str, *,
                            role: Role) -> Member:
        _check_assignable(role)

        async def work(change: Change) -> Member:
            board = await board_for(change.tx, board_id, actor, "owner")
            member = _member(board, user_id)
            if member.role == "owner":
                raise Conflict("The owner's role can't change")
            if member.role == role:
                return member
            member = replace(member, role=role)
            await change.tx.update_member(board_id, user_id, role)
            await change.record(board_id, "member:updated", member_view(member))
            change.tell([user_id], board_id, "member:updated")
            return member

        return await self._recorder.run(actor.user_id, work)

    async def remove_member(self, actor: Actor, board_id: str, user_id: str) -> None:
        """The owner removes anyone else; a member may leave. Their tasks are unassigned."""
        needed: Role = "viewer" if user_id == actor.user_id else "owner"

        async def work(change: Change) -> None:
            board = await board_for(change.tx, board_id, actor, needed)
            member = _member(board, user_id)
            if member.role == "owner":
                raise Conflict("The owner can't leave the board; delete it instead")
            await drop_member(change, board_id, user_id)

        await self._recorder.run(actor.user_id, work)


async def drop_board(change: Change, board: Board) -> list[str]:
    """Deletes the board and everything on it in this change; board:deleted is its last
    event. Answers the keys of its attachments' blobs, to discard after the commit."""
    keys = await blob_keys_of_board(change.tx, board.id)
    event = await change.record(board.id, "board:deleted", {"id": board.id})
    change.tell((m.user_id for m in board.members), board.id, "board:deleted")
    await change.tx.delete_board(board.id, seq=event.seq, at=event.at)
    await change.tx.delete_watches(board.id)
    await change.tx.delete_notifications(board.id)
    return keys


async def drop_member(change: Change, board_id: str, user_id: str) -> None:
    """Takes a (non-owner) member off the board in this change, with their watches and
    notifications of it; their tasks there are unassigned."""
    await change.tx.delete_member(board_id, user_id)
    await change.tx.delete_watches(board_id, user_id=user_id)
    await change.tx.delete_notifications(board_id, user_id=user_id)
    await change.record(board_id, "member:removed", {"user_id": user_id})
    change.tell([user_id], board_id, "member:removed")
    await _unassign(change, board_id, user_id)


async def _unassign(change: Change, board_id: str, user_id: str) -> None:
    now = change.clock.now()
    while True:
        tasks = await change.tx.select_tasks(
            TaskQuery(board_ids=(board_id,), assignee_id=user_id, sort="created_at", limit=200)
        )
        if not tasks:
            return
        for task in tasks:
            updated = replace(task, assignee_id=None, version=task.version + 1, updated_at=now)
            await change.tx.update_task(updated)
            await change.record(board_id, "task:updated", task_view(updated))


def _member(board: Board, user_id: str) -> Member:
    for member in board.members:
        if member.user_id == user_id:
            return member
    raise NotFound("That user is not a member of this board")


def _check_assignable(role: Role) -> None:
    if role == "owner":
        raise field_error("role", "a board has one owner; choose editor or viewer")
