"""The built web client at /: hashed assets cached for good, SPA fallback, nothing shadowed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from taskflow.app import create_app
from tests.support.processes import METRICS_AUTH


@pytest.fixture
async def web_app(make_settings: Any, tmp_path: Path) -> AsyncIterator[Quart]:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>TaskFlow</title>")
    (dist / "assets" / "index-3f9a2c1b.js").write_text("console.log('app')")
    (dist / "favicon.svg").write_text("<svg/>")
    app = create_app(make_settings(web_dist=dist))
    async with app.test_app():
        yield app


async def test_index_and_client_side_routes_get_the_app(web_app: Quart) -> None:
    client = web_app.test_client()
    for path in ("/", "/boards/abc123", "/profile"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert "<title>TaskFlow</title>" in await response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-cache"


async def test_hashed_assets_are_cached_for_good(web_app: Quart) -> None:
    client = web_app.test_client()
    asset = await client.get("/assets/index-3f9a2c1b.js")
    assert asset.status_code == 200
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    other = await client.get("/favicon.svg")
    assert other.headers["Cache-Control"] == "public, max-age=300"
    missing = await client.get("/assets/gone-00000000.js")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("application/problem+json")


async def test_the_app_does_not_shadow_the_api_or_the_service_endpoints(web_app: Quart) -> None:
    client = web_app.test_client()
    assert (await client.get("/api/v1/health")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/metrics", headers=METRICS_AUTH)).status_code == 200
    assert (await client.get("/docs")).status_code == 200
    unknown_api = await client.get("/api/v1/nothing-here")
    assert unknown_api.status_code == 404
    assert unknown_api.headers["Content-Type"].startswith("application/problem+json")
    escape = await client.get("/../../etc/passwd")
    assert "root:" not in await escape.get_data(as_text=True)  # at most the app's index
    traversal = await client.get("/assets/..%2F..%2F..%2Fetc%2Fpasswd.js")
    assert traversal.status_code == 404


async def test_the_docs_page_can_render_our_openapi_version(web_app: Quart) -> None:
    client = web_app.test_client()
    document = await (await client.get("/openapi.json")).get_json()
    assert document["openapi"].startswith("3.1")
    bundle = await (await client.get("/docs/assets/swagger-ui-bundle.js")).get_data(as_text=True)
    assert "isOAS31" in bundle  # Swagger UI 5 (4.x shows "Unable to render this definition")
