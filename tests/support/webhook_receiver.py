"""A real HTTP receiver of webhooks for tests, verifying Standard Webhooks signatures itself.

The verification is written from the spec (standardwebhooks.com), not from the server's
code: the signed content is "{webhook-id}.{webhook-timestamp}.{body}", the key the base64
after `whsec_`, the signature `v1,` + base64 of its HMAC-SHA256; several space-separated
signatures may be sent, one matching is enough. `respond` decides each answer (status code).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: float = 300) -> bool:
    """Whether the request is signed with `secret` and its timestamp is recent."""
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit() or abs(time.time() - int(stamp)) > tolerance:
        return False
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_"):])
    expected = base64.b64encode(
        hmac.new(key, msg_id.encode() + b"." + stamp.encode() + b"." + body,
                 hashlib.sha256).digest()).decode()
    for candidate in headers.get("webhook-signature", "").split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


@dataclass
class Received:
    msg_id: str
    payload: dict[str, Any]
    verified: bool
    at: float


@dataclass
class WebhookReceiver:
    """Listens on 127.0.0.1:<port> in a thread; `received` holds every request, in order."""

    secret: str = ""
    respond: Callable[[Received], int] = lambda r: 200
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {}
                got = Received(msg_id=headers.get("webhook-id", ""), payload=payload,
                               verified=verify(receiver.secret, headers, body)
                               if receiver.secret else False, at=time.time())
                status = receiver.respond(got)
                with receiver._cond:
                    receiver.received.append(got)
                    receiver._cond.notify_all()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait(self, predicate: Callable[[list[Received]], bool], timeout: float,
             what: str = "") -> list[Received]:
        """Blocks until `predicate(received)` holds; AssertionError after `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.received), timeout):
                raise AssertionError(f"webhook receiver: not {what} within {timeout}s "
                                     f"(have {len(self.received)})")
            return list(self.received)
