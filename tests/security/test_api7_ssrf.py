"""API7:2023 Server Side Request Forgery.

The one URL TaskFlow fetches is a board owner's webhook (webhooknet.py): it must refuse
loopback, private, link-local and metadata addresses, in every spelling, when the webhook is
made and again at send time after DNS (tests/test_webhook_delivery.py covers the send-time
check, on a server restarted without TASKFLOW_WEBHOOK_ALLOW_PRIVATE). Every other URL is text
like any other. A listener on this machine stands in for an internal service; every field and
header that could carry a URL, and every webhook spelling of its address, points at it, and
the listener must see no connection. The other outbound connections go to what the operator
configured (Redis, MongoDB, S3, a secrets store): the last test keeps generic URL fetchers out
of the code but for the webhook sender.
"""

from __future__ import annotations

import ast
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import taskflow
from tests.security.conftest import World
from tests.security.target import Api, assert_problem

# Generic clients that could fetch a URL taken from a request. The SDKs the server does use
# (redis, pymongo, boto3) connect only to endpoints named by the operator's settings.
FETCHERS = {"urllib.request", "http.client", "httpx", "requests", "aiohttp", "urllib3", "socket",
            "ftplib", "smtplib", "websockets", "pycurl"}
# Modules that import one of them for something else, and what for.
NOT_FETCHING = {
    ("serving.py", "socket"): "binds the listening sockets it serves (API and metrics ports)",
    ("webhooknet.py", "aiohttp"): "posts webhooks, under the SSRF rules tested here",
    ("webhooknet.py", "socket"): "address families of the webhook sender's vetted resolver",
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


def _spellings(port: int) -> list[str]:
    """The listener's address (127.0.0.1:port) as a webhook URL, spelled every which way."""
    return [f"http://{host}:{port}/hook" for host in (
        "127.0.0.1", "127.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1",
        "localhost", "LocalHost.", "hooks.localhost", "[::1]", "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:7f00:1]", "0.0.0.0", "[::]", "0")]  # noqa: S104


METADATA = ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/",
            "http://100.100.100.200/latest/meta-data/", "http://metadata.google.internal/",
            "http://[::ffff:169.254.169.254]/", "http://[fe80::1]/", "http://169.254.0.1/",
            "http://[64:ff9b::a9fe:a9fe]/", "http://224.0.0.251/",
            "http://10.0.0.1/", "http://192.168.0.1/", "http://172.16.0.1/", "http://[fc00::1]/",
            "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO",
            "http://eve:secret@93.184.215.14/"]


def test_webhooks_to_internal_addresses_are_refused_in_every_spelling(
        api: Api, world: World, listener: tuple[str, socket.socket]) -> None:
    url, sock = listener
    port = int(url.split(":")[2].split("/")[0])
    eve, board = world.eve, world.board_e["id"]
    admitted = []
    for candidate in [*_spellings(port), *METADATA]:
        r = api.call("POST", f"/boards/{board}/webhooks", eve, json={"url": candidate})
        if r.status_code != 422:
            admitted.append((candidate, r.status_code))
            continue
        problem = assert_problem(r, 422)
        assert problem["code"] == "validation_failed"
        assert problem["errors"][0]["loc"] == ["body", "url"]
    assert admitted == []
    assert api.ok("GET", f"/boards/{board}/webhooks", eve)["items"] == []
    api.comment(eve, world.task_e["id"], "an event that no webhook may carry inside")
    assert _connections(sock) == 0


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
            if (module in FETCHERS or top in FETCHERS) and (name, top) not in NOT_FETCHING:
                offenders.append(f"{name}: {module}")
    assert offenders == []
