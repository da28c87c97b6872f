"""Personal access tokens on a cluster: revoking one on any instance refuses it at once on
every instance, REST and live channel alike, even while many requests use it; a password
change or the account's deletion ends them all."""

from __future__ import annotations

import asyncio
import collections
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


async def test_account_deletion_ends_everything_of_it_on_every_instance(
        cluster: Cluster, rest: Rest, live: LiveClients, activity: Activity) -> None:
    """DELETE /users/me: its tokens, logins and sockets end everywhere, it leaves others'
    boards (unassigned, live), its own board goes, and its email can register again."""
    ada, eve = register(cluster, "Ada"), register(cluster, "Eve")
    shared = (await rest.new_board(ada, {"editor": eve}))["id"]
    assigned = await rest.task(ada, shared, title="Eve's job", assignee_id=eve.id)
    own = (await rest.new_board(eve, name="Eve's notes"))["id"]
    await rest.ok("POST", f"/tasks/{assigned['id']}/comments", eve, json={"body": "on it"},
                  status=201)
    secrets_ = [(await _token(rest, eve, [scope], instance=k))["token"]
                for k, scope in ((1, "read"), (2, "admin"))]
    sockets = [await live.connect("py", WEBSOCKET, eve, token=secrets_[0], on=1),
               await live.connect("js", DEFAULT, eve, on=2)]  # her password login
    watcher = await live.connect("py", DEFAULT, ada, on=3)
    for sock in [*sockets, watcher]:
        assert (await sock.join(shared))["ok"] is True, sock

    # Not with a token (even admin), not with a wrong password.
    r = await rest.call("DELETE", "/users/me", instance=2, token=secrets_[1],
                        json={"current_password": PASSWORD})
    assert (r.status_code, r.json()["code"], r.json()["required_scope"]) == (
        403, "insufficient_scope", "session"), r.text
    r = await rest.call("DELETE", "/users/me", eve, instance=1, json={"current_password": "nope"})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden"), r.text
    r = await rest.call("DELETE", "/users/me", eve, instance=1, json={})
    assert r.status_code == 422, r.text
    # A board of hers that others use holds the deletion back, naming it.
    await rest.ok("POST", f"/boards/{own}/members", eve, json={"email": ada.email, "role": "viewer"},
                  status=201)
    r = await rest.call("DELETE", "/users/me", eve, instance=1, json={"current_password": PASSWORD})
    assert (r.status_code, r.json()["code"]) == (409, "owns_shared_boards"), r.text
    assert r.json()["boards"] == [{"id": own, "name": "Eve's notes"}]
    await rest.ok("DELETE", f"/boards/{own}/members/{ada.id}", eve, status=204)

    await rest.ok("DELETE", "/users/me", eve, instance=3, json={"current_password": PASSWORD},
                  status=204)
    for secret in secrets_:
        for k in range(1, INSTANCES + 1):
            r = await rest.call("GET", "/users/me", instance=k, token=secret)
            assert r.status_code == 401, (k, r.text)
    for k in range(1, INSTANCES + 1):  # her session's access token reaches nothing of hers
        r = await rest.call("GET", "/users/me", eve, instance=k)
        assert r.status_code == 401, (k, r.text)
        r = await rest.call("POST", "/boards", eve, instance=k, json={"name": "ghost"})
        assert r.status_code == 401, (k, r.text)
        r = await rest.call("GET", f"/boards/{shared}", eve, instance=k)
        assert r.status_code == 404, (k, r.text)
    r = await rest.call("POST", "/auth/refresh", json={"refresh_token": eve.refresh_token})
    assert r.status_code == 401, r.text
    await activity.until(
        lambda: all(s.named("auth:revoked") and not s.connected for s in sockets), timeout=5,
        what=lambda: f"auth:revoked and a close on {[s.events for s in sockets]}")
    # Ada saw her leave and the task unassigned, live; the comment stays, signed anew.
    await activity.until(
        lambda: {"member:removed", "task:updated"} <= {e["type"] for e in watcher.log(shared).applied},
        timeout=10, what=lambda: f"member:removed and task:updated in {watcher.log(shared).seqs()}")
    board = await rest.ok("GET", f"/boards/{shared}", ada)
    assert [m["user_id"] for m in board["members"]] == [ada.id]
    assert (await rest.ok("GET", f"/tasks/{assigned['id']}", ada))["assignee_id"] is None
    comments = await rest.ok("GET", f"/tasks/{assigned['id']}/comments", ada)
    comments = comments["items"] if isinstance(comments, dict) else comments
    assert [(c["body"], c["author_id"]) for c in comments] == [("on it", eve.id)]
    entries = (await rest.ok("GET", f"/tasks/{assigned['id']}/activity", ada))["items"]
    assert {e["actor"]["name"] for e in entries if e["actor"]["user_id"] == eve.id} == {"Deleted user"}
    exported = await rest.ok("GET", f"/boards/{shared}/export", ada)
    assert [(c["author_email"], c["author_name"]) for t in exported["tasks"] for c in t["comments"]] == [
        (None, "Deleted user")]
    r = await rest.call("GET", f"/boards/{own}", ada)
    assert r.status_code == 404, r.text
    # Her email is free; the new account is a stranger to her old boards.
    r = await rest.call("POST", "/auth/login", json={"email": eve.email, "password": PASSWORD})
    assert r.status_code == 401, r.text
    r = await rest.call("POST", "/auth/register",
                        json={"email": eve.email, "password": PASSWORD, "name": "Eve again"})
    assert r.status_code == 201, r.text
    again = r.json()
    assert again["user"]["id"] != eve.id
    r = await rest.call("GET", "/boards", token=again["access_token"])
    assert not {shared, own} & {b["id"] for b in r.json()["items"]}, r.text  # (only her starter board)


async def test_account_deletion_racing_invitations_leaves_no_member_behind(
        cluster: Cluster, rest: Rest) -> None:
    """Each round, while the user deletes their account on one instance, the owner of another
    board keeps inviting and removing them on a second, and they keep sharing and unsharing
    their own board on a third, until the deletion answers. Whatever the order, a deleted
    account is a member of nothing and its board is gone, and a refused deletion (409, a
    share in place when it ran) leaves the account whole (0 bad rounds of N)."""
    rounds, bad = 10, []
    outcomes: collections.Counter[int] = collections.Counter()
    bob = register(cluster, "Bob")

    async def toggle(who: Person, board_id: str, member: Person, instance: int, role: str,
                     done: asyncio.Event, answers: collections.Counter[int]) -> None:
        for _ in range(60):  # bounded: the users' API limit is on
            if done.is_set():
                return
            r = await rest.call("POST", f"/boards/{board_id}/members", who, instance=instance,
                                json={"email": member.email, "role": role})
            answers[r.status_code] += 1
            r = await rest.call("DELETE", f"/boards/{board_id}/members/{member.id}", who,
                                instance=instance)
            answers[r.status_code] += 1

    async def delete(eve: Person, done: asyncio.Event) -> Any:
        try:
            return await rest.call("DELETE", "/users/me", eve, instance=1,
                                   json={"current_password": PASSWORD})
        finally:
            done.set()

    for n in range(rounds):
        ada, eve = register(cluster, f"Ada{n}"), register(cluster, f"Eve{n}")
        theirs = (await rest.new_board(ada, name=f"Ada's {n}"))["id"]
        own = (await rest.new_board(eve, name=f"Eve's {n}"))["id"]
        done = asyncio.Event()
        answers: collections.Counter[int] = collections.Counter()
        deleted, *_ = await asyncio.gather(
            delete(eve, done), toggle(ada, theirs, eve, 2, "editor", done, answers),
            toggle(eve, own, bob, 3, "viewer", done, answers))
        outcomes[deleted.status_code] += 1
        members = {m["user_id"] for m in (await rest.ok("GET", f"/boards/{theirs}", ada))["members"]}
        me = await rest.call("GET", "/users/me", eve)
        if deleted.status_code == 204:
            own_seen = await rest.call("GET", f"/boards/{own}", bob)
            login = await rest.call("POST", "/auth/login",
                                    json={"email": eve.email, "password": PASSWORD})
            if (eve.id in members or own_seen.status_code != 404
                    or (login.status_code, me.status_code) != (401, 401)):
                bad.append((n, "deleted yet present", eve.id in members, own_seen.status_code,
                            login.status_code, me.status_code))
        elif deleted.status_code == 409:
            if me.status_code != 200:
                bad.append((n, "refused yet gone", me.status_code, me.text))
        else:
            bad.append((n, "unexpected", deleted.status_code, deleted.text))
        unexpected = set(answers) - {201, 204, 401, 404, 409}
        if unexpected:
            bad.append((n, "unexpected answers", dict(answers)))
    print(f"account deletions racing invitations: {dict(outcomes)}")
    assert not bad, f"{len(bad)} bad rounds of {rounds}: {bad}"
