"""JSON responses built once, without a second validation of what the services produced.

Handlers return their view dicts; `json_body(Model, status)` documents `Model` in the OpenAPI
document (quart-schema's `document_response`) and encodes the result with orjson. Validating
each response again against `Model` at run time (quart-schema's `validate_response`) cost a
fifth of a list request; the test suite checks every body it receives against the
documented model instead (tests/support/schemas.py), so schema drift still fails.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from typing import Any, ParamSpec

import orjson
from quart import Response
from quart_schema import document_response

P = ParamSpec("P")
JSON = "application/json"


def encode(value: Any) -> bytes:
    """Compact JSON with sorted keys, byte for byte what Quart's own encoder wrote before
    (ASCII only: text with other characters is escaped as \\uXXXX, as json.dumps does)."""
    body = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    if body.isascii():
        return body
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def json_response(value: Any, status: int = 200, headers: Mapping[str, str] | None = None,
                  content_type: str = JSON) -> Response:
    """`value` as a JSON response."""
    return Response(encode(value), status=status, headers=dict(headers) if headers else None,
                    content_type=content_type)


def with_etag(value: Any, etag: str, status: int = 200) -> Response:
    """A JSON response carrying the resource's ETag."""
    return json_response(value, status, {"ETag": etag})


def json_body(model: type[Any], status: int = 200) -> Callable[
        [Callable[P, Awaitable[Any]]], Callable[P, Awaitable[Response]]]:
    """Documents `model` as the body of `status` and sends what the handler returns as JSON:
    a value, `(value, status)`, or a ready Response (another status, headers, no body)."""

    def decorator(func: Callable[P, Awaitable[Any]]) -> Callable[P, Awaitable[Response]]:
        documented = document_response(model, status)(func)

        @wraps(documented)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
            result = await documented(*args, **kwargs)
            if isinstance(result, Response):
                return result
            if isinstance(result, tuple):
                value, code = result
                return json_response(value, code)
            return json_response(result, status)

        return wrapper

    return decorator
