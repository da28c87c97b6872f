"""Idempotency-Key (issue #18) on a real server process, with the embedded ledger (SQLite, no
Redis) and with Redis: replays, mismatches, in-flight conflicts, per-user keys, the 24 h
expiry as stored, streamed uploads, and the OpenAPI. Rate limits are on."""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from taskflow.app import create_app
from taskflow.config import Settings
from tests.support.processes import TaskflowServer
from tests.support.schemas import check_body

REDIS_URL = "redis://127.0.0.1:6379/0"
DAY = 24 * 3600


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[TaskflowServer]:
    workdir = tmp_path_factory.mktemp(f"idem-{backend}")
    env = {"TASKFLOW_DATA_DIR": str(workdir / "data"), "TASKFLOW_IDEMPOTENCY_LEASE_SECONDS": "5",
           "TASKFLOW_RATE_LIMIT_API": "2000/minute"}
    if backend == "redis":
        env["REDIS_URL"] = REDIS_URL
    srv = TaskflowServer(env=env, workdir=workdir).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def documented(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An app built from the same code, whose documented schemas the bodies are checked against."""
    return create_app(Settings(env="test", data_dir=tmp_path_factory.mktemp("schemas")))


@pytest.fixture
def http(server: TaskflowServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=15) as client:
        yield client


def _user(http: httpx.Client, name: str = "Ada") -> dict[str, Any]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:10]}@example.com"
    r = http.post("/api/v1/auth/register", json={"email": email, "password": "idempotent 1",
                                                   "name": name})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return {"id": body["user"]["id"], "email": email,
            "headers": {"Authorization": f"Bearer {body['access_token']}"}}


def _board(http: httpx.Client, owner: dict[str, Any], **members: dict[str, Any]) -> str:
    r = http.post("/api/v1/boards", json={"name": "Idem"}, headers=owner["headers"])
    assert r.status_code == 201, r.text
    board_id: str = r.json()["id"]
    for role, who in members.items():
        r = http.post(f"/api/v1/boards/{board_id}/members", headers=owner["headers"],
                      json={"email": who["email"], "role": role})
        assert r.status_code == 201, r.text
    return board_id


def _count_tasks(http: httpx.Client, who: dict[str, Any], board_id: str) -> int:
    r = http.get("/api/v1/tasks", params={"board_id": board_id, "limit": 200}, headers=who["headers"])
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


def _post(http: httpx.Client, documented: Any, path: str, who: dict[str, Any], key: str | None,
          **kwargs: Any) -> httpx.Response:
    headers = {**who["headers"], **kwargs.pop("headers", {})}
    if key is not None:
        headers["Idempotency-Key"] = key
    r = http.post(f"/api/v1{path}", headers=headers, **kwargs)
    check_body(documented, "POST", f"/api/v1{path}", r.status_code,
               r.headers.get("content-type", ""), r.content)
    return r


def _problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    return body


def test_a_retry_replays_the_first_response_and_creates_nothing(http: httpx.Client,
                                                                documented: Any) -> None:
    ada = _user(http)
    board = _board(http, ada)
    body = {"board_id": board, "title": "Once"}
    first = _post(http, documented, "/tasks", ada, "k-1", json=body)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    for _ in range(3):
        again = _post(http, documented, "/tasks", ada, "k-1", json=body)
        assert again.status_code == 201
        assert again.content == first.content
        assert again.headers["etag"] == first.headers["etag"]
        assert again.headers["content-type"] == first.headers["content-type"]
        assert again.headers.get("idempotent-replayed") == "true"
    assert _count_tasks(http, ada, board) == 1
    # Without a key, the same body is a new task.
    assert _post(http, documented, "/tasks", ada, None, json=body).status_code == 201
    assert _count_tasks(http, ada, board) == 2


def test_the_same_key_with_another_body_or_path_is_422(http: httpx.Client, documented: Any) -> None:
    ada = _user(http)
    board = _board(http, ada)
    first = _post(http, documented, "/tasks", ada, "k-2", json={"board_id": board, "title": "A"})
    assert first.status_code == 201
    _problem(_post(http, documented, "/tasks", ada, "k-2", json={"board_id": board, "title": "B"}),
             422, "idempotency_key_reused")
    _problem(_post(http, documented, "/boards", ada, "k-2", json={"board_id": board, "title": "A"}),
             422, "idempotency_key_reused")
    assert _count_tasks(http, ada, board) == 1


def test_keys_are_per_user(http: httpx.Client, documented: Any) -> None:
    ada, bob = _user(http, "Ada"), _user(http, "Bob")
    board = _board(http, ada, editor=bob)
    body = {"board_id": board, "title": "Mine"}
    a = _post(http, documented, "/tasks", ada, "shared-key", json=body)
    b = _post(http, documented, "/tasks", bob, "shared-key", json=body)
    assert (a.status_code, b.status_code) == (201, 201)
    assert "idempotent-replayed" not in b.headers
    assert a.json()["id"] != b.json()["id"]
    assert (a.json()["created_by"], b.json()["created_by"]) == (ada["id"], bob["id"])
    assert _count_tasks(http, ada, board) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_a_malformed_key_is_400(http: httpx.Client, documented: Any, key: str) -> None:
    ada = _user(http)
    board = _board(http, ada)
    headers = {**ada["headers"], "Idempotency-Key": key.encode("utf-8")}
    r = http.post("/api/v1/tasks", json={"board_id": board, "title": "x"}, headers=headers)
    _problem(r, 400, "invalid_idempotency_key")
    assert _count_tasks(http, ada, board) == 0
    ok = _post(http, documented, "/tasks", ada, "x" * 255, json={"board_id": board, "title": "x"})
    assert ok.status_code == 201


def test_4xx_answers_are_stored_and_replayed(http: httpx.Client, documented: Any) -> None:
    ada = _user(http)
    body = {"board_id": "nope" * 6, "title": "Lost"}
    first = _post(http, documented, "/tasks", ada, "k-404", json=body)
    _problem(first, 404, "not_found")
    again = _post(http, documented, "/tasks", ada, "k-404", json=body)
    assert (again.status_code, again.content) == (404, first.content)
    assert again.headers.get("idempotent-replayed") == "true"


def test_unauthenticated_posts_ignore_the_key(http: httpx.Client) -> None:
    ada = _user(http)
    login = {"email": ada["email"], "password": "idempotent 1"}
    tokens = []
    for _ in range(2):
        r = http.post("/api/v1/auth/login", json=login, headers={"Idempotency-Key": "login"})
        assert r.status_code == 200, r.text
        assert "idempotent-replayed" not in r.headers
        tokens.append(r.json()["refresh_token"])
    assert tokens[0] != tokens[1]
    r = http.post("/api/v1/auth/login", json=login, headers={"Idempotency-Key": "x" * 300})
    assert r.status_code == 200, r.text  # ignored there, even malformed


def _scope(user_id: str, key: str) -> str:
    return f"{user_id}:{hashlib.sha256(key.encode()).hexdigest()}"


def _wait_claimed(server: TaskflowServer, backend: str, user_id: str, key: str,
                  timeout: float = 10.0) -> None:
    """Waits until the ledger holds a running claim of the key (read from Redis / SQLite)."""
    scope, deadline = _scope(user_id, key), time.monotonic() + timeout
    while time.monotonic() < deadline:
        if backend == "redis":
            client = redis.Redis.from_url(REDIS_URL)
            try:
                value = client.get(f"taskflow:idem:{scope}")
            finally:
                client.close()
            if value is not None and value.startswith(b"r:"):
                return
        else:
            db = sqlite3.connect(Path(server.env["TASKFLOW_DATA_DIR"]) / "taskflow.db")
            try:
                row = db.execute("SELECT owner FROM idempotency_keys WHERE scope = ?"
                                 " AND record IS NULL", (scope,)).fetchone()
            finally:
                db.close()
            if row is not None:
                return
        time.sleep(0.05)  # polling the condition, not waiting for time to pass
    raise AssertionError(f"no claim of {key!r} within {timeout} s")


def _stored_ttl(server: TaskflowServer, backend: str, user_id: str, key: str) -> float:
    scope = _scope(user_id, key)
    if backend == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        try:
            value = client.get(f"taskflow:idem:{scope}")
            assert value is not None and value.startswith(b"d:")
            return float(client.pttl(f"taskflow:idem:{scope}")) / 1000
        finally:
            client.close()
    db = sqlite3.connect(Path(server.env["TASKFLOW_DATA_DIR"]) / "taskflow.db")
    try:
        row = db.execute("SELECT record, expires_at FROM idempotency_keys WHERE scope = ?",
                         (scope,)).fetchone()
    finally:
        db.close()
    assert row is not None and row[0] is not None
    return float(row[1]) - time.time()


def test_a_stored_response_expires_after_24_hours(server: TaskflowServer, backend: str,
                                                   http: httpx.Client, documented: Any) -> None:
    ada = _user(http)
    board = _board(http, ada)
    assert _post(http, documented, "/tasks", ada, "k-ttl",
                 json={"board_id": board, "title": "x"}).status_code == 201
    ttl = _stored_ttl(server, backend, ada["id"], "k-ttl")
    assert DAY - 60 < ttl <= DAY


def _upload(http: httpx.Client, documented: Any, who: dict[str, Any], task_id: str, key: str,
            data: bytes) -> httpx.Response:
    # A retry resends the same bytes, multipart boundary included (the fingerprint is the body's).
    boundary = "idempotent-boundary-7f3a"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.bin\""
            "\r\nContent-Type: application/octet-stream\r\n\r\n").encode() + data + (
            f"\r\n--{boundary}--\r\n").encode()
    return _post(http, documented, f"/tasks/{task_id}/attachments", who, key, content=body,
                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def _attachments(http: httpx.Client, who: dict[str, Any], task_id: str) -> int:
    r = http.get(f"/api/v1/tasks/{task_id}/attachments", headers=who["headers"])
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


def test_a_streamed_upload_replays_and_mismatches(http: httpx.Client, documented: Any) -> None:
    ada = _user(http)
    board = _board(http, ada)
    task = _post(http, documented, "/tasks", ada, None, json={"board_id": board, "title": "f"}).json()
    data = bytes(range(256)) * 3500  # ~900 kB, many chunks (over 1 MiB is a 413 on main)
    first = _upload(http, documented, ada, task["id"], "up-1", data)
    assert first.status_code == 201, first.text
    again = _upload(http, documented, ada, task["id"], "up-1", data)
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers.get("idempotent-replayed") == "true"
    other = data[:-1] + b"\x00"
    _problem(_upload(http, documented, ada, task["id"], "up-1", other), 422, "idempotency_key_reused")
    assert _attachments(http, ada, task["id"]) == 1


def _raw_post_start(server: TaskflowServer, path: str, headers: dict[str, str], body: bytes,
                    total: int) -> socket.socket:
    """Sends a POST's headers (Content-Length `total`) and only `body` of it: the request
    stays in flight on the server until the rest comes."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}",
            f"Content-Length: {total}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    sock.sendall("\r\n".join(head).encode() + body)
    return sock


def _read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "connection closed before a status line"
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_a_retry_while_the_first_runs_is_409_then_replays(server: TaskflowServer, backend: str,
                                                          http: httpx.Client, documented: Any) -> None:
    ada = _user(http)
    board = _board(http, ada)
    body = json.dumps({"board_id": board, "title": "Slow"}).encode()
    headers = {**ada["headers"], "Content-Type": "application/json", "Idempotency-Key": "k-409"}
    sock = _raw_post_start(server, "/api/v1/tasks", headers, body[:10], len(body))
    try:
        _wait_claimed(server, backend, ada["id"], "k-409")
        r = _post(http, documented, "/tasks", ada, "k-409", content=body,
                  headers={"Content-Type": "application/json"})
        problem = _problem(r, 409, "idempotency_key_in_use")
        assert int(r.headers["retry-after"]) >= 1 and problem["status"] == 409
        assert _count_tasks(http, ada, board) == 0
        sock.sendall(body[10:])
        assert _read_status(sock) == 201
    finally:
        sock.close()
    replay = _post(http, documented, "/tasks", ada, "k-409", content=body,
                   headers={"Content-Type": "application/json"})
    assert replay.status_code == 201 and replay.headers.get("idempotent-replayed") == "true"
    assert _count_tasks(http, ada, board) == 1


def test_every_authenticated_post_documents_the_key(http: httpx.Client) -> None:
    r = http.get("/openapi.json")
    assert r.status_code == 200
    posts = [(path, op) for path, ops in r.json()["paths"].items() for method, op in ops.items()
             if method == "post" and path.startswith("/api/v1/")]
    assert len(posts) > 5
    for path, op in posts:
        names = [p["name"] for p in op.get("parameters", [])]
        anonymous = path in ("/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh")
        assert ("Idempotency-Key" in names) != anonymous, path
        if not anonymous:
            assert {"409", "422"} <= set(op["responses"]), path


def _claim_expiry(server: TaskflowServer, backend: str, user_id: str, key: str) -> float:
    """When the running claim of the key lapses unless renewed (epoch seconds)."""
    scope = _scope(user_id, key)
    if backend == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        try:
            return time.time() + float(client.pttl(f"taskflow:idem:{scope}")) / 1000
        finally:
            client.close()
    db = sqlite3.connect(Path(server.env["TASKFLOW_DATA_DIR"]) / "taskflow.db")
    try:
        row = db.execute("SELECT expires_at FROM idempotency_keys WHERE scope = ? AND record IS NULL",
                         (scope,)).fetchone()
    finally:
        db.close()
    assert row is not None
    return float(row[0])


def test_a_request_longer_than_the_lease_keeps_its_claim(server: TaskflowServer, backend: str,
                                                         http: httpx.Client, documented: Any) -> None:
    ada = _user(http)
    board = _board(http, ada)
    body = json.dumps({"board_id": board, "title": "Long"}).encode()
    headers = {**ada["headers"], "Content-Type": "application/json", "Idempotency-Key": "k-long"}
    sock = _raw_post_start(server, "/api/v1/tasks", headers, body[:10], len(body))
    try:
        _wait_claimed(server, backend, ada["id"], "k-long")
        first_end = _claim_expiry(server, backend, ada["id"], "k-long")
        while time.time() < first_end + 1:  # past the first lease's end: only a renewal kept it
            assert _claim_expiry(server, backend, ada["id"], "k-long") > time.time(), "claim lapsed"
            time.sleep(0.2)  # polling the clock condition above
        r = _post(http, documented, "/tasks", ada, "k-long", content=body,
                  headers={"Content-Type": "application/json"})
        _problem(r, 409, "idempotency_key_in_use")
        sock.sendall(body[10:])
        assert _read_status(sock) == 201
    finally:
        sock.close()
    assert _count_tasks(http, ada, board) == 1
