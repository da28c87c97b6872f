"""Sending board events to webhooks: at least once, in seq order per webhook.

The board's event log is the queue; each webhook's `cursor` (in the store) is the last seq
it delivered, so a restart or a crash of the sending instance loses nothing: whichever
instance next holds the webhook's lease goes on from the cursor. The lease is a conditional
update in the store (free, expired or already ours), renewed before each send, and the cursor
only moves while the lease is still held, so of several instances one sends at a time. An
event may be sent twice when a lease expires mid-send (an instance stalled for longer than
LEASE) or the instance dies between the receiver's 2xx and the cursor's update: receivers
deduplicate by `webhook-id`, which is the same for every attempt of one event.

Wake-ups: at once after an event is logged on this instance (`Doorbell`), at each retry's
due time, and every `poll_interval` for events logged on other instances (one indexed query
of the active webhooks; nothing more when there are none).

Failures are retried with exponential backoff and full jitter (5 s, 10 s, 20 s ... capped at
an hour, each drawn between half and all of it) for `retry_window` (24 h); after that the
webhook is disabled, with `disabled_reason` naming the last error and its time, and the
board's owner gets a `webhook_disabled` notification from the transaction that disabled it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

from loguru import logger

from taskflow.domain import Delivery, Event, Webhook
from taskflow.ids import new_id
from taskflow.services.changes import Change, Recorder
from taskflow.services.notifications import webhook_disabled
from taskflow.services.ports import Clock, Store, Transaction, WebhookSender
from taskflow.services.views import event_view, rfc3339
from taskflow.services.webhooks import wants

LEASE = timedelta(seconds=30)
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 3600.0
BATCH = 100
MAX_ACTIVE_SCANNED = 1000
GAP = "webhook:gap"


class Doorbell:
    """Rung after a commit that logged events; the dispatcher wakes up on it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), max(0.0, timeout))
        self._event.clear()


def message_id(event: Event, epoch: str) -> str:
    """The `webhook-id` of an event: the same for every attempt, unique per board event. The
    log's epoch is in it: after a restore (`taskflow db new-epoch`) a seq can be reused for
    another event, which a receiver must not drop as a duplicate."""
    return f"msg_{event.board_id}_{epoch}_{event.seq}" if event.type != GAP else \
        f"msg_{event.board_id}_{epoch}_gap_{event.seq}"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks: v1,base64(HMAC-SHA256(base64-decoded secret, "id.ts.body"))."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def backoff(attempt: int) -> float:
    """Seconds before retry number `attempt` (1 = the first retry), jittered."""
    cap = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (attempt - 1))
    return random.uniform(cap / 2, cap)


@dataclass
class DeliveryObserver:
    """Where the dispatcher reports (the app plugs Prometheus metrics in)."""

    attempted: Callable[[str, float], None] = lambda outcome, seconds: None
    lagged: Callable[[float], None] = lambda seconds: None


@dataclass
class WebhookDispatcher:
    # Its store is where webhooks, cursors and leases live; it publishes the notification
    # of a webhook it disables.
    recorder: Recorder
    sender: WebhookSender
    clock: Clock
    doorbell: Doorbell
    owner: str
    retry_window: timedelta = timedelta(hours=24)
    poll_interval: float = 1.0
    lease: timedelta = LEASE
    observer: DeliveryObserver = field(default_factory=DeliveryObserver)
    _workers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _loop: asyncio.Task[None] | None = None

    @property
    def store(self) -> Store:
        return self.recorder.store

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run())

    async def stop(self) -> None:
        tasks = [t for t in (self._loop, *self._workers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                wait = await self._scan()
            except Exception:
                logger.exception("webhook scan failed; will retry")
                wait = self.poll_interval
            await self.doorbell.wait(wait)

    async def _scan(self) -> float:
        """Starts a worker for each due webhook whose lease this instance gets; returns how
        long to sleep before the next scan."""
        hooks = await self.store.select_active_webhooks(limit=MAX_ACTIVE_SCANNED)
        if not hooks:
            return self.poll_interval
        seqs = await self.store.select_board_seqs(sorted({h.board_id for h in hooks}))
        now = self.clock.now()
        wait = self.poll_interval
        for hook in hooks:
            if hook.id in self._workers or hook.cursor >= seqs.get(hook.board_id, 0):
                continue
            if hook.next_attempt_at is not None and hook.next_attempt_at > now:
                wait = min(wait, (hook.next_attempt_at - now).total_seconds())
                continue
            if (hook.lease_owner not in (None, self.owner) and hook.lease_until is not None
                    and hook.lease_until > now):
                continue
            if await self._claim(hook, now):
                task = asyncio.create_task(self._deliver(hook.board_id, hook.id))
                self._workers[hook.id] = task
                task.add_done_callback(partial(self._done, hook.id))
        return wait

    def _done(self, webhook_id: str, _: asyncio.Task[None]) -> None:
        self._workers.pop(webhook_id, None)

    async def _claim(self, hook: Webhook, now: datetime) -> bool:
        async def work(tx: Transaction) -> bool:
            return await tx.claim_webhook(hook.board_id, hook.id, owner=self.owner, now=now,
                                          until=now + self.lease)

        return await self.store.transact(work)

    async def _deliver(self, board_id: str, webhook_id: str) -> None:
        try:
            await self._work(board_id, webhook_id)
        except Exception:
            logger.exception("webhook {} delivery failed; its lease will expire", webhook_id)

    async def _work(self, board_id: str, webhook_id: str) -> None:
        hook = await self.store.select_webhook(board_id, webhook_id)
        if hook is None or not hook.active or hook.lease_owner != self.owner:
            return
        board = await self.store.select_board(board_id)
        if board is None:
            return  # deleted meanwhile: its webhooks went with it
        while True:
            events = await self._next_events(hook)
            if not events:
                await self._settle(hook, lease=False)
                return
            for event in events:
                if event.type != GAP and not wants(hook, event.type):
                    hook = replace(hook, cursor=event.seq)
                    continue
                # Renews the lease (and records skipped events) before the send. Refused when
                # the owner changed or disabled the webhook since it was read: this worker
                # stops, and the next scan goes on from the cursor with the new settings.
                if not await self._settle(hook, lease=True):
                    return
                outcome = await self._send(hook, event, board.epoch)
                if outcome is None:
                    return
                hook = outcome

    async def _next_events(self, hook: Webhook) -> list[Event]:
        oldest = await self.store.select_oldest_event_seq(hook.board_id)
        if oldest is not None and hook.cursor < oldest - 1:
            # Pruned before delivery (the webhook was inactive meanwhile): say so, go on.
            return [Event(seq=oldest - 1, board_id=hook.board_id, type=GAP, actor_id="",
                          at=self.clock.now(),
                          data={"from_seq": hook.cursor + 1, "to_seq": oldest - 1})]
        return await self.store.select_events(hook.board_id, since=hook.cursor, limit=BATCH)

    async def _settle(self, hook: Webhook, *, lease: bool) -> bool:
        now = self.clock.now()

        async def work(tx: Transaction) -> bool:
            return await tx.settle_webhook(
                hook.board_id, hook.id, owner=self.owner, now=now,
                settings_at=hook.updated_at, cursor=hook.cursor,
                attempt=hook.attempt, next_attempt_at=hook.next_attempt_at,
                failing_since=hook.failing_since, lease_until=now + self.lease if lease else None,
                active=hook.active, disabled_reason=hook.disabled_reason)

        return await self.store.transact(work)

    async def _send(self, hook: Webhook, event: Event, epoch: str) -> Webhook | None:
        """One attempt; the webhook as it then is, or None when this worker must stop
        (a failure scheduled a retry, or the lease was lost)."""
        msg_id = message_id(event, epoch)
        body = json.dumps(event_view(event), separators=(",", ":"), sort_keys=True).encode()
        stamp = int(self.clock.now().timestamp())
        headers = {"content-type": "application/json", "user-agent": "TaskFlow-Webhooks/1",
                   "webhook-id": msg_id, "webhook-timestamp": str(stamp),
                   "webhook-signature": sign(hook.secret, msg_id, stamp, body)}
        started = asyncio.get_running_loop().time()
        code, error = await self.sender.post(hook.url, body, headers)
        seconds = asyncio.get_running_loop().time() - started
        now = self.clock.now()
        attempt = hook.attempt + 1
        self.observer.attempted("succeeded" if error is None else "failed", seconds)
        delivery = Delivery(id=new_id(), webhook_id=hook.id, board_id=hook.board_id,
                            seq=event.seq, event_type=event.type, message_id=msg_id,
                            status="succeeded" if error is None else "failed",
                            response_code=code, duration_ms=int(seconds * 1000),
                            attempt=attempt, error=error, at=now)
        if error is None:
            self.observer.lagged((now - event.at).total_seconds())
            after = replace(hook, cursor=event.seq, attempt=0, next_attempt_at=None,
                            failing_since=None)
            return after if await self._record(after, delivery, now, lease=True) else None
        failing_since = hook.failing_since or now
        if now - failing_since >= self.retry_window:
            reason = (f"{error} (event seq {event.seq}) at {rfc3339(now)}; failing since "
                      f"{rfc3339(failing_since)}")
            after = replace(hook, attempt=attempt, active=False, disabled_reason=reason,
                            failing_since=failing_since, next_attempt_at=None)
            logger.warning("webhook {} of board {} disabled: {}", hook.id, hook.board_id, reason)
        else:
            due = now + timedelta(seconds=backoff(attempt))
            after = replace(hook, attempt=attempt, next_attempt_at=due,
                            failing_since=failing_since)
        await self._record(after, delivery, now, lease=False)
        self.doorbell.ring()  # the scan computes when to come back for the retry
        return None

    async def _record(self, hook: Webhook, delivery: Delivery, now: datetime, *,
                      lease: bool) -> bool:
        """Stores the attempt and the webhook's state after it (`hook` inactive: it is being
        disabled), if this instance still holds the lease."""
        async def work(change: Change) -> bool:
            held = await change.tx.settle_webhook(
                hook.board_id, hook.id, owner=self.owner, now=now,
                settings_at=hook.updated_at, cursor=hook.cursor,
                attempt=hook.attempt, next_attempt_at=hook.next_attempt_at,
                failing_since=hook.failing_since, lease_until=now + self.lease if lease else None,
                active=hook.active, disabled_reason=hook.disabled_reason)
            if held:
                await change.tx.insert_delivery(delivery)
                if not hook.active:
                    await webhook_disabled(change, hook.board_id, hook.url,
                                           hook.disabled_reason or "")
            return held

        return await self.recorder.run("", work)

