"""The security suite's target: one real `taskflow serve` process and a small world on it.

The world is two boards that must not see each other: Ada's board A (Ed edits it, Vic views
it) and Eve's board E. Eve is the attacker of most tests; every object of A has a twin on E,
so a test can mix the ids of both.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.security.target import Api, Person, doc_ip, register
from tests.support.liveclient import LiveClient
from tests.support.processes import TaskflowServer, serving

TARGET_SECRET = secrets.token_urlsafe(48)
ALLOWED_ORIGIN = "https://app.example.com"
UPLOAD_LIMIT_MB = 1
LIVE_CONNECT_RATE = 40

TARGET_ENV = {
    "JWT_SECRET": TARGET_SECRET,
    "TASKFLOW_ENV": "test",
    "CORS_ORIGINS": ALLOWED_ORIGIN,
    # Every client of this suite comes from 127.0.0.1, so one address's auth budget must
    # cover the whole suite's registrations and logins (the per-address limit itself is
    # tested in tests/test_ratelimit.py). Logins per account keep their production default.
    "TASKFLOW_RATE_LIMIT_AUTH_ADDRESS": "2000/minute",
    # The world's few users send thousands of requests a minute (many tests read all of
    # board A before and after an attack); the per-user limit is tested in test_ratelimit.py.
    "TASKFLOW_RATE_LIMIT_API": "50000/minute",
    "TASKFLOW_MAX_UPLOAD_MB": str(UPLOAD_LIMIT_MB),
    # Low enough for the connection-flood test to reach; every other live client of the suite
    # connects under an address of its own (X-Forwarded-For from a trusted proxy).
    "TASKFLOW_LIVE_CONNECT_RATE": f"{LIVE_CONNECT_RATE}/minute",
}


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskflowServer]:
    workdir: Path = tmp_path_factory.mktemp("security")
    with serving({**TARGET_ENV, "TASKFLOW_DATA_DIR": str(workdir / "data")}, workdir,
                 name="target") as running:
        yield running


@pytest.fixture(scope="session")
def http(target: TaskflowServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target.url, timeout=15) as client:
        yield client


@pytest.fixture(scope="session")
def api(http: httpx.Client) -> Api:
    return Api(http)


@dataclass
class World:
    """Board A (owner Ada, editor Ed, viewer Vic) and Eve's board E, each with a task
    (A's assigned to Ed), a comment and an attachment."""

    ada: Person
    ed: Person
    vic: Person
    eve: Person
    board_a: dict[str, Any]
    task_a: dict[str, Any]
    comment_a: dict[str, Any]
    attachment_a: dict[str, Any]
    board_e: dict[str, Any]
    task_e: dict[str, Any]
    comment_e: dict[str, Any]
    attachment_e: dict[str, Any]
    item_a: dict[str, Any]
    notification_a: dict[str, Any]
    webhook_a: dict[str, Any]
    token_a: dict[str, Any]

    def ids(self) -> dict[str, str]:
        """Names for path templates: {board_a}, {task_e}, {ada}..."""
        return {
            "board_a": self.board_a["id"], "task_a": self.task_a["id"],
            "comment_a": self.comment_a["id"], "attachment_a": self.attachment_a["id"],
            "board_e": self.board_e["id"], "task_e": self.task_e["id"],
            "comment_e": self.comment_e["id"], "attachment_e": self.attachment_e["id"],
            "ada": self.ada.id, "ed": self.ed.id, "vic": self.vic.id, "eve": self.eve.id,
            "column_a": self.board_a["columns"][1]["id"], "column_e": self.board_e["columns"][1]["id"],
            "item_a": self.item_a["id"], "notification_a": self.notification_a["id"],
            "webhook_a": self.webhook_a["id"],
            "token_a": self.token_a["id"],
        }


@pytest.fixture(scope="session")
def world(http: httpx.Client, api: Api) -> World:
    ada, ed, vic, eve = (register(http, name) for name in ("Ada", "Ed", "Vic", "Eve"))
    board_a = api.board(ada, "Victim", ed=(ed, "editor"), vic=(vic, "viewer"))
    task_a = api.task(ada, board_a["id"], title="Secret plan", assignee_id=ed.id)
    board_e = api.board(eve, "Attacker")
    task_e = api.task(eve, board_e["id"], title="Eve's own")
    return World(
        ada=ada, ed=ed, vic=vic, eve=eve,
        board_a=board_a, task_a=task_a, comment_a=api.comment(ed, task_a["id"], "for Ada only"),
        attachment_a=api.attachment(ada, task_a["id"], b"victim's file"),
        board_e=board_e, task_e=task_e, comment_e=api.comment(eve, task_e["id"]),
        attachment_e=api.attachment(eve, task_e["id"], b"eve's file"),
        item_a=api.ok("POST", f"/tasks/{task_a['id']}/checklist", ada, json={"text": "secret step"}),
        notification_a=_notification_of(api, ada, ed, task_a["id"]),
        webhook_a=webhook_of(api, ada, board_a["id"]),
        token_a=api.ok("POST", "/users/me/tokens", ada,
                       json={"name": "Ada's script", "scopes": ["read"], "expires_in_days": 1}),
    )


# A global address literal (no DNS); the filter names an event the suite never makes on the
# board, so nothing is ever sent to it.
WEBHOOK_URL = "https://93.184.215.14/taskflow-hook"


def webhook_of(api: Api, owner: Person, board_id: str) -> dict[str, Any]:
    made: dict[str, Any] = api.ok("POST", f"/boards/{board_id}/webhooks", owner,
                                  json={"url": WEBHOOK_URL, "events": ["member:updated"]})
    return made


def _notification_of(api: Api, to: Person, by: Person, task_id: str) -> dict[str, Any]:
    """A notification of `to`'s: `by` mentions them in a comment on the task."""
    api.comment(by, task_id, f"@[{to.name}] have a look")
    notification: dict[str, Any] = api.ok("GET", "/notifications?limit=1", to)["items"][0]
    return notification


@pytest.fixture
async def live(target: TaskflowServer) -> AsyncIterator[Any]:
    """connect(token, **LiveClient kwargs): a connected live client, closed after the test.

    Each client comes from an address of its own (see doc_ip) unless `headers` say otherwise."""
    opened: list[LiveClient] = []

    async def connect(token: str, *, headers: dict[str, str] | None = None,
                      **kwargs: Any) -> LiveClient:
        client = LiveClient(target.url, token, headers=headers or {"X-Forwarded-For": doc_ip()},
                            **kwargs)
        opened.append(client)
        return await client.connect()

    yield connect
    for client in opened:
        await client.close()

