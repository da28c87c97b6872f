"""Who may do what on a board: decided here once, for HTTP and Socket.IO alike."""

from __future__ import annotations

from dataclasses import dataclass

from taskflow.domain import Board, Role, Task, User
from taskflow.errors import Forbidden, NotFound, Unauthorized
from taskflow.services.ports import Reader

_RANK: dict[Role, int] = {"viewer": 0, "editor": 1, "owner": 2}


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated caller: a user, within one login."""

    user_id: str
    login_id: str
    # A personal access token's scopes; None for a password login (full rights).
    scopes: tuple[str, ...] | None = None


def active_user(user: User | None) -> User:
    """The user, unless the account no longer exists or was deleted (401): for what an
    access token issued before a deletion could still reach (it stays valid until it
    expires; every board was taken from it)."""
    if user is None or user.deleted:
        raise Unauthorized("This account no longer exists")
    return user


def can(role: Role | None, needed: Role) -> bool:
    """Whether `role` is at least `needed`."""
    return role is not None and _RANK[role] >= _RANK[needed]


async def task_for(reader: Reader, task_id: str, actor: Actor,
                   needed: Role = "viewer") -> tuple[Task, Board]:
    """The task and its board if the actor may see it with at least `needed`.

    A task on a board the actor isn't on is NotFound, like a task that doesn't exist.
    """
    task = await reader.select_task(task_id)
    if task is None:
        raise NotFound("Task not found")
    try:
        return task, await board_for(reader, task.board_id, actor, needed)
    except NotFound:
        raise NotFound("Task not found") from None


async def board_for(reader: Reader, board_id: str, actor: Actor, needed: Role = "viewer") -> Board:
    """The board if the actor is a member with at least `needed`.

    Non-members get NotFound (no existence leak); members below `needed` get Forbidden.
    """
    board = await reader.select_board(board_id)
    role = board.role_of(actor.user_id) if board else None
    if board is None or role is None:
        raise NotFound("Board not found")
    if not can(role, needed):
        raise Forbidden(f"This needs the {needed} role on the board")
    return board
