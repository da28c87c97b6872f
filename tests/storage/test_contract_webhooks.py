"""The storage contract of webhooks (services/webhooks.py, services/webhook_delivery.py), on
every store: SQLite, and MongoDB (the emulator, or a real server) with `-m mongo`."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

from taskflow.domain import Delivery, Webhook
from taskflow.ids import new_id
from taskflow.timefmt import to_ts
from tests.storage.conftest import T0, Stores, make_task, seed


def hook(board_id: str, **changes: Any) -> Webhook:
    made = Webhook(id=new_id(), board_id=board_id, url="https://93.184.215.14/h",
                   events=("*",), secret="whsec_x", active=True, created_by="u",
                   created_at=T0, updated_at=T0)
    return replace(made, **changes)


def delivery(w: Webhook, seq: int, minutes: int) -> Delivery:
    return Delivery(id=new_id(), webhook_id=w.id, board_id=w.board_id, seq=seq,
                    event_type="task:created", message_id=f"msg_{seq}", status="succeeded",
                    response_code=200, duration_ms=3, attempt=1, error=None,
                    at=T0 + timedelta(minutes=minutes))


async def tx(store: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    return await store.transact(lambda t: getattr(t, name)(*args, **kwargs))


async def test_the_lease_goes_to_one_instance_at_a_time(stores: Stores) -> None:
    first, second = await stores.open(), await stores.open()
    _, board = await seed(first)
    w = hook(board.id)
    await tx(first, "insert_webhook", w)
    until = T0 + timedelta(seconds=30)
    # Many claimants at once, on two store instances: exactly one wins. (One after another
    # on the emulator, whose concurrent transactions are not isolated: EMULATOR_GAPS.)
    claims = [tx(store, "claim_webhook", board.id, w.id, owner=f"i{n}", now=T0, until=until)
              for n, store in enumerate([first, second] * 5)]
    won = ([await claim for claim in claims] if stores.emulator
           else list(await asyncio.gather(*claims)))
    assert won.count(True) == 1
    owner = f"i{won.index(True)}"
    other = "i1" if owner == "i0" else "i0"
    assert await tx(first, "claim_webhook", board.id, w.id, owner=owner, now=T0,
                    until=until + timedelta(seconds=5)) is True  # renewal
    state = dict(cursor=3, attempt=0, next_attempt_at=None, failing_since=None, active=True,
                 disabled_reason=None, settings_at=w.updated_at)
    assert await tx(second, "settle_webhook", board.id, w.id, owner=other, now=T0,
                    lease_until=until, **state) is False
    assert await tx(second, "settle_webhook", board.id, w.id, owner=owner, now=T0,
                    lease_until=None, **state) is True  # released
    found = await first.select_webhook(board.id, w.id)
    assert (found.cursor, found.lease_owner, found.lease_until) == (3, None, None)
    assert await tx(second, "claim_webhook", board.id, w.id, owner=other, now=T0,
                    until=until) is True
    # An expired lease is anyone's; the one whose lease expired can't settle any more.
    later = until + timedelta(seconds=1)
    assert await tx(first, "settle_webhook", board.id, w.id, owner=other, now=later,
                    lease_until=None, **state) is False
    assert await tx(first, "claim_webhook", board.id, w.id, owner=owner, now=later,
                    until=later + timedelta(seconds=30)) is True


async def test_a_change_by_the_owner_wins_over_the_sender(store: Any) -> None:
    """The sender's settle is refused once the owner changed the webhook (URL, events, active)
    after the sender read it, even while it holds the lease; so is it on a disabled one."""
    _, board = await seed(store)
    w = hook(board.id)
    await tx(store, "insert_webhook", w)
    until = T0 + timedelta(seconds=30)
    assert await tx(store, "claim_webhook", board.id, w.id, owner="i0", now=T0, until=until)
    state = dict(cursor=1, attempt=0, next_attempt_at=None, failing_since=None, active=True,
                 disabled_reason=None, lease_until=until)
    assert await tx(store, "settle_webhook", board.id, w.id, owner="i0", now=T0,
                    settings_at=w.updated_at, **state) is True
    changed_at = T0 + timedelta(seconds=1)
    await tx(store, "update_webhook_settings", board.id, w.id, url="https://example.com/new",
             events=w.events, active=True, disabled_reason=None, updated_at=changed_at,
             reset_retries=False)
    assert await tx(store, "settle_webhook", board.id, w.id, owner="i0", now=T0,
                    settings_at=w.updated_at, **{**state, "cursor": 2}) is False
    found = await store.select_webhook(board.id, w.id)
    assert (found.url, found.cursor, found.active) == ("https://example.com/new", 1, True)
    # Read again, the sender goes on; disabled by the owner, it is refused again.
    assert await tx(store, "settle_webhook", board.id, w.id, owner="i0", now=T0,
                    settings_at=found.updated_at, **{**state, "cursor": 2}) is True
    await tx(store, "update_webhook_settings", board.id, w.id, url=found.url, events=w.events,
             active=False, disabled_reason=None, updated_at=found.updated_at, reset_retries=False)
    assert await tx(store, "settle_webhook", board.id, w.id, owner="i0", now=T0,
                    settings_at=found.updated_at, **{**state, "cursor": 3}) is False
    found = await store.select_webhook(board.id, w.id)
    assert (found.cursor, found.active) == (2, False)


async def test_listing_settings_deliveries_and_board_deletion(store: Any) -> None:
    _, board = await seed(store)
    hooks = [hook(board.id, created_at=T0 + timedelta(minutes=i)) for i in range(3)]
    for w in hooks:
        await tx(store, "insert_webhook", w)
    page = await store.select_webhooks(board.id, limit=2, after=None)
    assert [w.id for w in page] == [hooks[0].id, hooks[1].id]

    rest = await store.select_webhooks(board.id, limit=2,
                                       after=(to_ts(page[-1].created_at), page[-1].id))
    assert [w.id for w in rest] == [hooks[2].id]
    await tx(store, "update_webhook_settings", board.id, hooks[0].id, url="https://1.1.1.1/",
             events=["task:created"], active=False, disabled_reason=None,
             updated_at=T0 + timedelta(hours=1), reset_retries=True)
    changed = await store.select_webhook(board.id, hooks[0].id)
    assert (changed.url, changed.events, changed.active) == ("https://1.1.1.1/",
                                                             ("task:created",), False)
    assert hooks[0].id not in {w.id for w in await store.select_active_webhooks(limit=100)}
    for n in range(105):
        await tx(store, "insert_delivery", delivery(hooks[1], n + 1, n))
    kept = await store.select_deliveries(board.id, hooks[1].id, limit=200, after=None)
    assert [d.seq for d in kept] == list(range(105, 5, -1))  # the newest 100, newest first
    after = (to_ts(kept[9].at), kept[9].id)
    assert [d.seq for d in await store.select_deliveries(board.id, hooks[1].id, limit=3,
                                                         after=after)] == [95, 94, 93]
    await tx(store, "delete_webhook", board.id, hooks[2].id)
    assert await store.select_webhook(board.id, hooks[2].id) is None
    await tx(store, "delete_board", board.id, seq=board.seq, at=T0)
    assert await store.select_webhooks(board.id, limit=10, after=None) == []
    assert await store.select_deliveries(board.id, hooks[1].id, limit=10, after=None) == []


async def test_prune_keeps_what_an_active_webhook_has_not_delivered(stores: Stores) -> None:
    store = await stores.open(events_kept=2)
    _, board = await seed(store)
    for n in range(10):
        task = make_task(board, n)

        async def work(t: Any, task: Any = task) -> None:
            await t.insert_task(task)
            await t.append_event(board.id, type="task:created", actor_id="u", at=T0,
                                 data={"id": task.id})

        await store.transact(work)
    w = hook(board.id, cursor=4)
    await tx(store, "insert_webhook", w)
    later = T0 + timedelta(days=1)
    assert await tx(store, "prune_events", board.id, before=later) == 4
    assert await store.select_oldest_event_seq(board.id) == 5
    await tx(store, "update_webhook_settings", board.id, w.id, url=w.url, events=w.events,
             active=False, disabled_reason="off", updated_at=later, reset_retries=False)
    # Inactive: the webhook holds nothing back any more.
    assert await tx(store, "prune_events", board.id, before=later) == 4
    assert await store.select_oldest_event_seq(board.id) == 9
