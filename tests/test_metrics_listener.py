"""/metrics off the public side: its own listener, and the public port only with a token.

Real `taskflow serve` processes (both servers, Uvicorn and Hypercorn): the listener is a
socket of the server process, so only a real process shows what it answers and where.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from tests.support.processes import (
    METRICS_AUTH,
    HttpResponse,
    free_port,
    http_request,
    run_taskflow,
    serving,
)

NOT_FOUND = {"type": "about:blank", "title": "Not found", "status": 404,
             "detail": "Not found", "code": "not_found"}


def _not_found(response: HttpResponse) -> None:
    assert response.status == 404, response.body
    assert response.header("content-type") == "application/problem+json"
    assert response.json()["code"] == "not_found"


def _listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses with a socket listening on `port` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(struct.pack("<I", int(address, 16))))
    return found


@pytest.mark.parametrize("server_kind", ["uvicorn", "hypercorn"])
def test_the_metrics_port_serves_metrics_and_nothing_else(tmp_path: Path, server_kind: str) -> None:
    port = free_port()
    env = {"TASKFLOW_DATA_DIR": str(tmp_path / "data"), "TASKFLOW_SERVER": server_kind,
           "TASKFLOW_METRICS_PORT": str(port)}
    with serving(env, tmp_path) as server:
        assert _listening_addresses(port) == {"127.0.0.1"}, "bound to 127.0.0.1 by default"
        scraped = http_request(port, "GET", "/metrics")
        assert scraped.status == 200
        assert (scraped.header("content-type") or "").startswith("text/plain")
        assert b"taskflow_http_requests_total" in scraped.body
        assert b"taskflow_asyncio_tasks" in scraped.body  # collected on the event loop
        # Nothing but /metrics there: not the API, not the live channel, not a POST.
        _not_found(http_request(port, "GET", "/api/v1/health"))
        _not_found(http_request(port, "GET", "/socket.io/?EIO=4&transport=polling"))
        _not_found(http_request(port, "POST", "/metrics", body=b""))
        # The public port: the API as always, and /metrics is the 404 of an unknown path.
        assert server.get("/api/v1/health").status == 200
        public = server.get("/metrics")
        unknown = server.get("/no-such-path")
        _not_found(public)
        assert public.json() == unknown.json() == NOT_FOUND


def test_the_public_port_serves_metrics_only_to_the_token(tmp_path: Path) -> None:
    env = {"TASKFLOW_DATA_DIR": str(tmp_path / "data")}  # the tests' METRICS_TOKEN is set
    with serving(env, tmp_path) as server:
        assert server.get("/metrics", headers=METRICS_AUTH).status == 200
        _not_found(server.get("/metrics"))
        _not_found(server.get("/metrics", headers={"Authorization": "Bearer wrong-token-xxxx"}))
        token = METRICS_AUTH["Authorization"].removeprefix("Bearer ")
        _not_found(server.get("/metrics", headers={"Authorization": token}))  # no scheme
        _not_found(server.get("/metrics", headers={"Authorization": f"Basic {token}"}))


def test_without_a_token_the_public_port_never_serves_metrics(tmp_path: Path) -> None:
    env = {"TASKFLOW_DATA_DIR": str(tmp_path / "data"), "TASKFLOW_METRICS_TOKEN": ""}
    with serving(env, tmp_path) as server:
        _not_found(server.get("/metrics"))
        _not_found(server.get("/metrics", headers=METRICS_AUTH))
        _not_found(server.get("/metrics", headers={"Authorization": "Bearer "}))


def test_a_metrics_port_in_use_is_one_line_at_start(tmp_path: Path) -> None:
    with serving({"TASKFLOW_DATA_DIR": str(tmp_path / "a")}, tmp_path / "a") as other:
        result = run_taskflow(["serve", "--port", str(free_port())],
                              {"TASKFLOW_DATA_DIR": str(tmp_path / "b"),
                               "TASKFLOW_METRICS_PORT": str(other.port)}, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "TASKFLOW_METRICS_PORT" in lines[0] and str(other.port) in lines[0], lines[0]


def test_the_metrics_port_must_not_be_the_api_port(tmp_path: Path) -> None:
    port = free_port()
    result = run_taskflow(["serve", "--port", str(port)],
                          {"TASKFLOW_DATA_DIR": str(tmp_path / "data"),
                           "TASKFLOW_METRICS_PORT": str(port)}, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TASKFLOW_METRICS_PORT" in lines[0], result.stderr
    assert not (tmp_path / "data").exists(), "refused before anything is created"
