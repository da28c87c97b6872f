"""GET /api/v1/search through the real app: visibility, the query language, paging, errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from taskflow.config import RateLimits
from tests.support.api import Account, make_board, make_task, problem, register


async def search(client: Any, who: Account, q: str, **params: Any) -> dict[str, Any]:
    r = await client.get(f"/api/v1/search?{urlencode({'q': q, **params})}", headers=who.headers)
    assert r.status_code == 200, await r.get_data(as_text=True)
    body: dict[str, Any] = await r.get_json()
    return body


def titles(body: dict[str, Any]) -> list[str]:
    return [item["task"]["title"] for item in body["items"]]


@pytest.fixture
async def world(client: Any) -> dict[str, Any]:
    ada = await register(client, name="Ada")
    bob = await register(client, name="Bob")
    eve = await register(client, name="Eve")
    team = await make_board(client, ada, name="Team Board", members={"b": bob},
                            roles={"b": "viewer"})
    side = await make_board(client, bob, name="Side")
    secret = await make_board(client, eve, name="Secret")
    return {"ada": ada, "bob": bob, "eve": eve, "team": team, "side": side, "secret": secret}


async def test_searches_every_visible_board_and_never_others(client: Any,
                                                             world: dict[str, Any]) -> None:
    ada, bob, eve = world["ada"], world["bob"], world["eve"]
    await make_task(client, ada, world["team"]["id"], title="Quarterly report")
    await make_task(client, bob, world["side"]["id"], title="report draft",
                    description="for the quarterly meeting")
    await make_task(client, eve, world["secret"]["id"], title="Quarterly report secret")
    body = await search(client, bob, "quarterly report")
    # Newest change first.
    assert titles(body) == ["report draft", "Quarterly report"]
    first = body["items"][1]
    assert first["board"] == {"id": world["team"]["id"], "name": "Team Board"}
    assert first["matched_in"] == ["title"]
    assert body["items"][0]["matched_in"] == ["title", "description"]
    assert set(first["task"]) >= {"id", "board_id", "title", "status", "version"}
    assert titles(await search(client, ada, "quarterly")) == ["Quarterly report"]
    # A board the caller can't see never appears, even by name.
    assert titles(await search(client, ada, 'board:"Secret" quarterly')) == []
    assert titles(await search(client, ada, 'board:"secret"')) == []
    assert titles(await search(client, eve, 'board:"Secret"')) == ["Quarterly report secret"]


async def test_comments_are_searched_and_leave_with_their_deletion(client: Any,
                                                                   world: dict[str, Any]) -> None:
    ada = world["ada"]
    task = await make_task(client, ada, world["team"]["id"], title="Plain")
    r = await client.post(f"/api/v1/tasks/{task['id']}/comments", json={"body": "ping @bob"},
                          headers=ada.headers)
    comment = await r.get_json()
    body = await search(client, ada, "ping")
    assert [i["matched_in"] for i in body["items"]] == [["comments"]]
    await client.delete(f"/api/v1/tasks/{task['id']}/comments/{comment['id']}",
                        headers=ada.headers)
    assert titles(await search(client, ada, "ping")) == []


async def test_filters_combine_with_words(client: Any, world: dict[str, Any]) -> None:
    ada, bob = world["ada"], world["bob"]
    board = world["team"]["id"]
    await make_task(client, ada, board, title="alpha one", assignee_id=ada.id, tags=["x"],
                    status="done")
    await make_task(client, ada, board, title="alpha two", assignee_id=bob.id,
                    due_date="2000-01-01")
    await make_task(client, ada, board, title="alpha three", tags=["x", "y"])
    assert titles(await search(client, ada, "alpha assignee:me")) == ["alpha one"]
    assert titles(await search(client, bob, "assignee:me")) == ["alpha two"]
    assert titles(await search(client, ada, f"assignee:{bob.email}")) == ["alpha two"]
    assert titles(await search(client, ada, "assignee:nobody@example.com")) == []
    assert titles(await search(client, ada, "alpha assignee:none")) == ["alpha three"]
    assert titles(await search(client, ada, "status:done")) == ["alpha one"]
    assert titles(await search(client, ada, "tag:x tag:y")) == ["alpha three"]
    assert titles(await search(client, ada, "due:overdue")) == ["alpha two"]
    assert titles(await search(client, ada, "due:<7d alpha")) == ["alpha two"]
    assert titles(await search(client, ada, "due:>1w")) == []
    # Filters only: newest change first.
    assert titles(await search(client, ada, 'board:"team board"')) == [
        "alpha three", "alpha two", "alpha one"]


@pytest.mark.parametrize("q", ["%", "_", "a.*", '"', '"unbalanced', "NEAR(a b)", "a OR b", "*",
                               "(", ")", "^x", "-x", "x:y:z", "\\", "'", "[", "{"])
async def test_hostile_input_never_errors_nor_matches_everything(client: Any, world: dict[str, Any],
                                                                 q: str) -> None:
    ada = world["ada"]
    await make_task(client, ada, world["team"]["id"], title="plain words")
    r = await client.get(f"/api/v1/search?{urlencode({'q': q})}", headers=ada.headers)
    if r.status_code == 422:
        await problem(r, 422)
        return
    assert r.status_code == 200, await r.get_data(as_text=True)
    assert titles(await r.get_json()) == []


@pytest.mark.parametrize(("q", "code", "part"), [
    ("colour:red", "unknown_filter", "colour:"),
    ("status:later", "invalid_search", "status:later"),
    ("due:tomorrow", "invalid_search", "due:tomorrow"),
    ("assignee:bob", "invalid_search", "assignee:bob"),
    ("w " * 21, "too_many_terms", "w"),
    ("   ", "invalid_search", "   "),
])
async def test_bad_queries_are_422_naming_the_part(client: Any, world: dict[str, Any], q: str,
                                                   code: str, part: str) -> None:
    r = await client.get(f"/api/v1/search?{urlencode({'q': q})}", headers=world["ada"].headers)
    body = await problem(r, 422, code)
    assert body["errors"][0]["part"] == part


async def test_query_limits_and_auth(client: Any, world: dict[str, Any]) -> None:
    ada = world["ada"]
    r = await client.get(f"/api/v1/search?{urlencode({'q': 'x' * 501})}", headers=ada.headers)
    await problem(r, 422, "validation_failed")
    await problem(await client.get("/api/v1/search?q=x"), 401)
    await problem(await client.get("/api/v1/search", headers=ada.headers), 422)
    r = await client.get("/api/v1/search?q=x&limit=0", headers=ada.headers)
    await problem(r, 422, "validation_failed")


async def test_cursor_pages_cover_every_hit_once(client: Any, world: dict[str, Any]) -> None:
    ada = world["ada"]
    for n in range(7):
        await make_task(client, ada, world["team"]["id"], title=f"page item {n}",
                        description="page" if n % 2 else "")
    full = await search(client, ada, "page", limit=50)
    assert len(full["items"]) == 7 and full["next_cursor"] is None
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await search(client, ada, "page", **params)
        seen.extend(item["task"]["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [item["task"]["id"] for item in full["items"]]
    page = await search(client, ada, "page", limit=3)
    # A cursor belongs to its query.
    r = await client.get(f"/api/v1/search?{urlencode({'q': 'other', 'cursor': page['next_cursor']})}",
                         headers=ada.headers)
    await problem(r, 422, "validation_failed")
    r = await client.get("/api/v1/search?q=page&cursor=garbage", headers=ada.headers)
    await problem(r, 422, "validation_failed")


async def test_search_has_its_own_rate_limit(make_settings: Any) -> None:
    from taskflow.app import create_app

    settings = make_settings(rate_limits=RateLimits(enabled=True, api_per_user="2000/minute",
                                                    search_per_user="3/minute"))
    app = create_app(settings)
    async with app.test_app():
        client = app.test_client()
        ada = await register(client, name="Ada")
        for _ in range(3):
            await search(client, ada, "x")
        r = await client.get("/api/v1/search?q=x", headers=ada.headers)
        await problem(r, 429, "rate_limited")
        # Other reads still answer.
        assert (await client.get("/api/v1/boards", headers=ada.headers)).status_code == 200
