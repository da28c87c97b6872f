"""/boards/{id}/columns: a board's columns, managed by its owner and editors."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response
from quart_schema import tag_blueprint, validate_querystring, validate_request

from taskflow.http.responses import json_body
from taskflow.http.runtime import authenticated, runtime
from taskflow.http.schemas import (
    ColumnDeleteArgs,
    ColumnIn,
    ColumnOrderIn,
    ColumnOut,
    ColumnPatch,
    ColumnsOut,
)
from taskflow.services.access import Actor
from taskflow.services.views import column_view

blueprint = Blueprint("columns", __name__, url_prefix="/api/v1/boards/<board_id>/columns")
tag_blueprint(blueprint, ["boards"])


@blueprint.post("")
@authenticated
@validate_request(ColumnIn)
@json_body(ColumnOut, 201)
async def add_column(board_id: str, data: ColumnIn, actor: Actor) -> tuple[dict[str, Any], int]:
    """A new column, last unless `before_id`; `board:updated` carries the board's columns."""
    column = await runtime().services.columns.add(
        actor, board_id, name=data.name, category=data.category, wip_limit=data.wip_limit,
        before_id=data.before_id)
    return column_view(column), 201


@blueprint.put("/order")
@authenticated
@validate_request(ColumnOrderIn)
@json_body(ColumnsOut, 200)
async def order_columns(board_id: str, data: ColumnOrderIn, actor: Actor) -> dict[str, Any]:
    """Puts the columns in this order (a permutation of the board's column ids, else 422)."""
    columns = await runtime().services.columns.reorder(actor, board_id, data.column_ids)
    return {"columns": [column_view(c) for c in columns]}


@blueprint.patch("/<column_id>")
@authenticated
@validate_request(ColumnPatch)
@json_body(ColumnOut, 200)
async def patch_column(board_id: str, column_id: str, data: ColumnPatch,
                       actor: Actor) -> dict[str, Any]:
    """Renames the column and/or sets its WIP limit (null: none). Its category is fixed."""
    column = await runtime().services.columns.update(
        actor, board_id, column_id, data.model_dump(exclude_unset=True))
    return column_view(column)


@blueprint.delete("/<column_id>")
@authenticated
@validate_querystring(ColumnDeleteArgs)
async def delete_column(board_id: str, column_id: str, query_args: ColumnDeleteArgs,
                        actor: Actor) -> Response:
    """Deletes the column; its tasks go to the end of `move_to`.

    409 without `move_to` when the column has tasks; 409 for the board's last column of a
    category."""
    await runtime().services.columns.delete(actor, board_id, column_id,
                                            move_to=query_args.move_to)
    return Response(status=204)
