"""/boards/{id}/webhooks: a board owner's outgoing webhooks (services/webhooks.py)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response
from quart_schema import tag_blueprint, validate_querystring, validate_request

from taskflow.domain import Delivery, Webhook
from taskflow.http.openapi import responds
from taskflow.http.responses import json_body
from taskflow.http.runtime import authenticated, runtime
from taskflow.http.webhook_schemas import (
    DeliveryList,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPageArgs,
    WebhookPatch,
)
from taskflow.services.access import Actor
from taskflow.services.views import rfc3339

blueprint = Blueprint("webhooks", __name__, url_prefix="/api/v1/boards")
tag_blueprint(blueprint, ["webhooks"])


def webhook_view(w: Webhook) -> dict[str, Any]:
    return {"id": w.id, "board_id": w.board_id, "url": w.url, "events": list(w.events),
            "active": w.active, "disabled_reason": w.disabled_reason,
            "last_delivered_seq": w.cursor, "failing_since": rfc3339(w.failing_since),
            "next_attempt_at": rfc3339(w.next_attempt_at), "created_by": w.created_by,
            "created_at": rfc3339(w.created_at), "updated_at": rfc3339(w.updated_at)}


def delivery_view(d: Delivery) -> dict[str, Any]:
    return {"id": d.id, "seq": d.seq, "event_type": d.event_type,
            "webhook_id_header": d.message_id, "status": d.status,
            "response_code": d.response_code, "duration_ms": d.duration_ms,
            "attempt": d.attempt, "error": d.error, "at": rfc3339(d.at)}


@blueprint.post("/<board_id>/webhooks")
@authenticated
@validate_request(WebhookIn)
@json_body(WebhookCreated, 201)
async def create_webhook(board_id: str, data: WebhookIn,
                         actor: Actor) -> tuple[dict[str, Any], int]:
    """A new webhook (board owner); the response carries its signing `secret`, once."""
    made = await runtime().services.webhooks.create(actor, board_id, url=data.url,
                                                    events=data.events)
    return {**webhook_view(made), "secret": made.secret}, 201


@blueprint.get("/<board_id>/webhooks")
@authenticated
@validate_querystring(WebhookPageArgs)
@json_body(WebhookList, 200)
async def list_webhooks(board_id: str, query_args: WebhookPageArgs,
                        actor: Actor) -> dict[str, Any]:
    """The board's webhooks, oldest first (board owner)."""
    page = await runtime().services.webhooks.list(actor, board_id, limit=query_args.limit,
                                                  cursor=query_args.cursor)
    return {"items": [webhook_view(w) for w in page.items], "next_cursor": page.next_cursor}


@blueprint.get("/<board_id>/webhooks/<webhook_id>")
@authenticated
@json_body(WebhookOut, 200)
async def get_webhook(board_id: str, webhook_id: str, actor: Actor) -> dict[str, Any]:
    """One webhook of the board (board owner), without its secret."""
    return webhook_view(await runtime().services.webhooks.get(actor, board_id, webhook_id))


@blueprint.patch("/<board_id>/webhooks/<webhook_id>")
@authenticated
@validate_request(WebhookPatch)
@json_body(WebhookOut, 200)
async def patch_webhook(board_id: str, webhook_id: str, data: WebhookPatch,
                        actor: Actor) -> dict[str, Any]:
    """Change a webhook's URL or events, or disable and enable it (board owner)."""
    changed = await runtime().services.webhooks.update(
        actor, board_id, webhook_id, url=data.url, events=data.events, active=data.active)
    return webhook_view(changed)


@blueprint.delete("/<board_id>/webhooks/<webhook_id>")
@authenticated
@responds(r204="The webhook and its delivery log are gone")
async def delete_webhook(board_id: str, webhook_id: str, actor: Actor) -> Response:
    """Delete a webhook and its delivery log (board owner)."""
    await runtime().services.webhooks.delete(actor, board_id, webhook_id)
    return Response(status=204)


@blueprint.get("/<board_id>/webhooks/<webhook_id>/deliveries")
@authenticated
@validate_querystring(WebhookPageArgs)
@json_body(DeliveryList, 200)
async def list_deliveries(board_id: str, webhook_id: str, query_args: WebhookPageArgs,
                          actor: Actor) -> dict[str, Any]:
    """The webhook's last deliveries (up to 100 kept), newest first."""
    page = await runtime().services.webhooks.deliveries(
        actor, board_id, webhook_id, limit=query_args.limit, cursor=query_args.cursor)
    return {"items": [delivery_view(d) for d in page.items], "next_cursor": page.next_cursor}
