"""The request class: JSON bodies that fail to parse, or aren't JSON, get clear errors."""

from __future__ import annotations

import re
from typing import Any

from quart import Request

from taskflow.errors import MalformedJSON, UnsupportedMediaType

_UPLOAD_PATH = re.compile(r"^/api/v1/tasks/[^/]+/attachments$")
# Multipart framing around the file itself.
_MULTIPART_OVERHEAD = 64 * 1024
_IMPORT_PATH = "/api/v1/boards/import"


class JSONRequest(Request):
    """Bodies are limited to MAX_CONTENT_LENGTH, uploads to `upload_limit` instead."""

    upload_limit = 25 * 1024 * 1024
    import_limit = 200 * 1024 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.method == "POST" and _UPLOAD_PATH.match(self.path):
            self.body = self.body_class(self.content_length,
                                        self.upload_limit + _MULTIPART_OVERHEAD)
        elif self.method == "POST" and self.path == _IMPORT_PATH:
            # Streamed to a file as it arrives (http/porting.py), which counts it: no limit on
            # what is buffered here, since the handler takes each piece as it comes.
            self.body = self.body_class(None, None)

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
