"""The request class: JSON bodies that fail to parse, or aren't JSON, get clear errors."""

from __future__ import annotations

from typing import Any

from quart import Request

from taskflow.errors import MalformedJSON, UnsupportedMediaType


class JSONRequest(Request):
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
