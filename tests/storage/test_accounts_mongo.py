"""Account deletion on MongoDB, through a real `taskflow serve` (the cluster suite runs it on
SQLite): one transaction leaves the shared board, deletes the board owned alone, ends the
personal access tokens and frees the email."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from tests.support.mongo import MongoTarget
from tests.support.processes import run_taskflow, serving

pytestmark = pytest.mark.mongo
PASSWORD = "correct horse"


@pytest.fixture
def database(mongo: MongoTarget) -> Iterator[tuple[str, str]]:
    name = f"tf_{uuid.uuid4().hex[:16]}"
    yield mongo.database_uri(name), name
    if not mongo.emulator:
        with MongoClient(mongo.uri) as client:
            client.drop_database(name)


def test_account_deletion_on_mongodb(mongo: MongoTarget, database: tuple[str, str],
                                     tmp_path: Path) -> None:
    uri, name = database
    env = {"TASKFLOW_DATA_DIR": str(tmp_path / "data"), "MONGODB_URI": uri,
           "JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test"}
    if mongo.emulator:
        env["TASKFLOW_MONGODB_ALLOW_STANDALONE"] = "1"
    done = run_taskflow(["db", "init"], env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with serving(env, tmp_path) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        def register(who: str) -> tuple[str, dict[str, str]]:
            r = http.post("/api/v1/auth/register", json={
                "email": f"{who}@example.com", "password": PASSWORD, "name": who.title()})
            assert r.status_code == 201, r.text
            return r.json()["user"]["id"], {"Authorization": f"Bearer {r.json()['access_token']}"}

        ada_id, ada = register("ada")
        eve_id, eve = register("eve")
        shared = http.post("/api/v1/boards", json={"name": "Ada's"}, headers=ada).json()["id"]
        r = http.post(f"/api/v1/boards/{shared}/members", headers=ada,
                      json={"email": "eve@example.com", "role": "editor"})
        assert r.status_code == 201, r.text
        task = http.post("/api/v1/tasks", headers=ada, json={
            "board_id": shared, "title": "hers", "assignee_id": eve_id}).json()
        own = http.post("/api/v1/boards", json={"name": "Eve's"}, headers=eve).json()["id"]
        token = http.post("/api/v1/users/me/tokens", headers=eve, json={
            "name": "bot", "scopes": ["read"], "expires_in_days": 1}).json()["token"]

        r = http.request("DELETE", "/api/v1/users/me", headers=eve,
                         json={"current_password": PASSWORD})
        assert r.status_code == 204, r.text
        board = http.get(f"/api/v1/boards/{shared}", headers=ada).json()
        assert [m["user_id"] for m in board["members"]] == [ada_id]
        assert http.get(f"/api/v1/tasks/{task['id']}", headers=ada).json()["assignee_id"] is None
        types = [e["type"] for e in http.get(f"/api/v1/boards/{shared}/events?since=0",
                                             headers=ada).json()["items"]]
        assert types[-2:] == ["member:removed", "task:updated"], types
        for headers in (eve, {"Authorization": f"Bearer {token}"}):
            assert http.get("/api/v1/users/me", headers=headers).status_code == 401
        r = http.post("/api/v1/auth/login", json={"email": "eve@example.com", "password": PASSWORD})
        assert r.status_code == 401, r.text
        r = http.post("/api/v1/auth/register", json={
            "email": "eve@example.com", "password": PASSWORD, "name": "Eve again"})
        assert r.status_code == 201, r.text
    with MongoClient(uri) as client:
        db = client[name]
        row = db.users.find_one({"_id": eve_id})
        assert row is not None and row["name"] == "Deleted user"
        assert row["email"] == f"{eve_id}@deleted.invalid"
        assert db.boards.find_one({"_id": own}) is None
        assert db.deleted_boards.find_one({"_id": own}) is not None
        assert db.members.count_documents({"user_id": eve_id}) == 0
        assert db.personal_tokens.count_documents({"user_id": eve_id}) == 0
