"""Issue #3: who may be on the live channel, across instances.

A removed member (or everyone, for a deleted board) stops receiving the board's events at
once on every instance: `member:removed` (`board:deleted`) is the last board event its
sockets get while others keep changing the board through other instances, and joining
again answers 404. Connects need a valid token and an allowed Origin (or none); a logout
ends that login's connections on whatever instance they are.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.cluster.conftest import KINDS, LiveClients
from tests.support.cluster import Cluster
from tests.support.live import DEFAULT, WEBSOCKET, Activity, LiveClient, LiveError
from tests.support.processes import http_request
from tests.support.restclient import PASSWORD, Person, Rest, TaskWriter

pytestmark = pytest.mark.cluster

ALLOWED_ORIGIN = "https://app.example"


@pytest.fixture(scope="module")
def cluster_env() -> dict[str, str]:
    return {"CORS_ORIGINS": ALLOWED_ORIGIN}


async def _join_all(clients: list[LiveClient], *board_ids: str) -> None:
    for client in clients:
        for board_id in board_ids:
            ack = await client.join(board_id)
            assert ack["ok"] is True, (client.label, ack)


def _last_seq_received(client: LiveClient, board_id: str) -> int:
    return max((r.env["seq"] for r in client.log(board_id).received), default=0)


async def test_removed_member_gets_nothing_after_member_removed(
        people: dict[str, Person], rest: Rest, live: LiveClients, activity: Activity) -> None:
    ada, bob, cy = people["Ada"], people["Bob"], people["Cy"]
    board_id = (await rest.new_board(ada, {"editor": bob, "viewer": cy}))["id"]
    # Unassigned in the removal's own transaction: a task:updated right after member:removed.
    bobs_task = await rest.task(ada, board_id, title="Bob's", assignee_id=bob.id)
    # Bob on two instances; a watcher of the board beside each of his sockets, and one more.
    bob_sockets = [await live.connect("py", WEBSOCKET, bob, on=1),
                   await live.connect("js", DEFAULT, bob, on=2)]
    watchers = [await live.connect("js", WEBSOCKET, cy, on=1),
                await live.connect("py", DEFAULT, cy, on=2),
                await live.connect("py", WEBSOCKET, ada, on=3)]
    await _join_all(bob_sockets + watchers, board_id)

    # Ada keeps changing the board through every instance, before and after the removal.
    writer = TaskWriter(rest, ada, board_id, activity, routes=(1, 2, 3), pace=0.05).start()
    try:
        await writer.wait_acked(4, timeout=15, what="before the removal")
        await rest.ok("DELETE", f"/boards/{board_id}/members/{bob.id}", ada, instance=3, status=204)
        items, _ = await rest.events(ada, board_id)
        removed = next(e["seq"] for e in items
                       if e["type"] == "member:removed" and e["data"]["user_id"] == bob.id)
        await activity.until(
            lambda: all(w.log(board_id).last_seq >= removed + 8 for w in watchers), timeout=15,
            what=lambda: f"watchers to see 8 events after member:removed #{removed}: "
                         f"{[w.log(board_id).last_seq for w in watchers]}")
    finally:
        await writer.stop()

    items, latest = await rest.events(ada, board_id)
    unassigned = items[removed]  # seq removed + 1
    assert (unassigned["type"], unassigned["data"]["id"], unassigned["data"]["assignee_id"]) == \
        ("task:updated", bobs_task["id"], None)
    for sock in bob_sockets:
        log = sock.log(board_id)
        # Everything up to the removal, in order; then nothing, on either instance.
        assert log.seqs() == list(range(1, removed + 1)), (sock.label, log.seqs()[-5:], removed)
        assert log.received[-1].env["type"] == "member:removed", (sock.label, log.received_types()[-5:])
        assert log.received[-1].env["data"] == {"user_id": bob.id}
        assert _last_seq_received(sock, board_id) == removed, (sock.label, log.received_types()[-5:])
        assert sock.connected, sock  # removed from the board, not disconnected
        refused = await sock.join(board_id)
        assert refused["ok"] is False and refused["error"]["status"] == 404, (sock.label, refused)

    # The refused joins let nothing through either: more changes, seen by the watchers only.
    for k in (1, 2, 3):
        await rest.task(ada, board_id, instance=k, title=f"after the refused join #{k}")
    await activity.until(lambda: all(w.log(board_id).last_seq >= latest + 3 for w in watchers),
                         timeout=10, what="watchers to see the last changes")
    for sock in bob_sockets:
        assert _last_seq_received(sock, board_id) == removed, \
            (sock.label, sock.log(board_id).received_types()[-5:])
    logged = (await rest.events(ada, board_id))[0]
    for watcher in watchers:
        # The log no longer shows a departed member's email (live, it went to the members
        # of the time); everything else is the same, event for event.
        assert _blank_emails_of(watcher.log(board_id).applied, {bob.id}) == logged


def _blank_emails_of(value: Any, user_ids: set[str]) -> Any:
    if isinstance(value, dict):
        if "email" in value and value.get("user_id") in user_ids:
            value = {**value, "email": ""}
        return {key: _blank_emails_of(item, user_ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_blank_emails_of(item, user_ids) for item in value]
    return value


async def test_deleted_board_gets_nothing_after_board_deleted(
        people: dict[str, Person], rest: Rest, live: LiveClients, activity: Activity) -> None:
    ada, bob = people["Ada"], people["Bob"]
    board_id = (await rest.new_board(ada, {"editor": bob}, name="Doomed"))["id"]
    other_id = (await rest.new_board(ada, {"editor": bob}, name="Control"))["id"]
    sockets = [await live.connect(kind, tr, (ada, bob)[i % 2], on=1 + i % 3)
               for i, (kind, tr) in enumerate(KINDS)]
    await _join_all(sockets, board_id, other_id)

    writer = TaskWriter(rest, bob, board_id, activity, routes=(1, 2, 3), pace=0.05).start()
    try:
        await writer.wait_acked(4, timeout=15, what="before the deletion")
        await rest.ok("DELETE", f"/boards/{board_id}", ada, instance=2, status=204)
        # The writer goes on until the board is gone for it too.
        await activity.until(lambda: sum(" 404 " in f for f in writer.failures) >= 3, timeout=10,
                             what=lambda: f"writes refused after the deletion: {writer.failures}")
    finally:
        await writer.stop()
    # A change on another board the same sockets watch, through a third instance: once it
    # has reached them all, so would anything still on its way about the deleted board.
    flush = len((await rest.events(ada, other_id))[0]) + 1
    await rest.task(ada, other_id, instance=3, title="flush")
    await activity.until(lambda: all(s.log(other_id).last_seq >= flush for s in sockets), timeout=10,
                         what=lambda: str([s.log(other_id).seqs() for s in sockets]))

    ends = set()
    for sock in sockets:
        log = sock.log(board_id)
        seqs = log.seqs()
        assert seqs == list(range(1, len(seqs) + 1)), (sock.label, seqs[-5:])
        assert log.applied[-1]["type"] == "board:deleted", (sock.label, log.received_types()[-5:])
        assert log.applied[-1]["data"] == {"id": board_id}
        assert log.received[-1].env["type"] == "board:deleted", (sock.label, log.received_types()[-5:])
        assert _last_seq_received(sock, board_id) == seqs[-1]
        created = {e["data"]["id"] for e in log.applied if e["type"] == "task:created"}
        assert {t["id"] for t in writer.acked} <= created, sock.label
        ends.add(seqs[-1])
        refused = await sock.join(board_id)
        assert refused["ok"] is False and refused["error"]["status"] == 404, (sock.label, refused)
    assert len(ends) == 1, ends
    assert len(sockets[0].log(board_id).applied) == 1 + len(writer.acked) + 1  # member:added .. board:deleted
    for sock in sockets[1:]:  # all hold the same events
        diff = [(a, b) for a, b in zip(sockets[0].log(board_id).applied, sock.log(board_id).applied,
                                       strict=True) if a != b]
        assert diff == [], (sockets[0].label, sock.label, diff)


@pytest.mark.parametrize("transports", [DEFAULT, WEBSOCKET], ids=["default", "websocket"])
async def test_origin_must_be_allowed_or_absent(
        cluster: Cluster, people: dict[str, Person], live: LiveClients, transports: tuple[str, ...],
        ) -> None:
    ada = people["Ada"]
    refused = ("https://evil.example", "http://127.0.0.1:1", f"{ALLOWED_ORIGIN}.evil.example")
    for origin in refused:
        with pytest.raises(LiveError):
            await live.connect("py", transports, ada, headers={"Origin": origin})
    # What the handshake itself answers, through nginx (engine.io's own 400, not a 5xx).
    handshake = "/socket.io/?EIO=4&transport=polling"
    for origin in refused:
        r = await asyncio.to_thread(http_request, cluster.port, "GET", handshake,
                                    headers={"Origin": origin})
        assert r.status == 400, (origin, r.status, r.body)
    r = await asyncio.to_thread(http_request, cluster.port, "GET", handshake,
                                headers={"Origin": ALLOWED_ORIGIN})
    assert r.status == 200 and b'"sid"' in r.body, (r.status, r.body)
    for headers in ({}, {"Origin": ALLOWED_ORIGIN},
                    {"Origin": f"http://127.0.0.1:{cluster.port}"}):  # the server's own origin
        client = await live.connect("py", transports, ada, headers=headers)
        assert client.connected and client.instance in {"i1", "i2", "i3"}, headers


async def test_connect_needs_a_valid_token(people: dict[str, Person], live: LiveClients) -> None:
    for kind, transports in KINDS:
        for token in ("not-a-token", people["Ada"].token[:-4] + "AAAA"):
            with pytest.raises(LiveError) as refused:
                await live.connect(kind, transports, people["Ada"], token=token)
            assert refused.value.message == "unauthorized", (kind, transports)


async def test_logout_ends_that_logins_connections_on_every_instance(
        people: dict[str, Person], rest: Rest, live: LiveClients, activity: Activity) -> None:
    ada = people["Ada"]
    session: dict[str, Any] = await rest.ok("POST", "/auth/login", json={
        "email": ada.email, "password": PASSWORD})
    token, refresh = session["access_token"], session["refresh_token"]
    board_id = (await rest.new_board(ada))["id"]
    ended = [await live.connect("py", DEFAULT, ada, token=token, on=1),
             await live.connect("js", WEBSOCKET, ada, token=token, on=2)]
    kept = await live.connect("js", DEFAULT, ada, on=3)  # Ada's other login
    await _join_all([*ended, kept], board_id)

    logging_out = time.monotonic()
    r = await rest.http.post(rest.url("/auth/logout", 3), json={"refresh_token": refresh},
                             headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204, r.text
    await activity.until(
        lambda: all(c.named("auth:revoked") and c.disconnects for c in ended), timeout=5,
        what=lambda: f"auth:revoked and a disconnect on {ended}: {[c.events for c in ended]}")
    took = max(c.disconnects[-1][0] for c in ended) - logging_out
    print(f"\nlogout: both sockets closed {took:.3f}s after POST /auth/logout was sent")
    for client in ended:
        assert client.named("auth:revoked") == [{"reason": "login_revoked"}], client.events
        assert client.disconnects[-1][0] >= logging_out
    # That login is over for the live channel too, though its access token has not expired.
    for kind, transports in KINDS:
        with pytest.raises(LiveError) as refused:
            await live.connect(kind, transports, ada, token=token)
        assert refused.value.message == "unauthorized"
    # The other login is untouched.
    assert kept.connected and len(kept.connects) == 1 and not kept.named("auth:revoked")
    assert (await kept.join(board_id))["ok"] is True
    for client in ended:
        assert len(client.connects) == 1, client  # a closed login does not come back by itself


async def test_boards_changed_reaches_the_users_connections_on_every_instance(
        people: dict[str, Person], rest: Rest, live: LiveClients, activity: Activity) -> None:
    """`boards:changed` (beyond CONTRACT v1) crosses instances like `auth:revoked`, to the
    user's connections only, joined to a board or not."""
    ada, bob, cy = people["Ada"], people["Bob"], people["Cy"]
    bobs = [await live.connect("py", DEFAULT, bob, on=1),
            await live.connect("js", WEBSOCKET, bob, on=2),
            await live.connect("js", DEFAULT, bob, on=3)]
    cys = [await live.connect("py", WEBSOCKET, cy, on=k) for k in (2, 3)]
    board_id = (await rest.new_board(ada))["id"]
    await rest.ok("POST", f"/boards/{board_id}/members", ada, instance=1,
                  json={"email": bob.email, "role": "editor"}, status=201)
    await rest.ok("DELETE", f"/boards/{board_id}/members/{bob.id}", ada, instance=2, status=204)
    # Published by two instances: each connection gets both, in either order (a notice
    # only says "read the list again").
    want = sorted(["member:added", "member:removed"])
    await activity.until(
        lambda: all(sorted(n["change"] for n in c.named("boards:changed")) == want
                    and {n["board_id"] for n in c.named("boards:changed")} == {board_id}
                    for c in bobs),
        timeout=5, what=lambda: str({c.label: c.named("boards:changed") for c in bobs}))
    # Cy's first notice is his own board: none of Bob's reached him, on any instance.
    own = (await rest.ok("POST", "/boards", cy, instance=1, json={"name": "Cy's"},
                         status=201))["id"]
    await activity.until(
        lambda: all(c.named("boards:changed") == [{"board_id": own, "change": "board:created"}]
                    for c in cys), timeout=5,
        what=lambda: str({c.label: c.named("boards:changed") for c in cys}))
