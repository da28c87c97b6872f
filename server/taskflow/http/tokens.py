"""/users/me/tokens: personal access tokens (services/personal_tokens.py)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response
from quart_schema import tag_blueprint, validate_querystring, validate_request

from taskflow.http.openapi import responds
from taskflow.http.responses import json_body
from taskflow.http.runtime import authenticated, client_address, runtime
from taskflow.http.schemas import PageArgs, TokenCreated, TokenIn, TokenList
from taskflow.services.access import Actor
from taskflow.services.views import personal_token_view

blueprint = Blueprint("tokens", __name__, url_prefix="/api/v1")
tag_blueprint(blueprint, ["tokens"])


@blueprint.post("/users/me/tokens")
@authenticated
@validate_request(TokenIn)
@json_body(TokenCreated, 201)
async def create_token(data: TokenIn, actor: Actor) -> tuple[dict[str, Any], int]:
    """Create a personal access token; its secret (`token`) is in this response only."""
    rt = runtime()
    await rt.limit(rt.settings.rate_limits.auth_per_address, "auth-address", client_address())
    token, secret = await rt.services.personal_tokens.create(
        actor, name=data.name, scopes=data.scopes, expires_in_days=data.expires_in_days)
    return {**personal_token_view(token), "token": secret}, 201


@blueprint.get("/users/me/tokens")
@authenticated
@validate_querystring(PageArgs)
@json_body(TokenList, 200)
async def list_tokens(query_args: PageArgs, actor: Actor) -> dict[str, Any]:
    """The caller's personal access tokens, oldest first (never their secrets)."""
    page = await runtime().services.personal_tokens.list(actor, limit=query_args.limit,
                                                         cursor=query_args.cursor)
    return {"items": [personal_token_view(t) for t in page.items],
            "next_cursor": page.next_cursor}


@blueprint.delete("/users/me/tokens/<token_id>")
@authenticated
@responds(r204="Revoked: refused at once on every instance, its live sockets closed")
async def revoke_token(token_id: str, actor: Actor) -> Response:
    """Revoke one of the caller's personal access tokens, at once on every instance."""
    await runtime().services.personal_tokens.revoke(actor, token_id)
    return Response(status=204)
