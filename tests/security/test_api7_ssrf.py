"""API7:2023 Server Side Request Forgery.

TaskFlow never fetches a URL a client gives it: URLs are text like any other. A listener on
this machine stands in for an internal service; every field and header that could carry a
URL points at it, every read of those fields runs, and the listener must see no connection.
The only outbound connections the server makes go to what the operator configured (Redis,
MongoDB, S3, a secrets store): the last test keeps generic URL fetchers out of its code.
"""

from __future__ import annotations

import ast
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import taskflow
from tests.security.conftest import World
from tests.security.target import Api

# Generic clients that could fetch a URL taken from a request. The SDKs the server does use
# (redis, pymongo, boto3) connect only to endpoints named by the operator's settings.
FETCHERS = {"urllib.request", "http.client", "httpx", "requests", "aiohttp", "urllib3", "socket",
            "ftplib", "smtplib", "websockets", "pycurl"}
# Modules that import one of them for something else, and what for.
NOT_FETCHING = {
    ("serving.py", "socket"): "binds the listening sockets it serves (API and metrics ports)",
}

@pytest.fixture
def listener() -> Iterator[tuple[str, socket.socket]]:
    """A TCP listener on 127.0.0.1 that nothing should ever connect to."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/internal?x=1", sock


def _connections(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_urls_in_any_field_or_header_are_never_fetched(
        api: Api, world: World, listener: tuple[str, socket.socket]) -> None:
    url, sock = listener
    headers = {"Referer": url, "Origin": url, "X-Forwarded-Host": url.split("/")[2],
               "X-Forwarded-For": "127.0.0.1", "Forwarded": f"for=127.0.0.1;host={url}",
               "X-Original-URL": url, "X-Rewrite-URL": url, "Link": f"<{url}>"}
    eve = world.eve
    api.ok("PATCH", "/users/me", eve, json={"name": url[:100]}, headers=headers)
    board = api.ok("POST", "/boards", eve, json={"name": url[:100], "description": url}, headers=headers)
    task = api.task(eve, board["id"], title=url, description=f"![img]({url}) <img src=\"{url}\">",
                    tags=[url[:50]])
    api.comment(eve, task["id"], f"see {url}")
    r = api.call("POST", f"/tasks/{task['id']}/attachments", eve, headers=headers,
                 files={"file": (url.rsplit("/", 1)[-1], url.encode(), "text/uri-list")})
    assert r.status_code == 201, r.text
    attachment = r.json()
    api.call("POST", f"/tasks/{task['id']}/attachments/uploads", eve,
             json={"filename": url, "content_type": "text/html", "size": 1})
    for path in (f"/boards/{board['id']}", f"/tasks/{task['id']}", f"/tasks/{task['id']}/comments",
                 f"/tasks/{task['id']}/attachments", f"/boards/{board['id']}/events",
                 f"/tasks?q={url[:200]}"):
        assert api.call("GET", path, eve, headers=headers).status_code == 200
    content = api.call("GET", f"/tasks/{task['id']}/attachments/{attachment['id']}/content", eve,
                       headers=headers)
    assert content.status_code == 200 and content.content == url.encode()
    assert "location" not in content.headers
    # Each of these answered: a fetch made while serving them would be connected by now.
    assert _connections(sock) == 0
    api.ok("PATCH", "/users/me", eve, json={"name": eve.name})
    api.ok("DELETE", f"/boards/{board['id']}", eve)


def _imports(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def test_the_server_has_no_url_fetcher() -> None:
    root = Path(taskflow.__file__).parent
    offenders: list[str] = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        for module in _imports(path.read_text()):
            top = module.split(".")[0]
            if (module in FETCHERS or top in FETCHERS) and (name, module) not in NOT_FETCHING:
                offenders.append(f"{name}: {module}")
    assert offenders == []
