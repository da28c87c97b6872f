"""Every JSON body the tests receive is checked against the schema its route documents.

The server no longer validates its own responses at run time (http/responses.py); this client
does it for every request any test makes, so a response that drifts from its documented model
(a missing, extra or mistyped field) fails the test that received it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError
from quart import Quart
from quart.testing import QuartClient
from quart_schema.validation import QUART_SCHEMA_RESPONSE_ATTRIBUTE
from werkzeug.exceptions import HTTPException

_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _documented(app: Quart, method: str, path: str) -> dict[int, Any] | None:
    """The response schemas the matched route documents (None: no route, or none documented)."""
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path.split("?", 1)[0], method=method)
    except HTTPException:
        return None
    schemas: dict[int, Any] | None = getattr(app.view_functions[endpoint],
                                             QUART_SCHEMA_RESPONSE_ATTRIBUTE, None)
    return schemas


def check_body(app: Quart, method: str, path: str, status: int, content_type: str,
               body: bytes) -> None:
    """Fails when a 2xx JSON body doesn't match exactly what its route documents."""
    schemas = _documented(app, method, path)
    if not schemas or not 200 <= status < 300 or status == 204:
        return
    assert status in schemas, f"{method} {path} answered {status}, documented {sorted(schemas)}"
    assert content_type.startswith("application/json"), f"{method} {path}: {content_type}"
    model = schemas[status][0]
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    received = json.loads(body)
    try:
        parsed = adapter.validate_python(received)
    except ValidationError as exc:
        raise AssertionError(f"{method} {path} body breaks its schema {model.__name__}: {exc}") from None
    # Validation alone ignores extra fields and coerces types: the body must be exactly
    # what the model dumps again.
    assert adapter.dump_python(parsed, mode="json") == received, (
        f"{method} {path} body differs from its schema {model.__name__}")


class SchemaCheckingClient(QuartClient):
    """Quart's test client, checking each response body against its documented schema."""

    async def open(self, path: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        response = await super().open(path, *args, **kwargs)
        method = str(kwargs.get("method", "GET")).upper()
        if response.status_code != 304 and "text/event-stream" not in (response.content_type or ""):
            body = await response.get_data()
            check_body(self.app, method, path, response.status_code, response.content_type or "",
                       body)
        return response
