"""A webhook re-enabled after its events were pruned: the dispatcher (real store, real sender,
real receiver, in this process) first sends one `webhook:gap` naming the missing range."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from taskflow.clock import SystemClock
from taskflow.domain import Webhook
from taskflow.ids import new_id
from taskflow.realtime.local import LocalPublisher
from taskflow.services.changes import Recorder
from taskflow.services.webhook_delivery import Doorbell, WebhookDispatcher
from taskflow.services.webhooks import new_secret
from taskflow.storage.sqlite import SqliteStore
from taskflow.webhooknet import HttpWebhookSender
from tests.storage.conftest import make_task, seed
from tests.support.webhook_receiver import WebhookReceiver


async def test_gap_marker_then_the_kept_events(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "taskflow.db", events_kept=2)
    receiver = WebhookReceiver(secret=new_secret()).start()
    sender = HttpWebhookSender(allow_private=True)
    recorder = Recorder(store=store, publisher=LocalPublisher(), clock=SystemClock())
    dispatcher = WebhookDispatcher(recorder=recorder, sender=sender, clock=SystemClock(),
                                   doorbell=Doorbell(), owner="test", poll_interval=0.1)
    try:
        _, board = await seed(store)
        now = datetime.now(UTC)
        hook = Webhook(id=new_id(), board_id=board.id, url=receiver.url, events=("*",),
                       secret=receiver.secret, active=False, created_by=board.owner_id,
                       created_at=now, updated_at=now, cursor=0)
        await store.transact(lambda tx: tx.insert_webhook(hook))
        for n in range(5):
            task = replace(make_task(board, n), created_at=now, updated_at=now)

            async def work(tx: Any, task: Any = task) -> None:
                await tx.insert_task(task)
                await tx.append_event(board.id, type="task:created", actor_id=board.owner_id,
                                      at=now - timedelta(days=2), data={"id": task.id})

            await store.transact(work)
        # Inactive, the webhook holds nothing back: the newest 2 stay.
        assert await store.transact(lambda tx: tx.prune_events(board.id, before=now)) == 3

        async def reenable(tx: Any) -> None:
            await tx.update_webhook_settings(board.id, hook.id, url=hook.url, events=hook.events,
                                             active=True, disabled_reason=None,
                                             updated_at=now, reset_retries=True)

        await store.transact(reenable)
        dispatcher.start()
        got = await asyncio.to_thread(receiver.wait, lambda r: len(r) >= 3, 30, "3 requests")
        assert [(r.payload["type"], r.payload["seq"]) for r in got] == [
            ("webhook:gap", 3), ("task:created", 4), ("task:created", 5)]
        assert got[0].payload["data"] == {"from_seq": 1, "to_seq": 3}
        assert all(r.verified for r in got)
    finally:
        await dispatcher.stop()
        await sender.close()
        receiver.stop()
        await store.close()
