"""Webhook delivery on real `taskflow serve` processes, to a real receiver that verifies the
Standard Webhooks signatures itself (tests/support/webhook_receiver.py)."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from taskflow.app import create_app
from taskflow.config import Settings
from tests.support.liveclient import LiveClient
from tests.support.processes import (
    METRICS_AUTH,
    HttpResponse,
    TaskflowServer,
    free_port,
    start_together,
)
from tests.support.schemas import check_body
from tests.support.webhook_receiver import Received, WebhookReceiver

PASSWORD = "webhook password 1"
BASE_ENV = {"TASKFLOW_WEBHOOK_ALLOW_PRIVATE": "1", "TASKFLOW_WEBHOOK_LEASE_SECONDS": "6",
            "TASKFLOW_WEBHOOK_POLL_MS": "200", "JWT_SECRET": "w" * 48}


@pytest.fixture(scope="module")
def documented(tmp_path_factory: pytest.TempPathFactory) -> Quart:
    """An app only for its OpenAPI document (bodies are checked against it)."""
    return create_app(Settings(env="test", data_dir=tmp_path_factory.mktemp("doc")))


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    made = WebhookReceiver().start()
    yield made
    made.stop()


class Api:
    def __init__(self, server: TaskflowServer, documented: Quart) -> None:
        self.server, self.documented = server, documented

    def call(self, method: str, path: str, token: str | None = None, json: Any = None,
             status: int = 200) -> Any:
        r: HttpResponse = self.server.request(method, f"/api/v1{path}", json=json, token=token)
        assert r.status == status, (method, path, r.status, r.body[:500])
        if not r.body:
            return None
        body = r.json()
        check_body(self.documented, method, f"/api/v1{path.split('?')[0]}", r.status,
                   r.header("content-type") or "", r.body)
        return body

    def register(self, name: str) -> str:
        body = self.call("POST", "/auth/register", json={
            "email": f"{name}-{time.time_ns()}@example.com", "password": PASSWORD,
            "name": name}, status=201)
        token: str = body["access_token"]
        return token


def _server(tmp_path: Path, name: str = "taskflow", **env: str) -> TaskflowServer:
    return TaskflowServer(env={**BASE_ENV, "TASKFLOW_DATA_DIR": str(tmp_path / "data"), **env},
                          workdir=tmp_path, name=name)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TaskflowServer]:
    srv = _server(tmp_path).start()
    yield srv
    if srv.running:
        srv.stop()


def _hook(api: Api, token: str, board_id: str, receiver: WebhookReceiver,
          events: list[str] | None = None) -> dict[str, Any]:
    made: dict[str, Any] = api.call("POST", f"/boards/{board_id}/webhooks", token, json={
        "url": receiver.url, "events": events or []}, status=201)
    receiver.secret = made["secret"]
    return made


def _until(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls `probe` (an API read) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, f"not {what} within {timeout}s"
        time.sleep(0.1)  # poll interval of the condition above, not synchronisation
    return found


def _seqs(received: list[Received]) -> list[int]:
    return [r.payload["seq"] for r in received]


def _first_live(url: str, token: str, event: str, timeout: float,
                connected: threading.Event) -> Any:
    """In a thread of its own: a socket of the user, the payload of the first `event` it gets."""
    async def listen() -> Any:
        client = await LiveClient(url, token).connect()
        connected.set()
        try:
            await client.wait_until(lambda: bool(client.named(event)), timeout)
            return client.named(event)[0]
        finally:
            await client.close()

    return asyncio.run(listen())


def test_signed_and_in_seq_order_under_concurrent_writers(
        server: TaskflowServer, documented: Quart, receiver: WebhookReceiver) -> None:
    api = Api(server, documented)
    token = api.register("Ann")
    board = api.call("POST", "/boards", token, json={"name": "Hooks"}, status=201)
    hook = _hook(api, token, board["id"], receiver)
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) >= 6 + 32
    writers, each = 8, 10

    def write(n: int) -> None:
        for i in range(each):
            api.call("POST", "/tasks", token, json={"board_id": board["id"],
                                                    "title": f"w{n}-{i}"}, status=201)

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    total = writers * each
    got = receiver.wait(lambda r: len(r) >= total, 60, f"{total} deliveries")
    assert [r.verified for r in got].count(False) == 0
    seqs = _seqs(got)
    out_of_order = sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
    assert out_of_order == 0, seqs
    assert seqs == list(range(1, total + 1))
    # The payload is the board event as the live channel and /events send it.
    events = api.call("GET", f"/boards/{board['id']}/events?since=0&limit=1000", token)
    assert [r.payload for r in got] == events["items"]
    assert len({r.msg_id for r in got}) == total
    # Another receiver's secret doesn't verify: the check can fail.
    receiver.secret = "whsec_" + "A" * 44
    api.call("POST", "/tasks", token, json={"board_id": board["id"], "title": "x"}, status=201)
    late = receiver.wait(lambda r: len(r) > total, 30, "one more delivery")
    assert late[-1].verified is False
    _until(lambda: api.call("GET", f"/boards/{board['id']}/webhooks/{hook['id']}",
                            token)["last_delivered_seq"] == total + 1, 30, "the cursor at 81")
    page = api.call("GET", f"/boards/{board['id']}/webhooks/{hook['id']}/deliveries?limit=50",
                    token)
    assert len(page["items"]) == 50 and page["next_cursor"]
    rest = api.call("GET", f"/boards/{board['id']}/webhooks/{hook['id']}/deliveries"
                           f"?limit=200&cursor={page['next_cursor']}", token)
    kept = page["items"] + rest["items"]
    assert len(kept) == 81 and rest["next_cursor"] is None
    assert [d["seq"] for d in kept] == list(range(81, 0, -1))
    assert {d["status"] for d in kept} == {"succeeded"} and kept[0]["response_code"] == 200


def test_failures_are_retried_first_within_10s_then_delivered_in_order(
        server: TaskflowServer, documented: Quart, receiver: WebhookReceiver) -> None:
    api = Api(server, documented)
    token = api.register("Bo")
    board = api.call("POST", "/boards", token, json={"name": "Flaky"}, status=201)
    calls = Counter[str]()
    lock = threading.Lock()

    def flaky(got: Received) -> int:
        with lock:
            calls["n"] += 1
            return 500 if calls["n"] <= 2 else 200

    receiver.respond = flaky
    hook = _hook(api, token, board["id"], receiver, events=["task:created", "task:updated"])
    task = api.call("POST", "/tasks", token, json={"board_id": board["id"], "title": "a"},
                    status=201)
    api.call("POST", f"/tasks/{task['id']}/comments", token, json={"body": "filtered out"},
             status=201)
    api.call("PATCH", f"/tasks/{task['id']}", token, json={"title": "b"})
    got = receiver.wait(lambda r: len(r) >= 4, 40, "2 failures and 2 deliveries")
    assert [(r.payload["seq"], r.payload["type"]) for r in got] == [
        (1, "task:created"), (1, "task:created"), (1, "task:created"), (3, "task:updated")]
    assert len({r.msg_id for r in got[:3]}) == 1  # the same webhook-id on every attempt
    assert got[1].at - got[0].at < 10
    _until(lambda: api.call("GET", f"/boards/{board['id']}/webhooks/{hook['id']}",
                            token)["last_delivered_seq"] == 3, 30, "the cursor at 3")
    deliveries = api.call("GET", f"/boards/{board['id']}/webhooks/{hook['id']}/deliveries",
                          token)["items"]
    assert [(d["seq"], d["status"], d["attempt"], d["response_code"]) for d in deliveries] == [
        (3, "succeeded", 1, 200), (1, "succeeded", 3, 200), (1, "failed", 2, 500),
        (1, "failed", 1, 500)]
    assert deliveries[-1]["error"]
    state = api.call("GET", f"/boards/{board['id']}/webhooks/{hook['id']}", token)
    assert state["active"] is True and state["last_delivered_seq"] == 3
    metrics = server.get("/metrics", headers=METRICS_AUTH).body.decode()
    assert 'taskflow_webhook_deliveries_total{outcome="failed"} 2.0' in metrics
    assert 'taskflow_webhook_deliveries_total{outcome="succeeded"} 2.0' in metrics
    assert "taskflow_webhook_attempt_seconds_count 4.0" in metrics
    assert "taskflow_webhook_lag_seconds_count 2.0" in metrics


def test_disabled_after_the_retry_window_and_reenabled(
        tmp_path: Path, documented: Quart, receiver: WebhookReceiver) -> None:
    receiver.respond = lambda got: 503
    with_window = _server(tmp_path, TASKFLOW_WEBHOOK_RETRY_WINDOW_SECONDS="10").start()
    try:
        api = Api(with_window, documented)
        token = api.register("Cy")
        editor = api.register("Di")
        board = api.call("POST", "/boards", token, json={"name": "Down"}, status=201)
        api.call("POST", f"/boards/{board['id']}/members", token, status=201, json={
            "email": api.call("GET", "/users/me", editor)["email"], "role": "editor"})
        hook = _hook(api, token, board["id"], receiver)
        connected = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            pushed = pool.submit(_first_live, with_window.url, token, "notification:created",
                                 60, connected)
            assert connected.wait(15), "the owner's socket connected"
            api.call("POST", "/tasks", token, json={"board_id": board["id"], "title": "a"},
                     status=201)
            note = pushed.result(75)["notification"]
        path = f"/boards/{board['id']}/webhooks/{hook['id']}"
        def disabled() -> dict[str, Any] | None:
            found: dict[str, Any] = api.call("GET", path, token)
            return None if found["active"] else found

        state = _until(disabled, 60, "disabled")
        assert "503" in state["disabled_reason"] and state["failing_since"]
        # The owner heard it live, from the transaction that disabled it; the editor did not.
        assert (note["type"], note["board_id"], note["task_id"], note["actor"]) == (
            "webhook_disabled", board["id"], None, None)
        assert receiver.url in note["summary"] and "503" in note["summary"]
        listed = api.call("GET", "/notifications", token)["items"]
        assert [n["id"] for n in listed if n["type"] == "webhook_disabled"] == [note["id"]]
        assert not [n for n in api.call("GET", "/notifications", editor)["items"]
                    if n["type"] == "webhook_disabled"]
        attempts = len(receiver.received)
        assert attempts >= 2
        # Disabled: no more attempts, even for new events.
        api.call("POST", "/tasks", token, json={"board_id": board["id"], "title": "b"},
                 status=201)
        receiver.respond = lambda got: 200
        state = api.call("PATCH", path, token, json={"active": True})
        assert state["active"] is True and state["disabled_reason"] is None
        got = receiver.wait(lambda r: len(r) >= attempts + 2, 30, "both events after re-enabling")
        first = got[0].payload["seq"]  # task "a"'s, each failed attempt sent it
        assert _seqs(got[attempts:]) == [first, first + 1]
    finally:
        with_window.stop()


def test_send_time_ssrf_check_and_redirects(tmp_path: Path, documented: Quart,
                                            receiver: WebhookReceiver) -> None:
    # Made while private receivers were allowed; the server then restarts without that.
    srv = _server(tmp_path).start()
    api = Api(srv, documented)
    token = api.register("Di")
    board = api.call("POST", "/boards", token, json={"name": "Moved"}, status=201)
    hook = _hook(api, token, board["id"], receiver)
    srv.stop()
    strict = TaskflowServer(env={**srv.env, "TASKFLOW_WEBHOOK_ALLOW_PRIVATE": "0"},
                            workdir=tmp_path, name="strict").start()
    try:
        api = Api(strict, documented)
        api.call("POST", "/tasks", token, json={"board_id": board["id"], "title": "a"},
                 status=201)
        path = f"/boards/{board['id']}/webhooks/{hook['id']}/deliveries"
        items = _until(lambda: api.call("GET", path, token)["items"], 30, "an attempt")
        assert items[0]["status"] == "failed" and items[0]["response_code"] is None
        assert "loopback" in items[0]["error"]
        assert receiver.received == []
    finally:
        strict.stop()


def test_a_redirect_is_a_failed_attempt(server: TaskflowServer, documented: Quart,
                                        receiver: WebhookReceiver) -> None:
    receiver.respond = lambda got: 302
    api = Api(server, documented)
    token = api.register("Ed")
    board = api.call("POST", "/boards", token, json={"name": "Redirect"}, status=201)
    hook = _hook(api, token, board["id"], receiver)
    api.call("POST", "/tasks", token, json={"board_id": board["id"], "title": "a"}, status=201)
    path = f"/boards/{board['id']}/webhooks/{hook['id']}/deliveries"
    items = _until(lambda: api.call("GET", path, token)["items"], 30, "an attempt")
    assert (items[0]["status"], items[0]["response_code"]) == ("failed", 302)
    assert "redirect" in items[0]["error"]
    assert len(receiver.received) == 1  # the Location was not followed


def test_the_owners_change_during_a_send_wins(server: TaskflowServer, documented: Quart) -> None:
    """While an attempt is in flight (the receiver holds it), the owner moves the webhook to a
    new URL, or disables it and then re-enables it at a new URL. The sending worker must not
    write its stale state over the change (before: it set `active` back and went on sending
    the rest of its batch to the old URL): the old URL gets the one request it held, the new
    one every event, from the held one on (at least once), in order. 10 rounds, both kinds."""
    api = Api(server, documented)
    token = api.register("Gil")
    outcomes = [_change_during_a_send(api, token, n, ("move", "disable")[n % 2])
                for n in range(10)]
    assert [o for o in outcomes if o] == []


def _change_during_a_send(api: Api, token: str, round_: int, kind: str) -> str | None:
    """One round of the test above; what went wrong, or None."""
    old, new = WebhookReceiver().start(), WebhookReceiver().start()
    held, release = threading.Event(), threading.Event()

    def respond(got: Received) -> int:
        if not held.is_set():
            held.set()
            assert release.wait(30), "released"
        return 200

    old.respond = respond
    try:
        board = api.call("POST", "/boards", token, json={"name": f"Race {round_}"}, status=201)
        hook = _hook(api, token, board["id"], old)
        new.secret = old.secret
        for title in ("a", "b", "c"):
            api.call("POST", "/tasks", token, json={"board_id": board["id"], "title": title},
                     status=201)
        assert held.wait(15), "the first attempt reached the old URL"
        path = f"/boards/{board['id']}/webhooks/{hook['id']}"
        if kind == "move":
            api.call("PATCH", path, token, json={"url": new.url})
            release.set()
        else:
            assert api.call("PATCH", path, token, json={"active": False})["active"] is False
            release.set()
            api.call("PATCH", path, token, json={"active": True, "url": new.url})
        got = new.wait(lambda r: len(r) >= 3, 30, f"round {round_} ({kind}): 3 events")
        first = old.received[0].payload["seq"]
        state = _until(lambda: (found := api.call("GET", path, token))[
            "last_delivered_seq"] == first + 2 and found, 30, "the cursor at the end")
        outcome = (len(old.received), _seqs(got), all(r.verified for r in got),
                   state["active"], state["url"] == new.url)
        if outcome != (1, [first, first + 1, first + 2], True, True, True):
            return f"round {round_} ({kind}): {outcome}"
        return None
    finally:
        release.set()
        old.stop()
        new.stop()


def test_three_instances_on_one_store_deliver_each_event_exactly_once(
        tmp_path: Path, documented: Quart, receiver: WebhookReceiver) -> None:
    servers = [_server(tmp_path, name=f"i{n}") for n in range(3)]
    with start_together(servers):
        apis = [Api(s, documented) for s in servers]
        token = apis[0].register("Fay")
        board = apis[0].call("POST", "/boards", token, json={"name": "Three"}, status=201)
        _hook(apis[1], token, board["id"], receiver)
        per_instance = 20

        def write(n: int) -> None:
            for i in range(per_instance):
                apis[n % 3].call("POST", "/tasks", token,
                                 json={"board_id": board["id"], "title": f"{n}-{i}"}, status=201)

        with ThreadPoolExecutor(6) as pool:
            list(pool.map(write, range(6)))
        total = 6 * per_instance
        got = receiver.wait(lambda r: len({x.msg_id for x in r}) >= total, 60, "every event")
        # Nothing more in flight: the cursor is at the end on the store.
        _until(lambda: apis[2].call("GET", f"/boards/{board['id']}/webhooks",
                                    token)["items"][0]["last_delivered_seq"] == total, 30,
               "the cursor at the end")
        got = list(receiver.received)
        counts = Counter(r.msg_id for r in got)
        assert [m for m, c in counts.items() if c > 1] == []  # 0 duplicates
        assert len(counts) == total  # 0 missing
        assert _seqs(got) == list(range(1, total + 1))
        assert all(r.verified for r in got)


def test_sigkill_of_the_sending_instance_loses_nothing(
        tmp_path: Path, documented: Quart, receiver: WebhookReceiver) -> None:
    slow = threading.Event()

    def answer(got: Received) -> int:
        slow.wait(0.03)  # a slow receiver keeps the stream in flight when the kill lands
        return 200

    receiver.respond = answer
    srv = _server(tmp_path).start()
    try:
        api = Api(srv, documented)
        token = api.register("Gus")
        board = api.call("POST", "/boards", token, json={"name": "Crash"}, status=201)
        _hook(api, token, board["id"], receiver)
        total = 60
        for i in range(total):
            api.call("POST", "/tasks", token, json={"board_id": board["id"], "title": f"{i}"},
                     status=201)
        receiver.wait(lambda r: len(r) >= 10, 30, "the stream under way")
        srv.kill()
        before = len(receiver.received)
        assert before < total, "the kill landed after the stream ended"
        srv.start()  # a new instance: it takes the lease over once the dead one's expires
        got = receiver.wait(lambda r: len({x.msg_id for x in r}) >= total, 60, "every event")
    finally:
        srv.stop()
    counts = Counter(r.msg_id for r in got)
    assert len(counts) == total  # nothing lost
    duplicates = sum(c - 1 for c in counts.values())
    assert duplicates <= 1, counts  # only the one in flight at the kill, if any
    firsts = list(dict.fromkeys(r.payload["seq"] for r in got))
    assert firsts == list(range(1, total + 1))


def test_the_loadtests_receiver_verifies_and_counts(
        server: TaskflowServer, documented: Quart, tmp_path: Path) -> None:
    api = Api(server, documented)
    token = api.register("Hal")
    board = api.call("POST", "/boards", token, json={"name": "Counted"}, status=201)
    port = free_port()
    made = api.call("POST", f"/boards/{board['id']}/webhooks", token,
                    json={"url": f"http://127.0.0.1:{port}/"}, status=201)
    log = (tmp_path / "receiver.log").open("w")
    script = Path(__file__).resolve().parents[1] / "loadtests" / "webhook_receiver.py"
    proc = subprocess.Popen([sys.executable, str(script), "--port", str(port), "--secret",
                             made["secret"], "--every", "0.2"], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        _until(lambda: "listening" in (tmp_path / "receiver.log").read_text(), 20, "listening")
        for i in range(3):
            api.call("POST", "/tasks", token, json={"board_id": board["id"], "title": f"{i}"},
                     status=201)
        _until(lambda: "verified 3 bad-signature 0 duplicates 0 out-of-order 0"
               in (tmp_path / "receiver.log").read_text(), 30, "3 verified deliveries")
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
