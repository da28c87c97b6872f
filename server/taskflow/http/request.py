"""The request class: JSON bodies that fail to parse, or aren't JSON, get clear errors."""

from __future__ import annotations

import hashlib
import re
from typing import Any, cast

from quart import Request
from quart.wrappers.request import Body

from taskflow.errors import MalformedJSON, UnsupportedMediaType

_UPLOAD_PATH = re.compile(r"^/api/v1/tasks/[^/]+/attachments$")
# Multipart framing around the file itself.
_MULTIPART_OVERHEAD = 64 * 1024
_IMPORT_PATH = "/api/v1/boards/import"


class HashingBody(Body):
    """A request body that, once `hash()` is called, feeds every chunk it receives to a SHA-256
    as it arrives (before anyone reads it): the Idempotency-Key fingerprint of a streamed body,
    without holding the body."""

    digest: hashlib._Hash | None = None

    def hash(self) -> None:
        self.digest = hashlib.sha256()

    def append(self, data: bytes) -> None:
        if self.digest is not None and data and self._must_raise is None:
            self.digest.update(data)
        super().append(data)

    @property
    def complete(self) -> bool:
        """Every chunk has arrived (or the body was refused as too large)."""
        return self._complete.is_set()


class JSONRequest(Request):
    """Bodies are limited to MAX_CONTENT_LENGTH, uploads to `upload_limit` instead."""

    upload_limit = 25 * 1024 * 1024
    body_class = HashingBody
    import_limit = 200 * 1024 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.method == "POST" and _UPLOAD_PATH.match(self.path):
            # The form parser checks max_content_length too (else MAX_CONTENT_LENGTH, the
            # JSON body limit, would refuse every upload above it).
            self._max_content_length = self.upload_limit + _MULTIPART_OVERHEAD
            self.body = self.body_class(self.content_length, self._max_content_length)
        elif self.method == "POST" and self.path == _IMPORT_PATH:
            # Streamed to a file as it arrives (http/porting.py), which counts it: no limit on
            # what is buffered here, since the handler takes each piece as it comes.
            self._max_content_length = None
            self.body = self.body_class(None, None)
        if self.method == "POST" and "Idempotency-Key" in self.headers:
            cast(HashingBody, self.body).hash()

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if not (force or self.is_json) and not silent:
            body = await self.get_data(cache=True)
            if body:
                raise UnsupportedMediaType("Send the body as application/json")
            return None
        try:
            return await super().get_json(force=force, silent=silent, cache=cache)
        except UnicodeDecodeError:
            raise MalformedJSON("The body is not UTF-8") from None

    def on_json_loading_failed(self, error: Exception) -> Any:
        raise MalformedJSON(f"The body is not valid JSON: {error}")
