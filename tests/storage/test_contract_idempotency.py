"""The storage contract of the embedded Idempotency-Key ledger (taskflow/idempotency.py, used
without Redis), on every store: SQLite, and MongoDB (the emulator, or a real server) with
`-m mongo`. Times are epoch seconds, from now on: MongoDB's TTL index may delete a document as
soon as its `expires_at` has passed (the emulator does so at once; a server within a minute),
which is the same to the ledger as an expired document still there."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from taskflow.idempotency import StoredResponse
from tests.storage.conftest import Stores

NOW = time.time() + 3600
RECORD = StoredResponse("fp", 201, (("Content-Type", "application/json"),), b'{"id":"x"}').dumps()


async def test_one_claim_per_key_until_its_lease_ends(store: Any) -> None:
    assert await store.claim_idempotency_key("u:k", "a", now=NOW, expires_at=NOW + 30) == (None, None)
    assert await store.claim_idempotency_key("u:k", "b", now=NOW + 1, expires_at=NOW + 31) == ("a", None)
    assert await store.claim_idempotency_key("u:other", "b", now=NOW, expires_at=NOW + 30) == (None, None)
    assert await store.renew_idempotency_key("u:k", "a", expires_at=NOW + 60)
    assert not await store.renew_idempotency_key("u:k", "b", expires_at=NOW + 60)
    # Past the renewed lease, another request takes the key over; the old owner can't finish.
    assert await store.claim_idempotency_key("u:k", "b", now=NOW + 45, expires_at=NOW + 90) == ("a", None)
    assert await store.claim_idempotency_key("u:k", "b", now=NOW + 61, expires_at=NOW + 90) == (None, None)
    await store.complete_idempotency_key("u:k", "a", RECORD, expires_at=NOW + 86400)
    await store.release_idempotency_key("u:k", "a")
    assert await store.claim_idempotency_key("u:k", "c", now=NOW + 62, expires_at=NOW + 92) == ("b", None)


async def test_a_completed_key_answers_its_record_until_it_expires(store: Any) -> None:
    assert await store.claim_idempotency_key("u:k", "a", now=NOW, expires_at=NOW + 30) == (None, None)
    await store.complete_idempotency_key("u:k", "a", RECORD, expires_at=NOW + 86400)
    holder, record = await store.claim_idempotency_key("u:k", "b", now=NOW + 100, expires_at=NOW + 130)
    assert holder is None and record == RECORD and StoredResponse.loads(record).body == b'{"id":"x"}'
    assert not await store.renew_idempotency_key("u:k", "a", expires_at=NOW + 60)
    await store.release_idempotency_key("u:k", "a")  # a completed key is not released
    assert (await store.claim_idempotency_key("u:k", "b", now=NOW + 200, expires_at=NOW + 230))[1] == RECORD
    assert await store.claim_idempotency_key("u:k", "b", now=NOW + 86400, expires_at=NOW + 86430) == (
        None, None)


async def test_release_frees_the_key_and_purge_drops_expired_rows(stores: Stores) -> None:
    store = await stores.open()
    purged = (lambda n: n == 1) if stores.kind == "sqlite" else (lambda n: n in (0, 1))
    assert await store.claim_idempotency_key("u:k", "a", now=NOW, expires_at=NOW + 30) == (None, None)
    await store.release_idempotency_key("u:k", "b")  # not b's claim
    assert (await store.claim_idempotency_key("u:k", "b", now=NOW, expires_at=NOW + 30))[0] == "a"
    await store.release_idempotency_key("u:k", "a")
    assert await store.claim_idempotency_key("u:k", "b", now=NOW, expires_at=NOW + 30) == (None, None)
    await store.complete_idempotency_key("u:k", "b", RECORD, expires_at=NOW + 100)
    assert await store.claim_idempotency_key("u:j", "c", now=NOW, expires_at=NOW + 10) == (None, None)
    assert purged(await store.purge_idempotency_keys(now=NOW + 50))  # u:j's lapsed claim
    assert (await store.claim_idempotency_key("u:k", "d", now=NOW + 50, expires_at=NOW + 80))[1] == RECORD
    assert purged(await store.purge_idempotency_keys(now=NOW + 100))


async def test_concurrent_claims_across_instances_give_one_owner(stores: Stores) -> None:
    instances = [await stores.open() for _ in range(3)]
    owners = [f"o{i}" for i in range(30)]
    results = await asyncio.gather(*(
        instances[i % 3].claim_idempotency_key("u:race", owner, now=NOW, expires_at=NOW + 30)
        for i, owner in enumerate(owners)))
    winners = [owner for owner, result in zip(owners, results, strict=True) if result == (None, None)]
    assert len(winners) == 1, results
    assert {result[0] for result in results if result != (None, None)} == set(winners)
