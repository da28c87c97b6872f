"""API9:2023 Improper Inventory Management.

The served OpenAPI document is the inventory: it lists every route the server answers under
/api (health and readiness aside), and nothing else answers there: no other API version,
no debug or admin console.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx
import pytest

from taskflow.app import create_app
from taskflow.config import Settings
from tests.security.target import assert_problem

UNDOCUMENTED = {("GET", "/api/v1/health"), ("GET", "/api/v1/ready")}


def test_the_openapi_document_lists_exactly_the_api_routes(http: httpx.Client, tmp_path: Path) -> None:
    response = http.get("/openapi.json")
    assert response.status_code == 200, response.text[:300]
    documented = {(method.upper(), path) for path, operations in response.json()["paths"].items()
                  for method in operations}
    app = create_app(Settings(env="test", data_dir=tmp_path, jwt_secret=secrets.token_urlsafe(48)))
    served = {(method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    assert served - UNDOCUMENTED == documented


@pytest.mark.parametrize("path", [
    "/api/v0/boards", "/api/v2/boards", "/api/boards", "/api/v1/admin", "/api/v1/debug",
    "/admin", "/console", "/debug", "/.env", "/.git/config", "/server-status", "/api/v1/users",
    "/api/v1/users/someone-else-id",
])
def test_nothing_else_answers(http: httpx.Client, path: str) -> None:
    assert_problem(http.get(path), 404, "not_found")
