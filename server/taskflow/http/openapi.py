"""The OpenAPI document: every operation documents its success and its problem responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from quart_schema.openapi import OpenAPIProvider
from werkzeug.routing import Rule

from taskflow.http.schemas import Problem

_PROBLEM = {"description": "An error, as RFC 9457 problem details",
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}}


# Every keyed POST (http/idempotency.py): the header, the replay marker, and its two refusals.
_ANONYMOUS_POSTS = ("/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh")
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "1 to 255 printable ASCII characters, unique per intended write. The first "
                   "response (2xx, 3xx, 4xx but 408, 413 and 429) is kept 24 h per user and key "
                   "and replayed, with `Idempotent-Replayed: true`, to a retry with the same "
                   "method, path and body; another body answers 422 "
                   "(`idempotency_key_reused`), a retry while the first still runs 409 "
                   "(`idempotency_key_in_use`, with Retry-After); a malformed key 400.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
_IN_USE = {**_PROBLEM, "description": "A request with this Idempotency-Key is still running "
                                      "(`idempotency_key_in_use`; see Retry-After), or another "
                                      "conflict"}
_REUSED = {**_PROBLEM, "description": "Validation failed, or this Idempotency-Key was used "
                                      "with another request (`idempotency_key_reused`)"}
_REPLAYED = {"description": "`true` when this response is the replay of a stored one "
                           "(Idempotency-Key)", "schema": {"type": "string", "enum": ["true"]}}
_EXTRA = "_taskflow_openapi_responses"
F = TypeVar("F", bound=Callable[..., Any])


def responds(**described: str) -> Callable[[F], F]:
    """Documents responses without a JSON body: `@responds(r200="the bytes", r302="...")`."""

    def mark(func: F) -> F:
        setattr(func, _EXTRA, {key.lstrip("r"): {"description": text}
                               for key, text in described.items()})
        return func

    return mark


_MORE = "_taskflow_openapi_more"


def documents(*, content: dict[str, dict[str, Any]] | None = None,
              request_body: dict[str, Any] | None = None) -> Callable[[F], F]:
    """More of an operation than quart-schema documents: other content types of a response
    (`content={"200": {"text/csv": {...}}}`) and a request body read without a model."""

    def mark(func: F) -> F:
        setattr(func, _MORE, {"content": content or {}, "request_body": request_body})
        return func

    return mark


class TaskFlowOpenAPI(OpenAPIProvider):
    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        extra = getattr(self._app.view_functions[rule.endpoint], _EXTRA, {})
        more = getattr(self._app.view_functions[rule.endpoint], _MORE, None)
        for path, operations in paths.items():
            for method, operation in operations.items():
                responses = operation["responses"] = {
                    str(status): response for status, response in operation["responses"].items()}
                responses.update(extra)
                if more is not None:
                    for status, content in more["content"].items():
                        responses[status].setdefault("content", {}).update(content)
                    if more["request_body"] is not None:
                        operation["requestBody"] = more["request_body"]
                if method == "post" and path.startswith("/api/v1/") and path not in _ANONYMOUS_POSTS:
                    operation.setdefault("parameters", []).append(_IDEMPOTENCY_KEY)
                    for status, response in responses.items():
                        if status[0] in "234":
                            response.setdefault("headers", {})["Idempotent-Replayed"] = _REPLAYED
                    responses.setdefault("409", _IN_USE)
                    responses.setdefault("422", _REUSED)
                if not responses:
                    responses["204"] = {"description": "Done; no content"}
                responses["default"] = _PROBLEM
        components["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}")
        return paths, components
