"""GET /api/v1/search: tasks across every board the caller is a member of."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import tag_blueprint, validate_querystring

from taskflow.http.responses import json_body
from taskflow.http.runtime import authenticated, runtime
from taskflow.http.schemas import SearchArgs, SearchList
from taskflow.services.access import Actor

blueprint = Blueprint("search", __name__, url_prefix="/api/v1")
tag_blueprint(blueprint, ["search"])


@blueprint.get("/search")
@authenticated
@validate_querystring(SearchArgs)
@json_body(SearchList, 200)
async def search(query_args: SearchArgs, actor: Actor) -> dict[str, Any]:
    """Search titles, descriptions and comments with filters; see the README's Search."""
    rt = runtime()
    await rt.limit(rt.settings.rate_limits.search_per_user, "search", actor.user_id)
    page = await rt.services.search.search(actor, query_args.q, limit=query_args.limit,
                                           cursor=query_args.cursor)
    return {"items": page.items, "next_cursor": page.next_cursor}
