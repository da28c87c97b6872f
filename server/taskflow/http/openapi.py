"""The OpenAPI document: every operation documents its success and its problem responses."""

from __future__ import annotations

from typing import Any

from quart_schema.openapi import OpenAPIProvider
from werkzeug.routing import Rule

from taskflow.http.schemas import Problem

_PROBLEM = {"description": "An error, as RFC 9457 problem details",
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}}


class TaskFlowOpenAPI(OpenAPIProvider):
    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        for operations in paths.values():
            for operation in operations.values():
                responses = operation["responses"] = {
                    str(status): response for status, response in operation["responses"].items()}
                if not responses:
                    responses["204"] = {"description": "Done; no content"}
                responses["default"] = _PROBLEM
        components["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}")
        return paths, components
