"""API4:2023 Unrestricted Resource Consumption.

Every input a client controls has a bound the server enforces before doing the work: body
and upload sizes (413, nothing kept), page sizes and query lengths (422), headers, live
message sizes and rates, and live connections per address. Past each bound the server stays
responsive to everybody else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.security.conftest import LIVE_CONNECT_RATE, UPLOAD_LIMIT_MB, World
from tests.security.target import Api, assert_problem, assert_still_serving, doc_ip
from tests.support.liveclient import LiveClient
from tests.support.processes import TaskflowServer

MIB = 1024 * 1024


def _chunked(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """`data` sent with chunked transfer encoding: the server learns its size only by reading."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_over_the_limit_is_413(api: Api, world: World, framing: str) -> None:
    body = b"{" + b" " * (MIB + 16) + b"}"
    content = body if framing == "content-length" else _chunked(body)
    before = api.ok("GET", "/boards", world.eve)["items"]
    response = api.call("POST", "/boards", world.eve, content=content,
                        headers={"Content-Type": "application/json"})
    assert_problem(response, 413, "payload_too_large")
    assert api.ok("GET", "/boards", world.eve)["items"] == before


def _blob_files(target: TaskflowServer) -> set[Path]:
    blobs = target.workdir / "data" / "blobs"
    return {p for p in blobs.rglob("*") if p.is_file()} if blobs.exists() else set()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_upload_over_the_limit_is_413_and_nothing_is_kept(
        target: TaskflowServer, api: Api, world: World, framing: str) -> None:
    task = f"/tasks/{world.task_e['id']}/attachments"
    before_files, before = _blob_files(target), api.ok("GET", task, world.eve)["items"]
    data = b"x" * (UPLOAD_LIMIT_MB * MIB + 100 * 1024)
    if framing == "content-length":
        response = api.call("POST", task, world.eve, files={"file": ("big.bin", data)})
    else:
        boundary = "securitysuiteboundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        form = head + data + f"\r\n--{boundary}--\r\n".encode()
        response = api.call("POST", task, world.eve, content=_chunked(form),
                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_problem(response, 413, "payload_too_large")
    assert api.ok("GET", task, world.eve)["items"] == before
    assert _blob_files(target) == before_files


@pytest.mark.parametrize(("path", "limit"), [
    ("/tasks", 200), ("/boards", 200), ("/tasks/{task}/comments", 200),
    ("/boards/{board}/events", 1000),
])
def test_page_sizes_are_bounded(api: Api, world: World, path: str, limit: int) -> None:
    path = path.format(task=world.task_e["id"], board=world.board_e["id"])
    for bad in (0, -1, limit + 1, 10**12, "all"):
        assert_problem(api.call("GET", f"{path}?limit={bad}", world.eve), 422, "validation_failed")
    page = api.ok("GET", f"{path}?limit={limit}", world.eve)
    assert len(page["items"]) <= limit


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/tasks?q=" + "a" * 201, None),
    ("GET", "/tasks?cursor=" + "a" * 513, None),
    ("POST", "/tasks", {"board_id": "{board}", "title": "t" * 201}),
    ("POST", "/tasks", {"board_id": "{board}", "title": "t", "description": "d" * 10_001}),
    ("POST", "/tasks", {"board_id": "{board}", "title": "t", "tags": ["x"] * 21}),
    ("POST", "/tasks", {"board_id": "{board}", "title": "t", "tags": ["x" * 51]}),
    ("PATCH", "/tasks/{task}", {"description": "d" * 10_001}),
    ("POST", "/tasks/{task}/comments", {"body": "c" * 5001}),
    ("POST", "/boards", {"name": "n" * 101}),
    ("POST", "/boards", {"name": "n", "description": "d" * 2001}),
    ("PATCH", "/users/me", {"name": "n" * 101}),
    # Bounded before any bcrypt work is spent on it.
    ("POST", "/auth/login", {"email": "{email}", "password": "p" * 1001}),
    ("POST", "/auth/login", {"email": "e" * 321, "password": "password"}),
    ("POST", "/auth/register", {"email": "long@example.com", "password": "é" * 37, "name": "n"}),
    ("POST", "/auth/refresh", {"refresh_token": "r" * 201}),
])
def test_inputs_that_cost_work_are_bounded(api: Api, world: World, method: str, path: str,
                                           body: Any) -> None:
    ids = {"board": world.board_e["id"], "task": world.task_e["id"], "email": world.eve.email}
    sent = {k: v.format(**ids) if isinstance(v, str) else v for k, v in (body or {}).items()}
    response = api.call(method, path.format(**ids), world.eve, json=sent if body else None)
    assert_problem(response, 422, "validation_failed")


def _raw(port: int, request: bytes, *, parts: int = 1) -> tuple[int, dict[str, str], Any]:
    """Sends `request` (in `parts` writes) on a new connection and reads the answer until
    the server closes it: (status, headers, JSON body or text)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        size = -(-len(request) // parts)
        with contextlib.suppress(ConnectionError):  # the server may answer and close early
            for start in range(0, len(request), size):
                sock.sendall(request[start:start + size])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    parsed = json.loads(body) if headers.get("content-type") == "application/problem+json" \
        else body.decode("latin-1")
    return int(status_line.split(" ")[1]), headers, parsed


@pytest.mark.parametrize("head", [
    b"X-Big: " + b"a" * (1024 * 1024) + b"\r\n",  # one huge header
    b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 1000) for n in range(20)),  # many that add up
])
def test_oversized_request_headers_are_refused(target: TaskflowServer, head: bytes) -> None:
    """Above TASKFLOW_MAX_HEADER_BYTES (16 KiB by default): 431 problem+json, and the
    connection is closed (S7 in SECURITY.md, closed)."""
    status, headers, body = _raw(target.port, b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n"
                                 + head + b"\r\n", parts=8)
    assert status == 431, (status, body)
    assert headers["content-type"] == "application/problem+json", headers
    assert body["code"] == "headers_too_large" and body["status"] == 431, body
    assert headers.get("x-content-type-options") == "nosniff", headers


def test_a_request_head_that_never_ends_is_cut_off(target: TaskflowServer) -> None:
    """Headers that keep coming without the blank line that ends them: refused once they
    pass the limit, without waiting for an end that never comes."""
    status, _, body = _raw(target.port, b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Slow: "
                           + b"s" * (64 * 1024), parts=64)
    assert status == 431, (status, body)


def test_a_head_within_the_limit_is_served(target: TaskflowServer) -> None:
    head = b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 1000) for n in range(14))  # ~14 KiB
    status, _, _ = _raw(target.port, b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n"
                        b"Connection: close\r\n" + head + b"\r\n")
    assert status == 200


def test_what_is_not_http_gets_a_problem_not_plain_text(target: TaskflowServer) -> None:
    status, headers, body = _raw(target.port, b"GARBAGE\x01 / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status == 400, (status, body)
    assert headers["content-type"] == "application/problem+json", (headers, body)
    assert body["code"] == "bad_request", body


async def test_oversized_live_message_closes_only_that_connection(
        target: TaskflowServer, world: World, live: Any) -> None:
    big = await live(world.eve.token)
    await big.sio.emit("board:join", {"board_id": world.board_e["id"], "pad": "x" * (70 * 1024)})
    await asyncio.wait_for(big.disconnected.wait(), 10)
    await assert_still_serving(target, live, world.eve, world.board_e["id"])


async def test_live_message_flood_is_refused_per_connection(
        target: TaskflowServer, world: World, live: Any) -> None:
    flooder = await live(world.eve.token)
    acks = await asyncio.gather(*(flooder.call("board:leave", {"board_id": world.board_e["id"]})
                                  for _ in range(150)))
    refused = [ack for ack in acks if ack["ok"] is False]
    # 30/second by default; a sliding window may let about two windows' worth through.
    assert len(refused) >= 150 - 2 * 30 - 5, len(refused)
    assert {ack["error"]["code"] for ack in refused} == {"rate_limited"}
    await assert_still_serving(target, live, world.eve, world.board_e["id"])


async def test_connection_flood_from_one_address_is_refused(
        target: TaskflowServer, world: World, live: Any) -> None:
    address = doc_ip()
    accepted: list[LiveClient] = []
    refusals: list[Any] = []
    try:
        for _ in range(LIVE_CONNECT_RATE + 5):
            client = LiveClient(target.url, world.eve.token, headers={"X-Forwarded-For": address})
            try:
                accepted.append(await client.connect())
            except socketio.exceptions.ConnectionError:
                refusals.append(client.connect_error)
        # The limiter's sliding window may let one or two more in across a minute boundary.
        assert LIVE_CONNECT_RATE <= len(accepted) <= LIVE_CONNECT_RATE + 2, len(accepted)
        assert refusals and all(r == {"message": "rate_limited"} for r in refusals), refusals
        # The flood's own connections keep working, and other addresses still get in.
        assert (await accepted[0].join(world.board_e["id"]))["ok"] is True
        await assert_still_serving(target, live, world.eve, world.board_e["id"])
    finally:
        for client in accepted:
            with contextlib.suppress(Exception):
                await client.close()
