"""The HTTP surface every client sees: problem+json errors from every layer, security and
CORS headers, request ids, health/readiness, metrics, the OpenAPI document and /docs."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskflow.app import create_app
from taskflow.config import Settings
from tests.support.api import Account, make_board, make_task, problem, register
from tests.support.processes import METRICS_AUTH, free_port

if TYPE_CHECKING:
    from quart import Quart
    from quart.typing import TestClientProtocol

ORIGIN = "https://app.example.com"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[TestClientProtocol]:
    app = create_app(settings)
    async with app.test_app():
        yield app.test_client()


@pytest.fixture
async def ada(client: TestClientProtocol) -> Account:
    return await register(client, name="Ada")


@pytest.fixture
async def task(client: TestClientProtocol, ada: Account) -> dict[str, Any]:
    board = await make_board(client, ada)
    return await make_task(client, ada, board["id"], title="Surface")


async def validation_errors(response: Any) -> list[dict[str, Any]]:
    """Asserts a 422 problem with a well-formed `errors` list and returns it."""
    body = await problem(response, 422, "validation_failed")
    errors = body["errors"]
    assert errors, body
    for error in errors:
        assert isinstance(error["loc"], list) and error["loc"], error
        assert isinstance(error["msg"], str) and error["msg"], error
    return list(errors)


# --- errors from the routing and request layers -----------------------------------------
async def test_unknown_route_is_a_404_problem(client: TestClientProtocol) -> None:
    await problem(await client.get("/api/v1/no-such-thing"), 404, "not_found")
    await problem(await client.get("/nowhere"), 404, "not_found")
    await problem(await client.post("/api/v1/no-such-thing", json={}), 404, "not_found")


async def test_wrong_method_is_a_405_problem_with_allow(client: TestClientProtocol) -> None:
    for method, path, allowed in [("PUT", "/api/v1/tasks", {"GET", "POST"}),
                                  ("PUT", "/api/v1/users/me", {"GET", "PATCH", "DELETE"}),
                                  ("POST", "/api/v1/health", {"GET"})]:
        response = await client.open(path, method=method)
        await problem(response, 405, "method_not_allowed")
        allow = {m.strip() for m in response.headers["Allow"].split(",")}
        assert allowed <= allow, (method, path, allow)
        assert method not in allow


async def test_body_over_one_mebibyte_is_a_413_problem(client: TestClientProtocol,
                                                       ada: Account) -> None:
    big = json.dumps({"board_id": "b", "title": "t", "description": "x" * (1024 * 1024)})
    response = await client.post("/api/v1/tasks", data=big, headers={
        **ada.headers, "Content-Type": "application/json"})
    await problem(response, 413, "payload_too_large")
    # Public routes too, before anything reads the body.
    response = await client.post("/api/v1/auth/register", data=big,
                                 headers={"Content-Type": "application/json"})
    await problem(response, 413, "payload_too_large")


async def test_body_limit_follows_the_setting(make_settings: Callable[..., Settings]) -> None:
    async with running(make_settings(max_body_bytes=2048)) as client:
        ada = await register(client)
        board = await make_board(client, ada)
        fits = await client.post("/api/v1/tasks", headers=ada.headers,
                                 json={"board_id": board["id"], "title": "t", "description": "x" * 1500})
        assert fits.status_code == 201
        over = await client.post("/api/v1/tasks", headers=ada.headers,
                                 json={"board_id": board["id"], "title": "t", "description": "x" * 3000})
        await problem(over, 413, "payload_too_large")


async def test_non_json_body_is_a_415_problem(client: TestClientProtocol, ada: Account,
                                              task: dict[str, Any]) -> None:
    body = 'title=x&{"title": "x"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x"):
        response = await client.patch(f"/api/v1/tasks/{task['id']}", data=body,
                                      headers={**ada.headers, "Content-Type": content_type})
        await problem(response, 415, "unsupported_media_type")
        response = await client.post("/api/v1/auth/login", data=body,
                                     headers={"Content-Type": content_type})
        await problem(response, 415, "unsupported_media_type")


async def test_malformed_json_is_a_400_problem(client: TestClientProtocol, ada: Account,
                                               task: dict[str, Any]) -> None:
    for raw in (b"{bad", b'{"title": "x",}', b'{"a": NaN', b'{"title": "x"} trailing'):
        response = await client.patch(f"/api/v1/tasks/{task['id']}", data=raw,
                                      headers={**ada.headers, "Content-Type": "application/json"})
        await problem(response, 400, "malformed_json")


async def test_json_body_that_is_not_utf8_is_a_400_problem(client: TestClientProtocol) -> None:
    response = await client.post("/api/v1/auth/login", data=b'{"email": "\xff\xfe"}',
                                 headers={"Content-Type": "application/json"})
    await problem(response, 400, "malformed_json")


async def test_json_that_is_not_an_object_is_a_422(client: TestClientProtocol,
                                                   ada: Account) -> None:
    for body in ([], "title", 3, None):
        response = await client.post("/api/v1/tasks", data=json.dumps(body),
                                     headers={**ada.headers, "Content-Type": "application/json"})
        await validation_errors(response)


# --- 422: unknown and server-owned fields ------------------------------------------------
SERVER_OWNED = {"id": "t_forged", "version": 99, "created_by": "u_forged",
                "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z",
                "completed_at": "2020-01-01T00:00:00Z"}
REFUSED = {**SERVER_OWNED, "bogus": 1, "$where": "1", "status[$ne]": "done"}


async def test_post_task_refuses_unknown_and_server_owned_fields(
        client: TestClientProtocol, ada: Account) -> None:
    board = await make_board(client, ada)
    for name, value in REFUSED.items():
        response = await client.post("/api/v1/tasks", headers=ada.headers,
                                     json={"board_id": board["id"], "title": "t", name: value})
        errors = await validation_errors(response)
        assert ["body", name] in [e["loc"] for e in errors], (name, errors)
    listed = await client.get(f"/api/v1/tasks?board_id={board['id']}", headers=ada.headers)
    assert (await listed.get_json())["items"] == []


async def test_patch_task_refuses_unknown_and_server_owned_fields(
        client: TestClientProtocol, ada: Account, task: dict[str, Any]) -> None:
    for name, value in REFUSED.items():
        response = await client.patch(f"/api/v1/tasks/{task['id']}", headers=ada.headers,
                                      json={"title": "changed", name: value})
        errors = await validation_errors(response)
        assert ["body", name] in [e["loc"] for e in errors], (name, errors)
    after = await client.get(f"/api/v1/tasks/{task['id']}", headers=ada.headers)
    assert await after.get_json() == task


OPERATOR_QUERIES = [
    "status[$ne]=done", "status=$ne", "sort=;DROP", "sort=title;DROP TABLE tasks",
    "board_id[$gt]=", "q[$regex]=.*", "priority=urgent'--", "limit=0", "limit=201", "limit=abc",
    "due_before=yesterday", "assignee_id=../../etc",
]


async def test_operator_shaped_query_is_a_422(client: TestClientProtocol, ada: Account) -> None:
    for query in OPERATOR_QUERIES:
        errors = await validation_errors(await client.get(f"/api/v1/tasks?{query}",
                                                          headers=ada.headers))
        assert all(e["loc"][0] == "query" for e in errors), (query, errors)
    board = await make_board(client, ada)
    for query in ("since=-1", "since[$gt]=0", "limit=1001"):
        await validation_errors(await client.get(f"/api/v1/boards/{board['id']}/events?{query}",
                                                 headers=ada.headers))


# --- 500 ----------------------------------------------------------------------------------
async def test_a_fault_is_a_500_problem_without_internals(
        make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings())
    async with app.test_app():
        client = app.test_client()
        ada = await register(client)
        await app.extensions["taskflow"].store.close()  # the database goes away under us
        response = await client.get("/api/v1/boards", headers=ada.headers)
        body = await problem(response, 500, "internal_error")
        text = json.dumps(body).lower()
        assert set(body) == PROBLEM_KEYS
        for leak in ("sqlite", "error:", "file \"", ".py", "connection"):
            assert leak not in text, body
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers.get("X-Request-ID")
        ready = await client.get("/api/v1/ready")
        assert ready.status_code == 503
        assert (await ready.get_json())["checks"]["store"] != "ok"


# --- headers on every response -------------------------------------------------------------
async def _assorted(client: TestClientProtocol, ada: Account, task: dict[str, Any]) -> list[Any]:
    return [
        await client.get("/api/v1/health"),
        await client.get(f"/api/v1/tasks/{task['id']}", headers=ada.headers),
        await client.get("/api/v1/users/me"),  # 401
        await client.get("/api/v1/nope"),  # 404
        await client.put("/api/v1/tasks"),  # 405
        await client.post("/api/v1/tasks", json={"title": 1}, headers=ada.headers),  # 422
        await client.get("/docs"),
        await client.get("/metrics", headers=METRICS_AUTH),
        await client.get("/openapi.json"),
    ]


async def test_security_headers_on_every_response(client: TestClientProtocol, ada: Account,
                                                  task: dict[str, Any]) -> None:
    for response in await _assorted(client, ada, task):
        headers = response.headers
        csp = headers.get("Content-Security-Policy", "")
        directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
        assert directives.get("frame-ancestors") == "frame-ancestors 'none'", csp
        assert "'unsafe-inline'" not in directives.get("script-src", "script-src 'unsafe-inline'")
        assert headers.get("X-Content-Type-Options") == "nosniff"
        assert headers.get("Referrer-Policy") == "no-referrer"
        assert headers.get("X-Request-ID")
        assert "Strict-Transport-Security" not in headers, "HSTS only in production"


async def test_api_responses_are_not_cached(client: TestClientProtocol, ada: Account,
                                            task: dict[str, Any]) -> None:
    response = await client.get(f"/api/v1/tasks/{task['id']}", headers=ada.headers)
    assert response.headers.get("Cache-Control") == "no-store"


async def test_hsts_in_production(make_settings: Callable[..., Settings]) -> None:
    async with running(make_settings(env="production")) as client:
        for response in (await client.get("/api/v1/health"), await client.get("/nope")):
            hsts = response.headers.get("Strict-Transport-Security", "")
            max_age = re.search(r"max-age=(\d+)", hsts)
            assert max_age and int(max_age.group(1)) >= 180 * 24 * 3600, hsts


async def test_request_id_is_echoed_or_generated(client: TestClientProtocol) -> None:
    sent = "req-42.abc:DEF_9"
    assert (await client.get("/api/v1/health", headers={"X-Request-ID": sent})
            ).headers["X-Request-ID"] == sent
    assert (await client.get("/api/v1/nope", headers={"X-Request-ID": sent})
            ).headers["X-Request-ID"] == sent
    generated = [(await client.get("/api/v1/health")).headers["X-Request-ID"] for _ in range(2)]
    assert all(generated) and generated[0] != generated[1]
    for unsafe in ("has space", "x" * 129, "<script>", "a\tb"):
        got = (await client.get("/api/v1/health", headers={"X-Request-ID": unsafe})
               ).headers["X-Request-ID"]
        assert got and got != unsafe
        assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", got)


async def test_generated_request_ids_are_unique_across_instances(settings: Settings) -> None:
    seen: list[str] = []
    for _ in range(2):  # two instances of the app, as behind a load balancer
        async with running(settings) as client:
            seen += [(await client.get("/api/v1/health")).headers["X-Request-ID"] for _ in range(50)]
    assert len(set(seen)) == len(seen) == 100


# --- CORS -----------------------------------------------------------------------------------
def _preflight(origin: str, method: str = "PATCH") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type, if-match"}


def _names(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


async def test_cors_preflight_from_an_allowed_origin(make_settings: Callable[..., Settings]) -> None:
    async with running(make_settings(cors_origins=(ORIGIN,))) as client:
        response = await client.options("/api/v1/tasks/some-id", headers=_preflight(ORIGIN))
        assert response.status_code in (200, 204)
        headers = response.headers
        assert headers.get("Access-Control-Allow-Origin") == ORIGIN
        assert {"get", "post", "patch", "delete"} <= _names(headers.get("Access-Control-Allow-Methods"))
        assert {"authorization", "content-type", "if-match", "x-request-id"} <= _names(
            headers.get("Access-Control-Allow-Headers"))
        assert "origin" in _names(headers.get("Vary"))
        assert headers.get("Access-Control-Allow-Origin") != "*"


async def test_cors_actual_response_exposes_headers(make_settings: Callable[..., Settings]) -> None:
    async with running(make_settings(cors_origins=(ORIGIN,))) as client:
        for response in (await client.get("/api/v1/health", headers={"Origin": ORIGIN}),
                         await client.get("/api/v1/users/me", headers={"Origin": ORIGIN})):
            assert response.headers.get("Access-Control-Allow-Origin") == ORIGIN
            assert {"etag", "retry-after", "x-request-id"} <= _names(
                response.headers.get("Access-Control-Expose-Headers"))


async def test_cors_disallowed_origin_gets_nothing(make_settings: Callable[..., Settings]) -> None:
    async with running(make_settings(cors_origins=(ORIGIN,))) as client:
        for origin in ("https://evil.example", "https://app.example.com.evil.example",
                       "http://app.example.com", "https://app.example.com:8443", "null"):
            for response in (await client.options("/api/v1/tasks", headers=_preflight(origin)),
                             await client.get("/api/v1/health", headers={"Origin": origin})):
                assert not any(name.lower().startswith("access-control-allow")
                               for name, _ in response.headers.items()), (origin, dict(response.headers))


# --- service endpoints ------------------------------------------------------------------------
async def test_health(client: TestClientProtocol) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert (await response.get_json())["status"] == "ok"


async def test_ready_with_every_dependency_up(client: TestClientProtocol) -> None:
    response = await client.get("/api/v1/ready")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["checks"]["store"] == "ok"
    assert all(value == "ok" for value in body["checks"].values())


async def test_ready_with_redis_up(make_settings: Callable[..., Settings]) -> None:
    async with running(make_settings(redis_url="redis://127.0.0.1:6379/0")) as client:
        response = await client.get("/api/v1/ready")
        assert response.status_code == 200
        assert (await response.get_json())["checks"] == {"store": "ok", "redis": "ok"}


async def test_ready_is_503_while_redis_is_down(make_settings: Callable[..., Settings]) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    async with running(make_settings(redis_url=closed)) as client:
        response = await client.get("/api/v1/ready")
        assert response.status_code == 503
        retry_after = response.headers.get("Retry-After", "")
        assert retry_after.isdigit() and int(retry_after) >= 1
        body = await response.get_json(force=True)
        assert body["checks"]["store"] == "ok"
        assert body["checks"]["redis"] != "ok"
        # Liveness is not readiness: the process itself is fine.
        assert (await client.get("/api/v1/health")).status_code == 200


async def test_metrics_count_requests_by_route_template(client: TestClientProtocol, ada: Account,
                                                        task: dict[str, Any]) -> None:
    for _ in range(2):
        assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=ada.headers)
                ).status_code == 200
    await client.get(f"/api/v1/unknown-{task['id']}")
    response = await client.get("/metrics", headers=METRICS_AUTH)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.get_data(as_text=True)
    assert task["id"] not in text, "raw paths would make one time series per resource"

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    requests = {dict(labels)["route"]: value for (name, labels), value in samples.items()
                if name == "taskflow_http_requests_total"
                and dict(labels)["method"] == "GET" and dict(labels)["status"] == "200"}
    assert requests.get("/api/v1/tasks/<task_id>") == 2
    routes = {dict(labels)["route"] for (name, labels), _ in samples.items()
              if name == "taskflow_http_requests_total"}
    assert all(r == "unmatched" or ("{" not in r and r.startswith("/")) for r in routes), routes
    assert any(name == "taskflow_http_request_duration_seconds_count"
               and dict(labels)["route"] == "/api/v1/tasks/<task_id>" for name, labels in samples)
    assert samples[("process_resident_memory_bytes", ())] > 0
    assert samples[("taskflow_uptime_seconds", ())] >= 0


# --- OpenAPI and /docs ------------------------------------------------------------------------
CONTRACT_OPERATIONS = {
    ("post", "/api/v1/auth/register"), ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"), ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/users/me"), ("patch", "/api/v1/users/me"),
    ("get", "/api/v1/boards"), ("post", "/api/v1/boards"),
    ("get", "/api/v1/boards/{board_id}"), ("patch", "/api/v1/boards/{board_id}"),
    ("delete", "/api/v1/boards/{board_id}"), ("post", "/api/v1/boards/{board_id}/members"),
    ("patch", "/api/v1/boards/{board_id}/members/{user_id}"),
    ("delete", "/api/v1/boards/{board_id}/members/{user_id}"),
    ("get", "/api/v1/boards/{board_id}/stats"), ("get", "/api/v1/boards/{board_id}/events"),
    ("get", "/api/v1/tasks"), ("post", "/api/v1/tasks"), ("get", "/api/v1/tasks/{task_id}"),
    ("patch", "/api/v1/tasks/{task_id}"), ("delete", "/api/v1/tasks/{task_id}"),
    ("get", "/api/v1/tasks/{task_id}/comments"), ("post", "/api/v1/tasks/{task_id}/comments"),
    ("delete", "/api/v1/tasks/{task_id}/comments/{comment_id}"), ("get", "/api/v1/stats"),
}
PUBLIC = {("post", "/api/v1/auth/register"), ("post", "/api/v1/auth/login"),
          ("post", "/api/v1/auth/refresh")}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


async def _openapi(client: TestClientProtocol) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    doc: dict[str, Any] = json.loads(await response.get_data(as_text=True))
    return doc


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, item in doc["paths"].items()
            for method, op in item.items() if method in HTTP_METHODS}


async def test_openapi_document(client: TestClientProtocol) -> None:
    doc = await _openapi(client)
    assert re.fullmatch(r"3\.\d+\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    schemes = doc["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if s["type"] == "http" and s["scheme"] == "bearer"]
    assert bearer, schemes
    default = doc.get("security", [])

    operations = _operations(doc)
    assert set(operations) >= CONTRACT_OPERATIONS
    for (method, path), op in operations.items():
        assert path.startswith("/api/v1/"), path
        assert "<" not in path, path
        security = op.get("security", default)
        if (method, path) in PUBLIC:
            assert security == [], (method, path, security)
        else:
            names = {name for requirement in security for name in requirement}
            assert names & set(bearer), (method, path, security)
        for parameter in op.get("parameters", []):
            if parameter["in"] == "path":
                assert "{" + parameter["name"] + "}" in path


async def test_openapi_every_operation_documents_a_response(client: TestClientProtocol) -> None:
    """OpenAPI 3: a Responses Object must hold at least one response code."""
    undocumented = sorted(key for key, op in _operations(await _openapi(client)).items()
                          if not op.get("responses"))
    assert undocumented == []


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            if values.get("src"):
                self.urls.append(str(values["src"]))
            else:
                self.inline_scripts += 1
        if tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))


async def test_docs_are_served_from_this_server(client: TestClientProtocol) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    html = await response.get_data(as_text=True)
    assert not re.search(r"(https?:)?//[a-z0-9]", html, re.IGNORECASE), "no CDN or remote URL"
    assets = _Assets()
    assets.feed(html)
    assert assets.inline_scripts == 0, "the CSP allows no inline script"
    assert "/docs/assets/swagger-ui-bundle.js" in assets.urls
    for url in assets.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        fetched = await client.get(url)
        assert fetched.status_code == 200, url
        assert len(await fetched.get_data()) > 0
        if url.endswith(".js"):
            assert "javascript" in fetched.headers["Content-Type"], url
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert len(await bundle.get_data()) > 100_000


async def test_docs_assets_stay_in_their_directory(client: TestClientProtocol) -> None:
    for path in ("/docs/assets/../ops.py", "/docs/assets/..%2Fops.py", "/docs/assets/no-such.js"):
        await problem(await client.get(path), 404)


async def test_every_body_is_checked_against_its_documented_schema(app: Quart,
                                                                  client: TestClientProtocol) -> None:
    from tests.support.schemas import check_body

    account = await register(client)
    board = await make_board(client, account)
    task = await make_task(client, account, board["id"])
    body = json.dumps(task).encode()
    check_body(app, "GET", f"/api/v1/tasks/{task['id']}", 200, "application/json", body)
    for drifted in ({k: v for k, v in task.items() if k != "version"},  # a field missing
                    {**task, "secret": 1},                              # a field not documented
                    {**task, "version": "1"}):                           # a field mistyped
        with pytest.raises(AssertionError):
            check_body(app, "GET", f"/api/v1/tasks/{task['id']}", 200, "application/json",
                       json.dumps(drifted).encode())


def test_json_bodies_are_encoded_as_quart_encoded_them() -> None:
    from taskflow.http.responses import encode

    for value in ({"b": 1, "a": [1.5, None, True], "position": 1024.0},
                  {"title": "caf\u00e9 \u2603 \U0001f600", "tags": ["\u00fc"]}):
        assert encode(value) == json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


async def test_every_operation_has_a_whole_summary(client: TestClientProtocol) -> None:
    """A summary is its handler's docstring's first line: missing, /docs shows a bare path;
    a sentence cut there reads wrong."""
    cut = []
    for (method, path), op in _operations(await _openapi(client)).items():
        summary, description = op.get("summary", ""), op.get("description", "")
        if not summary or (description and (description[0].islower() or description[0] in "(`$")):
            cut.append(f"{method.upper()} {path}: {summary!r} / {description[:40]!r}")
    assert not cut, cut
