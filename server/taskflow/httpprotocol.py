"""Uvicorn's HTTP/1.1 protocol (httptools) with a bounded request head, and problem+json
for the requests it refuses before TaskFlow's app sees them.

- **The head is bounded.** httptools sets no limit on the request line and headers: a client
  could make the server buffer any amount before a request even starts. Above
  TASKFLOW_MAX_HEADER_BYTES (request line plus headers) the answer is 431 and the connection
  is closed. Counted exactly as the parser hands over the URL and each header, and, while a
  head is still incomplete, by the bytes received for it (so a head that never ends is cut
  off too; at most one read beyond the limit is buffered).
- **Problem+json.** What the parser refuses (not HTTP/1.1, a malformed head) gets a 400
  `application/problem+json` with the hardening headers, instead of Uvicorn's plain text.
- **A lingering close** after either answer, as nginx does: the server ends its side, then
  reads and discards what the client is still sending (up to LINGER_SECONDS and
  LINGER_BYTES) before closing. Closing with unread data makes the kernel reset the
  connection, and the client may then never see the answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_MAX_HEAD_BYTES = 16 * 1024
LINGER_SECONDS = 2.0
LINGER_BYTES = 4 * 1024 * 1024
_REASONS = {400: b"Bad Request", 431: b"Request Header Fields Too Large"}
_HEADERS = (
    b"content-type: application/problem+json\r\n"
    b"cache-control: no-store\r\n"
    b"x-content-type-options: nosniff\r\n"
    b"x-frame-options: DENY\r\n"
    b"referrer-policy: no-referrer\r\n"
    b"content-security-policy: default-src 'none'; frame-ancestors 'none'\r\n"
    b"connection: close\r\n"
)


class HeadTooLarge(Exception):
    """Raised from a parser callback: the request head passed the limit."""


def problem_response(status: int, code: str, title: str, detail: str) -> bytes:
    """A whole HTTP/1.1 response carrying an RFC 9457 problem document."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status,
                       "detail": detail, "code": code}).encode()
    return (b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]) + _HEADERS
            + b"content-length: %d\r\n\r\n" % len(body) + body)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes = DEFAULT_MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # of the request head being parsed
        self._in_head = True  # until the parser has every header of the current request
        self._received_in_head = 0  # bytes received while the current head is incomplete
        self._lingering: asyncio.TimerHandle | None = None  # answered: discarding until then
        self._discarded = 0

    @classmethod
    def limited_to(cls, max_head_bytes: int) -> type[BoundedHttpToolsProtocol]:
        """This protocol with another limit (Uvicorn takes a class)."""
        return type(cls.__name__, (cls,), {"max_head_bytes": max_head_bytes})

    # --- counting ---------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES:
                self.transport.close()
            return
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._received_in_head += len(data)
            if self._received_in_head > self.max_head_bytes:
                self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # name, ": ", value, CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._received_in_head = 0
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            raise HeadTooLarge  # the parser fails; Uvicorn then calls send_400_response

    # --- refusing ---------------------------------------------------------------------------
    def _refuse_head(self) -> None:
        self._answer_and_close(problem_response(
            431, "headers_too_large", "Request header fields too large",
            f"The request line and headers must fit in {self.max_head_bytes} bytes"))

    def send_400_response(self, msg: str) -> None:
        if self._head_bytes > self.max_head_bytes:
            self._refuse_head()
            return
        self._answer_and_close(problem_response(
            400, "bad_request", "Bad request", "The request is not valid HTTP/1.1"))

    def _answer_and_close(self, response: bytes) -> None:
        if self._lingering is not None:
            return
        self.transport.write(response)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._lingering = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)
