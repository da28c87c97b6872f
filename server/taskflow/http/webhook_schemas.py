"""Request and response schemas of /boards/{id}/webhooks (http/webhooks.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from taskflow.domain import EVENT_TYPES
from taskflow.http.schemas import Body, PageArgs

Url = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=64)]
_EVENTS = (f"board event types to send: any of {', '.join(EVENT_TYPES)}; "
           "\"*\" or an empty list for every type")


class WebhookIn(Body):
    url: Url = Field(description="http(s) URL of the receiver; no credentials, no loopback, "
                                 "private, link-local or metadata address")
    events: list[EventType] = Field(default_factory=list, max_length=32, description=_EVENTS)


class WebhookPatch(Body):
    url: Url | None = None
    events: list[EventType] | None = Field(None, max_length=32, description=_EVENTS)
    active: bool | None = Field(None, description="true re-enables a disabled webhook")


class WebhookOut(BaseModel):
    id: str
    board_id: str
    url: str
    events: list[str]
    active: bool
    disabled_reason: str | None = Field(description="why delivery stopped (last error, time)")
    last_delivered_seq: int = Field(description="the board event seq delivered last")
    failing_since: str | None
    next_attempt_at: str | None
    created_by: str
    created_at: str
    updated_at: str


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_ + base64 of the signing key; shown this once")


class WebhookList(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None


class DeliveryOut(BaseModel):
    id: str
    seq: int
    event_type: str
    webhook_id_header: str = Field(description="the webhook-id header sent")
    status: Literal["succeeded", "failed"]
    response_code: int | None
    duration_ms: int
    attempt: int = Field(description="1 for the first attempt at this event")
    error: str | None
    at: str


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class WebhookPageArgs(PageArgs):
    pass
