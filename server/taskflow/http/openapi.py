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
        for operations in paths.values():
            for operation in operations.values():
                responses = operation["responses"] = {
                    str(status): response for status, response in operation["responses"].items()}
                responses.update(extra)
                if more is not None:
                    for status, content in more["content"].items():
                        responses[status].setdefault("content", {}).update(content)
                    if more["request_body"] is not None:
                        operation["requestBody"] = more["request_body"]
                if not responses:
                    responses["204"] = {"description": "Done; no content"}
                responses["default"] = _PROBLEM
        components["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}")
        return paths, components
