"""Personal access tokens on a cluster: revoking one on any instance refuses it at once on
every instance, REST and live channel alike, even while many requests use it."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from tests.cluster.conftest import INSTANCES, LiveClients
from tests.support.cluster import Cluster
from tests.support.live import DEFAULT, WEBSOCKET, Activity, LiveError
from tests.support.restclient import PASSWORD, Person, Rest, register

pytestmark = pytest.mark.cluster


async def _token(rest: Rest, who: Person, scopes: list[str], *, instance: int = 1) -> dict[str, Any]:
    made: dict[str, Any] = await rest.ok("POST", "/users/me/tokens", who, instance=instance,
                                         json={"name": "bot", "scopes": scopes,
                                               "expires_in_days": 1}, status=201)
    return made


async def test_revoke_refuses_the_token_at_once_on_every_instance_and_closes_its_sockets(
        people: dict[str, Person], rest: Rest, live: LiveClients, activity: Activity) -> None:
    ada = people["Ada"]
    board_id = (await rest.new_board(ada))["id"]
    task = await rest.task(ada, board_id, title="watched")
    made = await _token(rest, ada, ["read"])
    secret = made["token"]
    for k in range(1, INSTANCES + 1):
        r = await rest.call("GET", f"/boards/{board_id}", instance=k, token=secret)
        assert r.status_code == 200, (k, r.text)
    # Read-only sockets on two instances: they join and receive, but may not send writes.
    sockets = [await live.connect("py", WEBSOCKET, ada, token=secret, on=1),
               await live.connect("js", DEFAULT, ada, token=secret, on=2)]
    kept = await live.connect("py", DEFAULT, ada, on=1)  # Ada's password login
    for sock in [*sockets, kept]:
        assert (await sock.join(board_id))["ok"] is True, sock
    for sock in sockets:
        refused = await sock.emit("task:editing", {"task_id": task["id"], "editing": True})
        assert refused["ok"] is False, refused
        assert (refused["error"]["status"], refused["error"]["code"]) == (403, "insufficient_scope")
    # A write token's socket may.
    writer = await live.connect("py", DEFAULT, ada, token=(await _token(rest, ada, ["write"]))["token"])
    assert (await writer.join(board_id))["ok"] is True
    allowed = await writer.emit("task:editing", {"task_id": task["id"], "editing": True})
    assert allowed["ok"] is True, allowed
    await rest.task(ada, board_id, title="seen live", instance=3)
    await activity.until(lambda: all(s.log(board_id).last_seq >= 2 for s in sockets), timeout=10,
                         what="the read-only sockets to receive the new task")

    r = await rest.call("DELETE", f"/users/me/tokens/{made['id']}", ada, instance=3)
    assert r.status_code == 204, r.text
    for k in range(1, INSTANCES + 1):
        r = await rest.call("GET", f"/boards/{board_id}", instance=k, token=secret)
        assert r.status_code == 401, (k, r.text)
    await activity.until(
        lambda: all(s.named("auth:revoked") and not s.connected for s in sockets), timeout=5,
        what=lambda: f"auth:revoked and a close on {[s.events for s in sockets]}")
    with pytest.raises(LiveError) as refused_connect:
        await live.connect("py", WEBSOCKET, ada, token=secret)
    assert refused_connect.value.message == "unauthorized"
    assert kept.connected and not kept.named("auth:revoked")


async def test_no_request_succeeds_after_the_delete_returns(
        people: dict[str, Person], rest: Rest) -> None:
    """Many actors use the token on every instance while it is revoked; of the requests sent
    after DELETE's 204 came back, none may succeed (0 of N)."""
    bob = people["Bob"]
    made = await _token(rest, bob, ["read"], instance=2)
    secret = made["token"]
    deleted_at: list[float] = []
    after: list[int] = []  # statuses of requests sent after the 204 returned
    before_ok = 0
    instances = itertools.cycle(range(1, INSTANCES + 1))
    enough, working = asyncio.Event(), asyncio.Event()
    wanted_after = 300

    async def actor() -> None:
        nonlocal before_ok
        while not enough.is_set():
            k = next(instances)
            sent = time.monotonic()
            r = await rest.call("GET", "/users/me", instance=k, token=secret)
            if deleted_at and sent > deleted_at[0]:
                after.append(r.status_code)
                if len(after) >= wanted_after:
                    enough.set()
            elif r.status_code == 200:
                before_ok += 1
                if before_ok >= 30:
                    working.set()

    actors = [asyncio.create_task(actor()) for _ in range(12)]
    try:
        await asyncio.wait_for(working.wait(), timeout=20)  # the token works everywhere
        r = await rest.call("DELETE", f"/users/me/tokens/{made['id']}", bob, instance=1)
        assert r.status_code == 204, r.text
        deleted_at.append(time.monotonic())
        await asyncio.wait_for(enough.wait(), timeout=60)
    finally:
        enough.set()
        await asyncio.gather(*actors, return_exceptions=True)
    succeeded = sum(1 for status in after if status < 400)
    assert succeeded == 0, f"{succeeded} of {len(after)} requests succeeded after the revocation"
    assert set(after) <= {401}, set(after)


async def test_password_change_ends_every_token_on_every_instance(
        cluster: Cluster, rest: Rest, live: LiveClients, activity: Activity) -> None:
    dee = register(cluster, "Dee")  # her own: the password changes
    board_id = (await rest.new_board(dee))["id"]
    secrets_ = [(await _token(rest, dee, [scope], instance=k))["token"]
                for k, scope in ((1, "read"), (2, "admin"))]
    sockets = [await live.connect("py", WEBSOCKET, dee, token=secrets_[0], on=1),
               await live.connect("js", WEBSOCKET, dee, token=secrets_[1], on=2)]
    for sock in sockets:
        assert (await sock.join(board_id))["ok"] is True, sock
    await rest.ok("PATCH", "/users/me", dee, instance=3,
                  json={"password": "a brand new one", "current_password": PASSWORD})
    for secret in secrets_:
        for k in range(1, INSTANCES + 1):
            r = await rest.call("GET", "/users/me", instance=k, token=secret)
            assert r.status_code == 401, (k, r.text)
    await activity.until(
        lambda: all(s.named("auth:revoked") and not s.connected for s in sockets), timeout=5,
        what=lambda: f"auth:revoked and a close on {[s.events for s in sockets]}")
