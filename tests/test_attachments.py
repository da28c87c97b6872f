"""Attachments on local disk and in S3 (moto's server, started here), through the real app.

moto's server does not check presigned signatures, so the S3 tests also check that the
signed URL carries what was signed (expiry, disposition, the object key).
"""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from quart import Quart
from werkzeug.datastructures import FileStorage

from taskflow.app import create_app
from taskflow.config import Settings
from taskflow.realtime.local import LocalPublisher
from tests.support.api import Account, make_board, make_task, problem, register
from tests.support.moto import moto_server


def _file(data: bytes, name: str = "notes.txt", content_type: str = "text/plain") -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name, content_type=content_type)


async def _upload(client: Any, who: Account, task_id: str, data: bytes, **kwargs: Any) -> Any:
    return await client.post(f"/api/v1/tasks/{task_id}/attachments", headers=who.headers,
                             files={"file": _file(data, **kwargs)})


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
async def s3_app(s3_server: str, make_settings: Any, monkeypatch: pytest.MonkeyPatch,
                 published: Any) -> AsyncIterator[tuple[Quart, Any]]:
    # boto3 reads credentials from the standard AWS variables, as in production.
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    bucket = f"taskflow-{time.time_ns()}"
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    settings: Settings = make_settings(s3_bucket=bucket, s3_endpoint_url=s3_server,
                                       s3_region="us-east-1", max_upload_bytes=1024 * 1024)
    app = create_app(settings, publisher=_capturing(published))
    async with app.test_app():
        yield app, s3


def _capturing(published: Any) -> LocalPublisher:
    publisher = LocalPublisher()
    publisher.subscribe(published)
    return publisher


@pytest.fixture
async def small_app(make_settings: Any, published: Any) -> AsyncIterator[Quart]:
    app = create_app(make_settings(max_upload_bytes=1024 * 1024), publisher=_capturing(published))
    async with app.test_app():
        yield app


async def _team(client: Any) -> tuple[Account, Account, dict[str, Any], dict[str, Any]]:
    owner, viewer = await register(client, name="Owner"), await register(client, name="Viewer")
    board = await make_board(client, owner, members={"v": viewer}, roles={"v": "viewer"})
    task = await make_task(client, owner, board["id"])
    return owner, viewer, board, task


async def test_local_upload_list_download_delete(small_app: Quart, published: Any) -> None:
    client = small_app.test_client()
    owner, viewer, board, task = await _team(client)
    r = await _upload(client, owner, task["id"], b"hello world", name="../../etc/pass\x00wd.txt")
    assert r.status_code == 201, await r.get_data(as_text=True)
    attachment = await r.get_json()
    assert set(attachment) == {"id", "task_id", "filename", "content_type", "size", "created_by",
                               "created_at"}
    assert (attachment["filename"], attachment["size"]) == ("passwd.txt", 11)
    listing = await (await client.get(f"/api/v1/tasks/{task['id']}/attachments",
                                      headers=viewer.headers)).get_json()
    assert [a["id"] for a in listing["items"]] == [attachment["id"]]
    content = await client.get(f"/api/v1/tasks/{task['id']}/attachments/{attachment['id']}/content",
                               headers=viewer.headers)
    assert content.status_code == 200
    assert await content.get_data() == b"hello world"
    assert content.headers["Content-Disposition"].startswith("attachment;")
    assert content.headers["X-Content-Type-Options"] == "nosniff"
    await problem(await client.delete(f"/api/v1/tasks/{task['id']}/attachments/{attachment['id']}",
                                      headers=viewer.headers), 403)
    r = await client.delete(f"/api/v1/tasks/{task['id']}/attachments/{attachment['id']}",
                            headers=owner.headers)
    assert r.status_code == 204
    types = [e.type for e in published.of_board(board["id"])]
    assert types[-2:] == ["attachment:added", "attachment:deleted"]
    blobs = Path(small_app.extensions["taskflow"].settings.data_dir) / "blobs"
    assert not [p for p in blobs.rglob("*") if p.is_file()]


async def test_html_is_served_as_a_download_never_rendered(small_app: Quart) -> None:
    client = small_app.test_client()
    owner, _, _, task = await _team(client)
    page = b"<script>alert(document.cookie)</script>"
    r = await _upload(client, owner, task["id"], page, name="x.html", content_type="text/html")
    attachment = await r.get_json()
    content = await client.get(f"/api/v1/tasks/{task['id']}/attachments/{attachment['id']}/content",
                               headers=owner.headers)
    assert content.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in content.headers["Content-Security-Policy"]
    assert content.headers["X-Content-Type-Options"] == "nosniff"


async def test_uploads_over_the_limit_are_413(small_app: Quart) -> None:
    client = small_app.test_client()
    owner, _, _, task = await _team(client)
    r = await _upload(client, owner, task["id"], b"x" * (1024 * 1024 + 1))
    await problem(r, 413, "payload_too_large")
    listing = await (await client.get(f"/api/v1/tasks/{task['id']}/attachments",
                                      headers=owner.headers)).get_json()
    assert listing["items"] == []


async def test_upload_needs_exactly_one_file_and_access(small_app: Quart) -> None:
    client = small_app.test_client()
    owner, viewer, _, task = await _team(client)
    stranger = await register(client, name="Eve")
    r = await client.post(f"/api/v1/tasks/{task['id']}/attachments", headers=owner.headers,
                          form={"note": "no file"})
    await problem(r, 422, "validation_failed")
    await problem(await _upload(client, viewer, task["id"], b"x"), 403, "forbidden")
    await problem(await _upload(client, stranger, task["id"], b"x"), 404, "not_found")
    local = await client.post(f"/api/v1/tasks/{task['id']}/attachments/uploads",
                              headers=owner.headers,
                              json={"filename": "big.bin", "size": 10})
    await problem(local, 409, "conflict")


async def test_deleting_a_task_or_board_deletes_its_files(small_app: Quart) -> None:
    client = small_app.test_client()
    owner, _, board, task = await _team(client)
    other = await make_task(client, owner, board["id"])
    for target in (task, other):
        assert (await _upload(client, owner, target["id"], b"data")).status_code == 201
    blobs = Path(small_app.extensions["taskflow"].settings.data_dir) / "blobs"

    def files() -> int:
        return len([p for p in blobs.rglob("*") if p.is_file()])

    assert files() == 2
    await client.delete(f"/api/v1/tasks/{task['id']}", headers=owner.headers)
    assert files() == 1
    await client.delete(f"/api/v1/boards/{board['id']}", headers=owner.headers)
    assert files() == 0


async def test_s3_upload_redirects_to_a_presigned_download(s3_app: tuple[Quart, Any]) -> None:
    app, s3 = s3_app
    client = app.test_client()
    owner, viewer, board, task = await _team(client)
    r = await _upload(client, owner, task["id"], b"in the bucket", name="report é.pdf",
                      content_type="application/pdf")
    attachment = await r.get_json()
    bucket = app.extensions["taskflow"].settings.s3_bucket
    key = f"boards/{board['id']}/tasks/{task['id']}/{attachment['id']}"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"in the bucket"
    content = await client.get(f"/api/v1/tasks/{task['id']}/attachments/{attachment['id']}/content",
                               headers=viewer.headers)
    assert content.status_code == 302
    url = urlsplit(content.headers["Location"])
    query = parse_qs(url.query)
    # What was signed: the object, a short expiry, and a download disposition.
    assert url.path == f"/{bucket}/{key}"
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["response-content-disposition"][0].startswith("attachment;")
    assert "filename*=UTF-8''report%20%C3%A9.pdf" in query["response-content-disposition"][0]
    assert query["response-content-type"] == ["application/pdf"]
    assert "X-Amz-Signature" in query
    async with httpx.AsyncClient(timeout=5) as http:
        fetched = await http.get(content.headers["Location"])
    assert fetched.content == b"in the bucket"
    await client.delete(f"/api/v1/tasks/{task['id']}", headers=owner.headers)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


async def test_s3_direct_upload_then_confirm(s3_app: tuple[Quart, Any], published: Any) -> None:
    app, _ = s3_app
    client = app.test_client()
    owner, _, board, task = await _team(client)
    base = f"/api/v1/tasks/{task['id']}/attachments"
    too_big = await client.post(f"{base}/uploads", headers=owner.headers,
                                json={"filename": "big.bin", "size": 2 * 1024 * 1024})
    await problem(too_big, 413, "payload_too_large")
    r = await client.post(f"{base}/uploads", headers=owner.headers,
                          json={"filename": "direct.txt", "content_type": "text/plain",
                                "size": 6})
    assert r.status_code == 201, await r.get_data(as_text=True)
    body = await r.get_json()
    form = body["upload"]
    policy_conditions = form["fields"]
    assert {"key", "policy", "x-amz-signature", "Content-Type"} <= set(policy_conditions)
    early = await client.post(f"{base}/{body['attachment_id']}/complete", headers=owner.headers)
    await problem(early, 409, "conflict")
    async with httpx.AsyncClient(timeout=5) as http:
        posted = await http.post(form["url"], data=form["fields"],
                                 files={"file": ("f", b"direct", "text/plain")})
    assert posted.status_code in (200, 201, 204)
    done = await client.post(f"{base}/{body['attachment_id']}/complete", headers=owner.headers)
    assert done.status_code == 201
    assert (await done.get_json())["size"] == 6
    assert published.of_board(board["id"])[-1].type == "attachment:added"
    listing = await (await client.get(base, headers=owner.headers)).get_json()
    assert [a["filename"] for a in listing["items"]] == ["direct.txt"]


async def test_upload_options_say_the_limit_and_whether_direct_uploads_work(
        small_app: Quart, s3_app: tuple[Quart, Any]) -> None:
    for app, direct in ((small_app, False), (s3_app[0], True)):
        client = app.test_client()
        owner, viewer, _, task = await _team(client)
        base = f"/api/v1/tasks/{task['id']}/attachments/uploads"
        r = await client.get(base, headers=owner.headers)
        assert r.status_code == 200
        assert await r.get_json() == {"max_bytes": 1024 * 1024, "direct_upload": direct}
        await problem(await client.get(base, headers=viewer.headers), 403, "forbidden")
        stranger = await register(client, name="Stranger")
        await problem(await client.get(base, headers=stranger.headers), 404, "not_found")


async def test_with_s3_the_csp_lets_the_browser_reach_the_bucket(
        small_app: Quart, s3_app: tuple[Quart, Any], s3_server: str) -> None:
    local = (await small_app.test_client().get("/api/v1/health")).headers["Content-Security-Policy"]
    assert "connect-src 'self' ws: wss:;" in local
    with_s3 = (await s3_app[0].test_client().get("/api/v1/health")).headers["Content-Security-Policy"]
    assert f"connect-src 'self' ws: wss: {s3_server};" in with_s3


def test_an_upload_larger_than_a_json_body_works_on_a_real_server(tmp_path: Path) -> None:
    """The upload limit (TASKFLOW_MAX_UPLOAD_MB), not the JSON body limit (1 MiB), bounds a
    multipart upload, with an Idempotency-Key or without: 3 MiB goes through and comes back byte
    for byte; above the limit is 413."""
    from tests.support.processes import TaskflowServer

    server = TaskflowServer(env={"TASKFLOW_DATA_DIR": str(tmp_path / "data"),
                                 "TASKFLOW_MAX_UPLOAD_MB": "4"}, workdir=tmp_path / "run").start()
    try:
        token = server.post("/api/v1/auth/register", json={
            "email": "big@example.com", "password": "correct horse battery", "name": "Big"}
        ).json()["access_token"]
        board = server.post("/api/v1/boards", json={"name": "Files"}, token=token).json()
        task = server.post("/api/v1/tasks", json={"board_id": board["id"], "title": "t"},
                           token=token).json()

        def upload(data: bytes, key: str | None = None) -> Any:
            boundary = "taskflowboundary"
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
            if key is not None:
                headers["Idempotency-Key"] = key
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                    f"filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
            return server.post(f"/api/v1/tasks/{task['id']}/attachments", body=body, token=token,
                               headers=headers, timeout=60)

        data = bytes(range(256)) * (3 * 4096)  # 3 MiB
        made = upload(data)
        assert made.status == 201, made.body[:300]
        back = server.get(f"/api/v1/tasks/{task['id']}/attachments/{made.json()['id']}/content",
                          token=token, timeout=60)
        assert back.status == 200 and back.body == data
        keyed = upload(data, key="big-upload-1")
        assert keyed.status == 201, keyed.body[:300]
        too_big = upload(b"x" * (4 * 1024 * 1024 + 1))
        assert too_big.status == 413, too_big.body[:300]
        assert too_big.json()["code"] == "payload_too_large"
    finally:
        server.stop()
