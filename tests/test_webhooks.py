"""/boards/{id}/webhooks through the real app: who may manage them, what is validated, what
URLs are refused at creation (SSRF), and what a board's deletion does to them. Delivery
itself runs on real processes: tests/test_webhook_delivery.py."""

from __future__ import annotations

from typing import Any

from taskflow.domain import EVENT_TYPES
from tests.support.api import Account, make_board, problem, register

PUBLIC = "https://93.184.215.14/hook"  # a global address literal: no DNS needed
REFUSED = [
    "http://127.0.0.1/x", "http://127.1/x", "http://2130706433/x", "http://0x7f000001/x",
    "http://0177.0.0.1/x", "http://localhost:8080/x", "http://api.localhost/x",
    "http://LOCALHOST./x", "http://[::1]/x", "http://[::ffff:127.0.0.1]/x",
    "http://[::ffff:7f00:1]/x", "http://10.0.0.8/x", "http://172.16.3.4/x",
    "http://192.168.1.1/x", "http://[fd12::1]/x", "http://100.64.0.1/x",
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/x",
    "http://100.100.100.200/x", "http://metadata.google.internal/x", "http://[fe80::1]/x",
    "http://[::ffff:169.254.169.254]/x", "http://0.0.0.0/x", "http://0/x", "http://[::]/x",
    "http://224.0.0.1/x", "http://255.255.255.255/x", "http://[64:ff9b::a9fe:a9fe]/x",
    "ftp://93.184.215.14/x", "file:///etc/passwd", "gopher://93.184.215.14/x",
    "http://user:pw@93.184.215.14/x", "http://93.184.215.14@127.0.0.1/x", "not a url",
]


def base(board: dict[str, Any]) -> str:
    return f"/api/v1/boards/{board['id']}/webhooks"


async def create(client: Any, who: Account, board: dict[str, Any], **body: Any) -> Any:
    return await client.post(base(board), headers=who.headers,
                             json={"url": PUBLIC, **body})


async def test_owner_manages_webhooks_and_the_secret_is_shown_once(client: Any) -> None:
    ann = await register(client, name="Ann")
    board = await make_board(client, ann)
    r = await create(client, ann, board, events=["task:created", "task:created", "board:updated"])
    assert r.status_code == 201, await r.get_data(as_text=True)
    made = await r.get_json()
    assert made["secret"].startswith("whsec_") and len(made["secret"]) >= 6 + 32
    assert made["events"] == ["task:created", "board:updated"] and made["active"] is True
    everything = await (await create(client, ann, board, events=[])).get_json()
    assert everything["events"] == ["*"]
    assert (await (await create(client, ann, board, events=["*", "task:created"])).get_json()
            )["events"] == ["*"]
    got = await (await client.get(f"{base(board)}/{made['id']}", headers=ann.headers)).get_json()
    assert "secret" not in got and got["url"] == PUBLIC
    page = await (await client.get(f"{base(board)}?limit=2", headers=ann.headers)).get_json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await (await client.get(f"{base(board)}?limit=2&cursor={page['next_cursor']}",
                                   headers=ann.headers)).get_json()
    assert page["items"][0]["id"] == made["id"]
    assert len(page["items"] + rest["items"]) == 3 and rest["next_cursor"] is None
    r = await client.patch(f"{base(board)}/{made['id']}", headers=ann.headers,
                           json={"events": ["comment:created"], "active": False})
    patched = await r.get_json()
    assert (patched["events"], patched["active"]) == (["comment:created"], False)
    deliveries = await client.get(f"{base(board)}/{made['id']}/deliveries", headers=ann.headers)
    assert (await deliveries.get_json()) == {"items": [], "next_cursor": None}
    assert (await client.delete(f"{base(board)}/{made['id']}",
                                headers=ann.headers)).status_code == 204
    await problem(await client.get(f"{base(board)}/{made['id']}", headers=ann.headers), 404)


async def test_only_the_owner_and_strangers_see_nothing(client: Any) -> None:
    ann, ed, vi, eve = [await register(client, name=n) for n in ("Ann", "Ed", "Vi", "Eve")]
    board = await make_board(client, ann, members={"e": ed, "v": vi}, roles={"v": "viewer"})
    made = await (await create(client, ann, board)).get_json()
    one = f"{base(board)}/{made['id']}"
    for who, status in ((ed, 403), (vi, 403), (eve, 404)):
        await problem(await create(client, who, board), status)
        await problem(await client.get(base(board), headers=who.headers), status)
        await problem(await client.get(one, headers=who.headers), status)
        await problem(await client.patch(one, headers=who.headers, json={"active": False}),
                      status)
        await problem(await client.delete(one, headers=who.headers), status)
        await problem(await client.get(f"{one}/deliveries", headers=who.headers), status)
    other = await make_board(client, eve)
    await problem(await client.get(f"{base(other)}/{made['id']}", headers=eve.headers), 404)


async def test_validation(client: Any) -> None:
    ann = await register(client, name="Ann")
    board = await make_board(client, ann)
    body = await problem(await create(client, ann, board, events=["task:exploded"]), 422,
                         "validation_failed")
    assert body["errors"][0]["loc"] == ["body", "events"]
    await problem(await create(client, ann, board, secret="whsec_mine"), 422)
    await problem(await create(client, ann, board, active=False), 422)
    assert set(EVENT_TYPES) >= {"task:created", "board:deleted"}


async def test_ssrf_refused_at_creation_and_on_change(client: Any) -> None:
    ann = await register(client, name="Ann")
    board = await make_board(client, ann)
    made = await (await create(client, ann, board)).get_json()
    admitted = []
    for url in REFUSED:
        r = await client.post(base(board), headers=ann.headers, json={"url": url})
        if r.status_code != 422:
            admitted.append(url)
            continue
        body = await problem(r, 422, "validation_failed")
        assert body["errors"][0]["loc"] == ["body", "url"]
        await problem(await client.patch(f"{base(board)}/{made['id']}", headers=ann.headers,
                                         json={"url": url}), 422, "validation_failed")
    assert admitted == []
    listed = await (await client.get(base(board), headers=ann.headers)).get_json()
    assert [w["url"] for w in listed["items"]] == [PUBLIC]


async def test_board_deletion_deletes_its_webhooks(client: Any) -> None:
    ann = await register(client, name="Ann")
    board = await make_board(client, ann)
    made = await (await create(client, ann, board)).get_json()
    assert (await client.delete(f"/api/v1/boards/{board['id']}",
                                headers=ann.headers)).status_code == 204
    await problem(await client.get(f"{base(board)}/{made['id']}", headers=ann.headers), 404)
    store = client.app.extensions["taskflow"].store
    assert await store.select_webhook(board["id"], made["id"]) is None
    assert [w for w in await store.select_active_webhooks(limit=100)
            if w.board_id == board["id"]] == []
