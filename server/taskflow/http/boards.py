"""/boards: boards, members, board stats and the board event log."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from quart import Blueprint, Response
from quart_schema import (
    tag_blueprint,
    validate_querystring,
    validate_request,
)

from taskflow.http.responses import json_body
from taskflow.http.runtime import authenticated, runtime
from taskflow.http.schemas import (
    BoardIn,
    BoardList,
    BoardOut,
    BoardPatch,
    EventList,
    EventsArgs,
    MemberIn,
    MemberOut,
    MemberPatch,
    PageArgs,
    StatsOut,
)
from taskflow.services.access import Actor
from taskflow.services.views import board_view, event_view, member_view

blueprint = Blueprint("boards", __name__, url_prefix="/api/v1/boards")
tag_blueprint(blueprint, ["boards"])


def _view(board: Any, actor: Actor) -> dict[str, Any]:
    return board_view(board, board.role_of(actor.user_id))


@blueprint.get("")
@authenticated
@validate_querystring(PageArgs)
@json_body(BoardList, 200)
async def list_boards(query_args: PageArgs, actor: Actor) -> dict[str, Any]:
    """The caller's boards, oldest first."""
    page = await runtime().services.boards.list(actor, limit=query_args.limit,
                                                cursor=query_args.cursor)
    return {"items": [_view(b, actor) for b in page.items], "next_cursor": page.next_cursor}


@blueprint.post("")
@authenticated
@validate_request(BoardIn)
@json_body(BoardOut, 201)
async def create_board(data: BoardIn, actor: Actor) -> tuple[dict[str, Any], int]:
    """Create a board owned by the caller, with the three default columns."""
    board = await runtime().services.boards.create(actor, name=data.name,
                                                   description=data.description)
    return _view(board, actor), 201


@blueprint.get("/<board_id>")
@authenticated
@json_body(BoardOut, 200)
async def get_board(board_id: str, actor: Actor) -> dict[str, Any]:
    """A board with its members and columns (any member)."""
    return _view(await runtime().services.boards.get(actor, board_id), actor)


@blueprint.patch("/<board_id>")
@authenticated
@validate_request(BoardPatch)
@json_body(BoardOut, 200)
async def patch_board(board_id: str, data: BoardPatch, actor: Actor) -> dict[str, Any]:
    """Rename a board or change its description (owner)."""
    board = await runtime().services.boards.update(actor, board_id, name=data.name,
                                                   description=data.description)
    return _view(board, actor)


@blueprint.delete("/<board_id>")
@authenticated
async def delete_board(board_id: str, actor: Actor) -> Response:
    """Delete a board and everything on it (owner); board:deleted is its last event."""
    await runtime().services.boards.delete(actor, board_id)
    return Response(status=204)


@blueprint.post("/<board_id>/members")
@authenticated
@validate_request(MemberIn)
@json_body(MemberOut, 201)
async def add_member(board_id: str, data: MemberIn, actor: Actor) -> tuple[dict[str, Any], int]:
    """Add a registered user by email as editor or viewer (owner)."""
    member = await runtime().services.boards.add_member(actor, board_id, email=data.email,
                                                        role=data.role)
    return member_view(member), 201


@blueprint.patch("/<board_id>/members/<user_id>")
@authenticated
@validate_request(MemberPatch)
@json_body(MemberOut, 200)
async def patch_member(board_id: str, user_id: str, data: MemberPatch,
                       actor: Actor) -> dict[str, Any]:
    """Change a member's role (owner)."""
    member = await runtime().services.boards.update_member(actor, board_id, user_id,
                                                           role=data.role)
    return member_view(member)


@blueprint.delete("/<board_id>/members/<user_id>")
@authenticated
async def remove_member(board_id: str, user_id: str, actor: Actor) -> Response:
    """Remove a member (owner), or leave the board (the member); their tasks are unassigned."""
    await runtime().services.boards.remove_member(actor, board_id, user_id)
    return Response(status=204)


@blueprint.get("/<board_id>/stats")
@authenticated
@json_body(StatsOut, 200)
async def board_stats(board_id: str, actor: Actor) -> dict[str, Any]:
    """Task counts of the board: by status and by column, overdue, due soon, completed in 7 days."""
    return asdict(await runtime().services.stats.for_board(actor, board_id))


@blueprint.get("/<board_id>/events")
@authenticated
@validate_querystring(EventsArgs)
@json_body(EventList, 200)
async def board_events(board_id: str, query_args: EventsArgs, actor: Actor) -> dict[str, Any]:
    """Events after `since`, oldest first.

    410 events_gone when they can't be had: no longer kept, missing from the log, `since`
    ahead of the board, or `epoch` not the board's."""
    catchup = await runtime().services.events.since(actor, board_id, since=query_args.since,
                                                    limit=query_args.limit, epoch=query_args.epoch)
    return {"items": [event_view(e) for e in catchup.events], "latest_seq": catchup.latest_seq,
            "epoch": catchup.epoch}
