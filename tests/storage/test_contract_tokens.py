"""The storage contract of personal access tokens (services/personal_tokens.py), on every
store: SQLite, and MongoDB (the emulator, or a real server) with `-m mongo`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from taskflow.domain import PersonalToken
from taskflow.ids import new_id
from taskflow.timefmt import to_ts
from tests.storage.conftest import T0


async def tx(store: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    return await store.transact(lambda t: getattr(t, name)(*args, **kwargs))


def pat(user_id: str, minutes: int = 0, days: int = 30, **changes: Any) -> PersonalToken:
    created = T0 + timedelta(minutes=minutes)
    made = PersonalToken(id=new_id(), user_id=user_id, name="ci", scopes=("read", "write"),
                         token_hash=new_id() + new_id(), created_at=created,
                         expires_at=created + timedelta(days=days))
    return replace(made, **changes)


async def test_tokens_are_found_by_hash_listed_by_user_and_deleted(store: Any) -> None:
    mine = [pat("u", minutes=i) for i in range(5)]
    mine.append(replace(pat("u", minutes=2), id="0" * 24))  # a tie on created_at
    for token in [*mine, pat("other")]:
        await tx(store, "insert_personal_token", token)
    assert await store.select_personal_token(mine[3].token_hash) == mine[3]
    assert await store.select_personal_token("nope") is None
    ordered = sorted(mine, key=lambda t: (to_ts(t.created_at), t.id))
    assert await store.select_personal_tokens("u", limit=50, after=None) == ordered
    pages: list[PersonalToken] = []
    after = None
    while True:
        page = await store.select_personal_tokens("u", limit=2, after=after)
        pages += page
        if len(page) < 2:
            break
        after = (to_ts(page[-1].created_at), page[-1].id)
    assert pages == ordered
    # Only the owner's delete deletes.
    assert await tx(store, "delete_personal_token", "other", mine[0].id) is False
    assert await tx(store, "delete_personal_token", "u", mine[0].id) is True
    assert await store.select_personal_token(mine[0].token_hash) is None
    assert set(await tx(store, "delete_personal_tokens_of_user", "u")) == {t.id for t in mine[1:]}
    assert await store.select_personal_tokens("u", limit=50, after=None) == []
    assert len(await store.select_personal_tokens("other", limit=50, after=None)) == 1


async def test_live_tokens_and_the_purge(store: Any) -> None:
    fresh, old = pat("u", days=30), pat("u", days=1)
    for token in (fresh, old):
        await tx(store, "insert_personal_token", token)
    later = T0 + timedelta(days=2)
    assert set(await store.select_live_personal_tokens([fresh.id, old.id, "gone"], T0)) == {
        fresh.id, old.id}
    assert await store.select_live_personal_tokens([fresh.id, old.id], later) == [fresh.id]
    assert await tx(store, "purge_personal_tokens", later) == 1
    assert await store.select_personal_token(old.token_hash) is None
    assert await store.select_personal_token(fresh.token_hash) == fresh


async def test_touch_keeps_last_use_to_the_minute(store: Any) -> None:
    token = pat("u")
    await tx(store, "insert_personal_token", token)
    used = T0 + timedelta(hours=1)
    await tx(store, "touch_personal_token", token.id, used, unless_since=used - timedelta(minutes=1))
    assert (await store.select_personal_token(token.token_hash)).last_used_at == used
    # Within the minute: unchanged; after it: moved on.
    soon = used + timedelta(seconds=30)
    await tx(store, "touch_personal_token", token.id, soon, unless_since=soon - timedelta(minutes=1))
    assert (await store.select_personal_token(token.token_hash)).last_used_at == used
    later = used + timedelta(minutes=5)
    await tx(store, "touch_personal_token", token.id, later, unless_since=later - timedelta(minutes=1))
    assert (await store.select_personal_token(token.token_hash)).last_used_at == later
