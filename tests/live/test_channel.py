"""The live channel of one real server process, through python-socketio clients."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio

from tests.support.liveclient import LiveClient
from tests.support.processes import TaskflowServer


def _seqs(client: LiveClient, board_id: str) -> list[int]:
    return [e["seq"] for e in client.board_events(board_id)]


async def test_connect_needs_a_valid_token(server: TaskflowServer) -> None:
    for token in ("", "not-a-token"):
        client = LiveClient(server.url, token)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect()
        assert client.connect_error == {"message": "unauthorized"}


async def test_join_ack_and_events_in_order(person: Any, clients: Any) -> None:
    ada = await person("Ada")
    board = await ada.board()
    live = await clients(ada.token)
    ack = await live.join(board["id"])
    assert ack["ok"] is True and ack["seq"] == 0 and ack["events"] == []
    assert ack["presence"] == [{"user_id": ada.id, "name": "Ada"}]
    for i in range(5):
        await ada.task(board, f"t{i}")
    await live.wait_until(lambda: len(live.board_events(board["id"])) == 5)
    events = live.board_events(board["id"])
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert {e["type"] for e in events} == {"task:created"}
    assert set(events[0]) == {"seq", "board_id", "type", "actor_id", "at", "data"}
    assert events[0]["actor_id"] == ada.id


async def test_join_since_returns_exactly_the_missed_events(person: Any, clients: Any) -> None:
    ada = await person()
    board = await ada.board()
    for i in range(4):
        await ada.task(board, f"t{i}")
    live = await clients(ada.token)
    ack = await live.join(board["id"], since=1)
    assert ack["seq"] == 4
    assert [e["seq"] for e in ack["events"]] == [2, 3, 4]
    again = await live.join(board["id"], since=4)
    assert again["events"] == []
    # Ahead of the board: the client's seqs came from another log (a restore): refetch.
    ahead = await live.join(board["id"], since=99)
    assert ahead.get("resync") is True and "events" not in ahead and ahead["seq"] == 4


async def test_join_refusals(person: Any, clients: Any) -> None:
    ada, eve = await person("Ada"), await person("Eve")
    board = await ada.board()
    live = await clients(eve.token)
    refused = await live.join(board["id"])
    assert refused["ok"] is False
    assert (refused["error"]["status"], refused["error"]["code"]) == (404, "not_found")
    for bad in ({"board_id": 7}, {}, {"board_id": board["id"], "since": -1},
                {"board_id": board["id"], "extra": 1}, "just a string", None):
        ack = await live.call("board:join", bad)
        assert ack["ok"] is False and ack["error"]["status"] == 422, bad


async def test_viewers_subscribe_and_leave_stops_delivery(person: Any, clients: Any) -> None:
    ada, vic = await person("Ada"), await person("Vic")
    board = await ada.board()
    await ada.add(board, vic, "viewer")
    watcher, leaver = await clients(ada.token), await clients(vic.token)
    assert (await watcher.join(board["id"]))["ok"]
    assert (await leaver.join(board["id"]))["ok"]
    await ada.task(board, "seen by both")
    await leaver.wait_until(lambda: len(leaver.board_events(board["id"])) == 1)
    assert (await leaver.call("board:leave", {"board_id": board["id"]})) == {"ok": True}
    await ada.task(board, "seen by the watcher only")
    await watcher.wait_until(lambda: len(watcher.board_events(board["id"])) == 2)
    assert _seqs(leaver, board["id"]) == [2]


async def test_presence_and_editing(person: Any, clients: Any) -> None:
    ada, bob = await person("Ada"), await person("Bob")
    board = await ada.board()
    await ada.add(board, bob)
    task = await ada.task(board)
    first, second = await clients(ada.token), await clients(bob.token)
    await first.join(board["id"])
    ack = await second.join(board["id"])
    assert {u["user_id"] for u in ack["presence"]} == {ada.id, bob.id}
    await first.wait_until(lambda: any(len(p["users"]) == 2 for p in first.named("presence")))
    ok = await second.call("task:editing", {"task_id": task["id"], "editing": True})
    assert ok == {"ok": True}
    await first.wait_until(lambda: bool(first.named("task:editing")))
    assert first.named("task:editing") == [{"task_id": task["id"], "user_id": bob.id,
                                            "editing": True}]
    assert second.named("task:editing") == []
    await second.close()
    await first.wait_until(lambda: first.named("presence")[-1]["users"] == [
        {"user_id": ada.id, "name": "Ada"}])


async def test_editing_needs_the_board_joined(person: Any, clients: Any) -> None:
    ada = await person()
    board = await ada.board()
    task = await ada.task(board)
    live = await clients(ada.token)
    ack = await live.call("task:editing", {"task_id": task["id"], "editing": True})
    assert ack["ok"] is False and ack["error"]["status"] == 404


async def test_removed_member_gets_member_removed_last(person: Any, clients: Any) -> None:
    ada, bob = await person("Ada"), await person("Bob")
    board = await ada.board()
    await ada.add(board, bob)
    live = await clients(bob.token)
    await live.join(board["id"])
    await ada.task(board, "before")
    r = await ada.http.delete(f"/api/v1/boards/{board['id']}/members/{bob.id}",
                              headers=ada.headers)
    assert r.status_code == 204
    for i in range(3):
        await ada.task(board, f"after {i}")
    watcher = await clients(ada.token)
    ack = await watcher.join(board["id"], since=0)
    assert ack["seq"] == 6
    await live.wait_until(lambda: any(e["type"] == "member:removed"
                                      for e in live.board_events(board["id"])))
    assert [e["type"] for e in live.board_events(board["id"])] == ["task:created",
                                                                   "member:removed"]
    rejoin = await live.join(board["id"])
    assert rejoin["ok"] is False and rejoin["error"]["status"] == 404


async def test_deleted_board_ends_with_board_deleted(person: Any, clients: Any) -> None:
    ada, bob = await person("Ada"), await person("Bob")
    board = await ada.board()
    await ada.add(board, bob)
    live = await clients(bob.token)
    await live.join(board["id"])
    r = await ada.http.delete(f"/api/v1/boards/{board['id']}", headers=ada.headers)
    assert r.status_code == 204
    await live.wait_until(lambda: bool(live.board_events(board["id"])))
    (last,) = live.board_events(board["id"])
    assert (last["type"], last["seq"], last["data"]) == ("board:deleted", 2, {"id": board["id"]})


async def test_logout_closes_the_connection_with_a_reason(person: Any, clients: Any) -> None:
    ada = await person()
    live = await clients(ada.token)
    r = await ada.http.post("/api/v1/auth/logout", json={"refresh_token": ada.refresh_token},
                            headers=ada.headers)
    assert r.status_code == 204
    await asyncio.wait_for(live.disconnected.wait(), 5)
    assert live.named("auth:revoked") == [{"reason": "login_revoked"}]


async def test_auth_refresh_takes_a_fresh_token_of_the_same_user(http: Any, person: Any,
                                                                 clients: Any) -> None:
    ada, bob = await person("Ada"), await person("Bob")
    live = await clients(ada.token)
    r = await http.post("/api/v1/auth/refresh", json={"refresh_token": ada.refresh_token})
    fresh = r.json()["access_token"]
    ok = await live.call("auth:refresh", {"token": fresh})
    assert ok["ok"] is True and ok["expires_at"].endswith("Z")
    wrong = await live.call("auth:refresh", {"token": bob.token})
    assert wrong["ok"] is False and wrong["error"]["status"] == 401
    junk = await live.call("auth:refresh", {"token": "junk"})
    assert junk["ok"] is False and junk["error"]["status"] == 401


async def test_event_flood_is_refused_and_others_stay_served(person: Any, clients: Any) -> None:
    ada = await person()
    board = await ada.board()
    flooder, calm = await clients(ada.token), await clients(ada.token)
    acks = await asyncio.gather(*(flooder.call("board:leave", {"board_id": board["id"]})
                                  for _ in range(60)))
    refused = [a for a in acks if a["ok"] is False]
    assert refused and all(a["error"]["code"] == "rate_limited" for a in refused)
    assert (await calm.join(board["id"]))["ok"] is True


async def test_oversized_message_closes_only_that_connection(person: Any, clients: Any) -> None:
    ada = await person()
    board = await ada.board()
    big, calm = await clients(ada.token), await clients(ada.token)
    await big.sio.emit("board:join", {"board_id": board["id"], "pad": "x" * 20_000})
    await asyncio.wait_for(big.disconnected.wait(), 5)
    assert (await calm.join(board["id"]))["ok"] is True


async def test_cross_site_origin_is_refused(server: TaskflowServer, person: Any) -> None:
    ada = await person()
    evil = LiveClient(server.url, ada.token, headers={"Origin": "https://evil.example"})
    with pytest.raises(socketio.exceptions.ConnectionError):
        await evil.connect()
    same = LiveClient(server.url, ada.token, headers={"Origin": server.url})
    await same.connect()
    await same.close()


async def test_boards_changed_tells_every_connection_of_the_users_concerned(
        person: Any, clients: Any) -> None:
    """`boards:changed` (beyond CONTRACT v1): a board of the user's appeared, changed or went
    away; it reaches each of their connections, joined to a board or not, and nobody else."""
    ada, bob, eve = await person("Ada"), await person("Bob"), await person("Eve")
    ada_tab = await clients(ada.token)
    bob_tabs = [await clients(bob.token), await clients(bob.token)]
    eve_tab = await clients(eve.token)

    def notices(client: LiveClient) -> list[tuple[str, str]]:
        return [(n["board_id"], n["change"]) for n in client.named("boards:changed")]

    async def expect(client: LiveClient, *seen: tuple[str, str]) -> None:
        await client.wait_until(lambda: notices(client) == list(seen))

    board = await ada.board("Plans")
    b = board["id"]
    await expect(ada_tab, (b, "board:created"))  # the creator's other tabs
    await ada.add(board, bob)
    for tab in bob_tabs:
        await expect(tab, (b, "member:added"))
    await bob_tabs[0].join(b)  # joined or not, the notice comes
    r = await ada.http.patch(f"/api/v1/boards/{b}/members/{bob.id}", json={"role": "viewer"},
                             headers=ada.headers)
    assert r.status_code == 200, r.text
    r = await ada.http.patch(f"/api/v1/boards/{b}", json={"name": "Plans 2"}, headers=ada.headers)
    assert r.status_code == 200, r.text
    r = await ada.http.delete(f"/api/v1/boards/{b}/members/{bob.id}", headers=ada.headers)
    assert r.status_code == 204, r.text
    for tab in bob_tabs:
        await expect(tab, (b, "member:added"), (b, "member:updated"), (b, "board:updated"),
                     (b, "member:removed"))
    await ada.add(board, bob)
    r = await ada.http.delete(f"/api/v1/boards/{b}", headers=ada.headers)
    assert r.status_code == 204, r.text
    await expect(ada_tab, (b, "board:created"), (b, "board:updated"), (b, "board:deleted"))
    for tab in bob_tabs:
        await expect(tab, (b, "member:added"), (b, "member:updated"), (b, "board:updated"),
                     (b, "member:removed"), (b, "member:added"), (b, "board:deleted"))
    # Eve's first notice is her own board: she heard none of the notices sent before it.
    own = await eve.board()
    await expect(eve_tab, (own["id"], "board:created"))
