"""Schemathesis against the served OpenAPI document, signed in, on a real server process.

Every operation gets a bounded number of generated requests (MAX_EXAMPLES, valid and
invalid), about half of them with real ids so the requests reach past the 404s. No answer
may be a server error or break the documented schema (status, content type, headers, body),
accept data the schema forbids, or skip authentication.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from tests.security.conftest import webhook_of
from tests.security.target import Api, Person, register
from tests.support.processes import TaskflowServer, serving

MAX_EXAMPLES = 15
CHECK_NAMES = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_schema_conformance", "response_headers_conformance",
               "negative_data_rejection", "ignored_auth")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskflowServer]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    env = {"JWT_SECRET": secrets.token_urlsafe(48), "TASKFLOW_ENV": "test",
           "TASKFLOW_DATA_DIR": str(workdir / "data"),
           # One signed-in user sends every generated request, faster than any person could:
           # the per-user and per-address limits would turn most answers into 429s. The limits
           # stay on (their 429s are still checked against the schema) and are tested elsewhere.
           "TASKFLOW_RATE_LIMIT_API": "100000/minute",
           "TASKFLOW_RATE_LIMIT_AUTH_ADDRESS": "100000/minute"}
    with serving(env, workdir, name="fuzz") as running:
        yield running


class Fuzzed:
    """The signed-in user and real ids: `keep` for most operations, `spare` for DELETEs."""

    def __init__(self, http: httpx.Client) -> None:
        api = Api(http)
        self.user: Person = register(http, "Fuzz")
        self.other: Person = register(http, "Other")
        self.keep = self._objects(api)
        self.spare = self._objects(api)

    def _objects(self, api: Api) -> dict[str, str]:
        board = api.board(self.user, "Fuzzed", other=(self.other, "editor"))
        task = api.task(self.user, board["id"], assignee_id=self.other.id)
        # A column that may go (the board keeps a column of each category beside it).
        column = api.ok("POST", f"/boards/{board['id']}/columns", self.user,
                        json={"name": "Fuzzed column", "category": "in_progress"})
        # The other one mentions the user (who created the task, so also watches it): one
        # notification of the user's.
        api.comment(self.other, task["id"], f"@[{self.user.name}] see")
        notes = api.ok("GET", "/notifications?limit=1", self.user)
        return {"board_id": board["id"], "task_id": task["id"], "user_id": self.other.id,
                "column_id": column["id"],
                "item_id": api.ok("POST", f"/tasks/{task['id']}/checklist", self.user,
                                  json={"text": "fuzzed step"})["id"],
                "comment_id": api.comment(self.user, task["id"])["id"],
                "attachment_id": api.attachment(self.user, task["id"])["id"],
                "notification_id": notes["items"][0]["id"],
                "webhook_id": webhook_of(api, self.user, board["id"])["id"],
                "token_id": api.ok("POST", "/users/me/tokens", self.user, json={
                    "name": "fuzzed", "scopes": ["read"], "expires_in_days": 1})["id"]}


@pytest.fixture(scope="module")
def fuzzed(fuzz_server: TaskflowServer) -> Fuzzed:
    with httpx.Client(base_url=fuzz_server.url, timeout=15) as http:
        return Fuzzed(http)


@pytest.fixture(scope="module")
def api_schema(fuzz_server: TaskflowServer) -> Any:
    config = SchemathesisConfig.from_dict({"generation": {"database": "none"}})
    return schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json", config=config, timeout=15)


def _cases(operation: Any, fuzzed: Fuzzed) -> st.SearchStrategy[Any]:
    """Valid and invalid requests; where the path has ids, half of them get real ones."""
    ids = fuzzed.spare if operation.method.upper() == "DELETE" else fuzzed.keep
    names = re.findall(r"\{(\w+)\}", operation.path)
    real = {name: ids[name] for name in names}
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(mode))
        if real:
            strategies.append(operation.as_strategy(mode, path_parameters=real))
    return st.one_of(strategies)


def _describe(exc: BaseException) -> str:
    """The failure as Schemathesis words it: what broke, the response, and a curl to reproduce."""
    return str(exc) if not isinstance(exc, FailureGroup) else "\n".join(
        [str(exc), *(str(failure) for failure in exc.exceptions)])


def test_no_server_errors_and_no_schema_violations(api_schema: Any, fuzzed: Fuzzed) -> None:
    checks = [check for check in CHECKS.get_all() if check.__name__ in CHECK_NAMES]
    assert len(checks) == len(CHECK_NAMES)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 25

    for operation in operations:
        # Generated requests only: no shrinking (a failure is reported as found, with the
        # request that reproduces it), and the same requests on every run.
        @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                  phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
                  suppress_health_check=list(HealthCheck))
        @given(case=_cases(operation, fuzzed))
        def run(case: Any) -> None:
            case.call_and_validate(headers=fuzzed.user.headers, checks=checks, timeout=15)

        try:
            run()
        except (Exception, FailureGroup) as exc:  # one operation's failure must not hide others'
            failures[operation.label] = _describe(exc)
    assert failures == {}, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
