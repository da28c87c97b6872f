"""Board webhooks: what a board's owner manages (services/webhook_delivery.py sends them).

`events` filters by board event type: a list of domain.EVENT_TYPES, or `["*"]` (what an
empty list is stored as) for every type. The secret (`whsec_` + base64 of 32 random bytes)
is returned once, by `create`. A new webhook starts after the board's current `seq`: it
delivers the events logged from its creation on.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from taskflow.domain import EVENT_TYPES, Delivery, Webhook
from taskflow.errors import NotFound, field_error
from taskflow.ids import new_id
from taskflow.services.access import Actor, board_for
from taskflow.services.cursors import decode_keys, encode_keys
from taskflow.services.ports import Clock, Store, Transaction, WebhookSender
from taskflow.timefmt import to_ts

ALL_EVENTS = "*"
MAX_WEBHOOKS_PER_BOARD = 20


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def event_filter(events: Sequence[str]) -> tuple[str, ...]:
    """The stored filter: ("*",) for every type, else the named types, each once."""
    unknown = [e for e in events if e != ALL_EVENTS and e not in EVENT_TYPES]
    if unknown:
        raise field_error("events", f"unknown event type {unknown[0]!r}; use one of "
                                    f"{', '.join(EVENT_TYPES)} or \"*\"")
    if not events or ALL_EVENTS in events:
        return (ALL_EVENTS,)
    return tuple(dict.fromkeys(events))


def wants(webhook: Webhook, event_type: str) -> bool:
    return ALL_EVENTS in webhook.events or event_type in webhook.events


@dataclass(frozen=True, slots=True)
class WebhookPage:
    items: list[Webhook]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    items: list[Delivery]
    next_cursor: str | None


class WebhookService:
    def __init__(self, *, store: Store, sender: WebhookSender, clock: Clock) -> None:
        self._store = store
        self._sender = sender
        self._clock = clock

    async def create(self, actor: Actor, board_id: str, *, url: str,
                     events: Sequence[str]) -> Webhook:
        """A new active webhook (owner only); its `secret` is shown this once."""
        await board_for(self._store, board_id, actor, "owner")
        wanted = event_filter(events)
        await self._sender.check_url(url)
        now = self._clock.now()

        async def work(tx: Transaction) -> Webhook:
            board = await board_for(tx, board_id, actor, "owner")
            existing = await tx.select_webhooks(board_id, limit=MAX_WEBHOOKS_PER_BOARD,
                                                after=None)
            if len(existing) >= MAX_WEBHOOKS_PER_BOARD:
                raise field_error("url", f"a board has at most {MAX_WEBHOOKS_PER_BOARD} webhooks")
            webhook = Webhook(id=new_id(), board_id=board_id, url=url, events=wanted,
                              secret=new_secret(), active=True, created_by=actor.user_id,
                              created_at=now, updated_at=now, cursor=board.seq)
            await tx.insert_webhook(webhook)
            return webhook

        return await self._store.transact(work)

    async def _owned(self, actor: Actor, board_id: str, webhook_id: str) -> Webhook:
        await board_for(self._store, board_id, actor, "owner")
        webhook = await self._store.select_webhook(board_id, webhook_id)
        if webhook is None:
            raise NotFound("Webhook not found")
        return webhook

    async def get(self, actor: Actor, board_id: str, webhook_id: str) -> Webhook:
        return await self._owned(actor, board_id, webhook_id)

    async def list(self, actor: Actor, board_id: str, *, limit: int = 50,
                   cursor: str | None = None) -> WebhookPage:
        """The board's webhooks, oldest first (owner only)."""
        await board_for(self._store, board_id, actor, "owner")
        after = decode_keys(cursor, "wh", (str, str)) if cursor else None
        items = await self._store.select_webhooks(
            board_id, limit=limit + 1, after=(after[0], after[1]) if after else None)
        last = items[limit - 1] if len(items) > limit else None
        next_cursor = encode_keys("wh", [to_ts(last.created_at), last.id]) if last else None
        return WebhookPage(items=items[:limit], next_cursor=next_cursor)

    async def update(self, actor: Actor, board_id: str, webhook_id: str, *,
                     url: str | None = None, events: Sequence[str] | None = None,
                     active: bool | None = None) -> Webhook:
        """Changes url, events and/or active. Re-activating clears `disabled_reason` and the
        retry state; delivery goes on from the webhook's cursor (see README: gaps)."""
        current = await self._owned(actor, board_id, webhook_id)
        if url is not None and url != current.url:
            await self._sender.check_url(url)
        wanted = event_filter(events) if events is not None else current.events
        now = self._clock.now()

        async def work(tx: Transaction) -> Webhook:
            await board_for(tx, board_id, actor, "owner")
            found = await tx.select_webhook(board_id, webhook_id)
            if found is None:
                raise NotFound("Webhook not found")
            on = found.active if active is None else active
            reactivated = on and not found.active
            changed = replace(found, url=url if url is not None else found.url, events=wanted,
                              active=on, updated_at=now,
                              disabled_reason=None if on else found.disabled_reason)
            if reactivated:
                changed = replace(changed, attempt=0, next_attempt_at=None, failing_since=None)
            await tx.update_webhook_settings(
                board_id, webhook_id, url=changed.url, events=changed.events,
                active=changed.active, disabled_reason=changed.disabled_reason,
                updated_at=now, reset_retries=reactivated)
            return changed

        return await self._store.transact(work)

    async def delete(self, actor: Actor, board_id: str, webhook_id: str) -> None:
        await self._owned(actor, board_id, webhook_id)

        async def work(tx: Transaction) -> None:
            await board_for(tx, board_id, actor, "owner")
            await tx.delete_webhook(board_id, webhook_id)

        await self._store.transact(work)

    async def deliveries(self, actor: Actor, board_id: str, webhook_id: str, *,
                         limit: int = 50, cursor: str | None = None) -> DeliveryPage:
        """The webhook's last (up to 100) deliveries, newest first."""
        await self._owned(actor, board_id, webhook_id)
        after = decode_keys(cursor, "wd", (str, str)) if cursor else None
        items = await self._store.select_deliveries(
            board_id, webhook_id, limit=limit + 1, after=(after[0], after[1]) if after else None)
        last = items[limit - 1] if len(items) > limit else None
        next_cursor = encode_keys("wd", [to_ts(last.at), last.id]) if last else None
        return DeliveryPage(items=items[:limit], next_cursor=next_cursor)
