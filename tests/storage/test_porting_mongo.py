"""Export and import on MongoDB, through a real `taskflow serve` (tests/test_porting.py runs
the same surface on SQLite)."""

from __future__ import annotations

import json
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
FIXTURE = Path(__file__).parent.parent / "fixtures" / "trello_board.json"


@pytest.fixture
def database(mongo: MongoTarget) -> Iterator[tuple[str, str]]:
    name = f"tf_{uuid.uuid4().hex[:16]}"
    yield mongo.database_uri(name), name
    if not mongo.emulator:
        with MongoClient(mongo.uri) as client:
            client.drop_database(name)


def test_trello_import_and_round_trip_on_mongodb(mongo: MongoTarget, database: tuple[str, str],
                                                 tmp_path: Path) -> None:
    uri, name = database
    env = {"TASKFLOW_DATA_DIR": str(tmp_path / "data"), "MONGODB_URI": uri,
           "JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test"}
    if mongo.emulator:
        env["TASKFLOW_MONGODB_ALLOW_STANDALONE"] = "1"
    done = run_taskflow(["db", "init"], env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with serving(env, tmp_path) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        r = http.post("/api/v1/auth/register", json={
            "email": "mo@example.com", "password": "correct horse", "name": "Mo"})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}",
                   "Content-Type": "application/json"}
        r = http.post("/api/v1/boards/import", content=FIXTURE.read_bytes(), headers=headers)
        assert r.status_code == 201, r.text
        trello = r.json()
        assert [c["name"] for c in trello["columns"]] == ["Backlog", "Design", "Shipped"]
        exported = http.get(f"/api/v1/boards/{trello['id']}/export", headers=headers).json()
        assert sorted(t["title"] for t in exported["tasks"]) == [
            "Buy the domain", "Pick a font", "Plan launch party", "Write copy"]
        assert sum(len(t["comments"]) for t in exported["tasks"]) == 2
        r = http.post("/api/v1/boards/import", content=json.dumps(exported), headers=headers)
        assert r.status_code == 201, r.text
        again = http.get(f"/api/v1/boards/{r.json()['id']}/export", headers=headers).json()
        strip = ("id", "column_id", "updated_at", "completed_at", "comments")
        assert sorted(({k: v for k, v in t.items() if k not in strip} for t in again["tasks"]),
                      key=lambda t: t["title"]) == sorted(
            ({k: v for k, v in t.items() if k not in strip} for t in exported["tasks"]),
            key=lambda t: t["title"])
        events = http.get(f"/api/v1/boards/{r.json()['id']}/events", headers=headers).json()
        assert events["items"][0]["type"] == "board:created"
        assert [e["seq"] for e in events["items"]] == list(range(1, len(events["items"]) + 1))

        bad = json.loads(FIXTURE.read_text())
        bad["cards"][0]["pos"] = "first"
        r = http.post("/api/v1/boards/import", content=json.dumps(bad), headers=headers)
        assert r.status_code == 422
        assert r.json()["errors"][0]["loc"] == ["body", "$.cards[0].pos"]
        boards = http.get("/api/v1/boards", headers=headers).json()["items"]
        assert len(boards) == 3  # the personal board and the two imports
    with MongoClient(mongo.database_uri(name)) as client:
        db = client[name]
        assert db["imports"].count_documents({}) == 0
        member_boards = set(db["members"].distinct("board_id"))
        assert {doc["_id"] for doc in db["boards"].find({}, {"_id": 1})} == member_boards
