"""TaskFlow load-test scenarios for Locust (see loadtests/README.md).

Run it from the kit's own environment (loadtests/setup.sh), never the server's:

    loadtests/.venv/bin/locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 \
        --headless -u 20 -r 2 -t 2m --csv loadtests/reports/run --html loadtests/reports/run.html

User classes (mix them with weights, `--config-users`, or by naming them on the command line):

- RestUser    signs up, then browses boards, lists/filters/creates/updates/deletes tasks,
              comments, reads stats, now and then logs in again, with think time between.
              Tasks move between the board's columns by `column_id` (read from the board,
              as the web client does), and listings sometimes filter by one column.
- LiveUser    signs up, connects to the live channel, joins the shared boards and stays
              connected. Every board event it receives becomes a Locust request entry of type
              "live": "<type> -> subscriber" is the delay from the REST write that caused it
              (the writer puts its wall-clock send time in the task's description or the
              comment's body) to its arrival at this subscriber; "<type> -> subscriber (from
              commit)" is measured from the server's commit time `at`, for events no client
              stamped. A `seq` gap on a board that is not filled within --tf-miss-timeout, or
              an event the log has and the socket never delivered, is a failure entry on the
              same row.
- LiveWriter  writes (creates, updates, deletes tasks) on the shared boards at a steady rate
              (--tf-writer-rate per writer), stamped like RestUser's writes.

Shared boards: at test start the master (or the single local process) creates a pool of
--tf-boards boards, each owned by its own account (lt-<run>-owner<i>@<domain>), and passes
their ids and owners to the workers with the run's options. Each simulated user signs up as
itself and is added to its boards by their owners (rows marked "(setup)").

Step load: TASKFLOW_SHAPE=step selects StepLoadShape (--step-users, --step-seconds,
--step-count, --step-spawn-rate); with --class-picker it is offered in the web UI.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import random
import re
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode, urlsplit
from urllib.request import Request, urlopen

import gevent
import socketio
from gevent.lock import Semaphore
from locust import FastHttpUser, LoadTestShape, between, constant, constant_throughput, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

API = "/api/v1"
log = logging.getLogger("taskflow.loadtest")

# ---- options ------------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument("--tf-boards", type=int, default=4, env_var="LOCUST_TF_BOARDS",
                        help="TaskFlow: shared boards created at test start (one owner each)")
    parser.add_argument("--tf-boards-per-user", type=int, default=2, env_var="LOCUST_TF_BOARDS_PER_USER",
                        help="TaskFlow: shared boards each RestUser is an editor of")
    parser.add_argument("--tf-live-boards", type=int, default=0, env_var="LOCUST_TF_LIVE_BOARDS",
                        help="TaskFlow: shared boards each LiveUser joins (0: all)")
    parser.add_argument("--tf-writer-rate", type=float, default=1.0, env_var="LOCUST_TF_WRITER_RATE",
                        help="TaskFlow: writes per second of each LiveWriter")
    parser.add_argument("--tf-miss-timeout", type=float, default=5.0, env_var="LOCUST_TF_MISS_TIMEOUT",
                        help="TaskFlow: seconds after which an undelivered event counts as missing")
    parser.add_argument("--tf-probe-interval", type=float, default=30.0,
                        env_var="LOCUST_TF_PROBE_INTERVAL",
                        help="TaskFlow: seconds between a LiveUser's checks of the event log "
                             "(board:join with since) for events that never arrived")
    parser.add_argument("--tf-editing-per-minute", type=float, default=0.5,
                        env_var="LOCUST_TF_EDITING_PER_MINUTE",
                        help="TaskFlow: task:editing signals a LiveUser sends per minute")
    parser.add_argument("--tf-run-id", type=str, default="", env_var="LOCUST_TF_RUN_ID",
                        help="TaskFlow: names this run's accounts and boards; reusing one reuses "
                             "its owners and boards (default: new ones per start)")
    parser.add_argument("--tf-password", type=str, default="loadtest-password", is_secret=True,
                        env_var="LOCUST_TF_PASSWORD",
                        help="TaskFlow: password of every account the run creates")
    parser.add_argument("--tf-email-domain", type=str, default="example.com",
                        env_var="LOCUST_TF_EMAIL_DOMAIN",
                        help="TaskFlow: domain of the accounts the run creates")
    parser.add_argument("--tf-remote", action="store_true", default=False, env_var="LOCUST_TF_REMOTE",
                        help="TaskFlow: allow a --host that is not on this machine (127.0.0.0/8, ::1)")
    parser.add_argument("--tf-max-minutes", type=float, default=60.0, env_var="LOCUST_TF_MAX_MINUTES",
                        help="TaskFlow: stop any run after this long, whatever else says")
    parser.add_argument("--step-users", type=int, default=10, env_var="LOCUST_STEP_USERS",
                        help="StepLoadShape: users added per step")
    parser.add_argument("--step-seconds", type=float, default=60.0, env_var="LOCUST_STEP_SECONDS",
                        help="StepLoadShape: length of one step")
    parser.add_argument("--step-count", type=int, default=5, env_var="LOCUST_STEP_COUNT",
                        help="StepLoadShape: number of steps; the run ends after the last")
    parser.add_argument("--step-spawn-rate", type=float, default=2.0, env_var="LOCUST_STEP_SPAWN_RATE",
                        help="StepLoadShape: users started per second within a step")
    # Set by the master at test start; reaches the workers with the run's options.
    parser.add_argument("--tf-fixture", type=str, default="", include_in_web_ui=False,
                        help="(internal) the shared boards of this run, as JSON")


def opt(environment: Environment, name: str, default: Any) -> Any:
    """A run option, coerced to the type of `default` (the web UI may hand over strings)."""
    value = getattr(environment.parsed_options, name, None) if environment.parsed_options else None
    if value is None or value == "":
        return default
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
    return type(default)(value)


# ---- write stamps ---------------------------------------------------------------------------
# A writer puts "[lt sent=<unix time> v=<version>]" into what it writes; the subscriber that
# receives the event subtracts. `v` is the task version the write creates (0 for a comment):
# a later event about the same task (say, the server renumbering positions) still carries the
# old text, and the version tells it apart.

_STAMP = re.compile(r"\[lt sent=(\d+\.\d+) v=(\d+)\]")


def stamp(version: int) -> str:
    return f"[lt sent={time.time():.6f} v={version}]"


def stamped_at(event: dict[str, Any]) -> float | None:
    """The writer's send time of this event, when the event is that write's own."""
    data = event.get("data")
    if not isinstance(data, dict):
        return None
    text = data.get("body") if event.get("type", "").startswith("comment:") else data.get("description")
    match = _STAMP.search(text) if isinstance(text, str) else None
    if match is None:
        return None
    version = int(match.group(2))
    if version and data.get("version") != version:
        return None
    return float(match.group(1))


def committed_at(event: dict[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(str(event["at"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return None


def live_row(event: dict[str, Any]) -> tuple[str, float | None]:
    """The stats row of a board event and the time its delay is measured from."""
    kind = event.get("type", "event")
    sent = stamped_at(event)
    if sent is not None:
        return f"{kind} -> subscriber", sent
    return f"{kind} -> subscriber (from commit)", committed_at(event)


class MissingEvent(Exception):
    """A board event that did not reach a subscriber in time."""


class LiveFailure(Exception):
    """Something on the live channel that should not happen under load."""


def fire(environment: Environment, name: str, response_time: float, *, kind: str = "live",
         exception: BaseException | None = None, length: int = 0) -> None:
    environment.events.request.fire(request_type=kind, name=name, response_time=max(response_time, 0.0),
                                    response_length=length, exception=exception, context={})


# ---- the run's shared boards ------------------------------------------------------------------


def _is_local(host: str) -> bool:
    name = urlsplit(host).hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def call(host: str, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """One set-up request outside Locust's statistics: (status, decoded JSON body or None)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = Request(f"{host}{API}{path}", data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urlopen(request, timeout=30) as response:  # noqa: S310 - http(s) URL given by --host
            status, raw = response.status, response.read()
    except HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw[:200]


class Accounts:
    """Owner tokens of this process, obtained once and renewed when they run out or are refused."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = Semaphore()

    def remember(self, email: str, session: dict[str, Any]) -> None:
        self._tokens[email] = (session["access_token"], time.time() + float(session["expires_in"]) - 60)

    def token(self, host: str, email: str, password: str, *, renew: bool = False) -> str:
        with self._lock:
            held = self._tokens.get(email)
            if held is not None and not renew and held[1] > time.time():
                return held[0]
            status, body = call(host, "POST", "/auth/login", {"email": email, "password": password})
            if status != 200:
                raise LiveFailure(f"owner login {email}: {status} {body}")
            self.remember(email, body)
            return self._tokens[email][0]


OWNERS = Accounts()


def build_fixture(environment: Environment) -> dict[str, Any]:
    """Creates (or, with a given --tf-run-id, finds) the owners and boards of this run."""
    host = (environment.host or "").rstrip("/")
    run_id = opt(environment, "tf_run_id", "") or time.strftime("%m%d%H%M%S") + secrets.token_hex(2)
    password = opt(environment, "tf_password", "loadtest-password")
    domain = opt(environment, "tf_email_domain", "example.com")
    boards: list[dict[str, str]] = []
    for i in range(max(1, opt(environment, "tf_boards", 4))):
        email = f"lt-{run_id}-owner{i}@{domain}"
        status, body = call(host, "POST", "/auth/register",
                            {"email": email, "password": password, "name": f"Load test owner {i}"})
        if status == 201:
            OWNERS.remember(email, body)
        elif status != 409:  # 409: a reused run id, log in below
            raise LiveFailure(f"register {email}: {status} {body}")
        token = OWNERS.token(host, email, password)
        name = f"loadtest {run_id} #{i}"
        status, page = call(host, "GET", "/boards?limit=200", token=token)
        if status != 200:
            raise LiveFailure(f"list boards: {status} {page}")
        found = [b for b in page["items"] if b["name"] == name]
        if found:
            board = found[0]
        else:
            status, board = call(host, "POST", "/boards", token=token,
                                 body={"name": name, "description": "Made by loadtests/locustfile.py"})
            if status != 201:
                raise LiveFailure(f"create board: {status} {board}")
        boards.append({"id": board["id"], "owner": email})
    return {"run_id": run_id, "boards": boards}


def fixture_of(environment: Environment) -> dict[str, Any]:
    raw = opt(environment, "tf_fixture", "")
    if not raw:
        raise StopUser()  # the set-up failed (logged at test start) or never ran
    fixture: dict[str, Any] = json.loads(raw)
    return fixture


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return  # workers get the fixture with the run's options
    environment.parsed_options.tf_fixture = ""
    host = environment.host or ""
    if not _is_local(host) and not opt(environment, "tf_remote", False):
        log.error("refusing to load %s: not on this machine; pass --tf-remote for a deployment "
                  "you are allowed to load", host)
        environment.process_exit_code = 2
        _quit_soon(environment)
        return
    started = time.perf_counter()
    try:
        fixture = build_fixture(environment)
    except Exception as exc:  # any set-up failure ends the run, reported
        fire(environment, "test start: owners and boards", (time.perf_counter() - started) * 1000,
             kind="setup", exception=exc)
        log.error("could not set up the shared boards on %s: %s", host, exc)
        _quit_soon(environment)
        return
    fire(environment, "test start: owners and boards", (time.perf_counter() - started) * 1000, kind="setup")
    environment.parsed_options.tf_fixture = json.dumps(fixture)
    log.info("run %s: shared boards %s", fixture["run_id"], [b["id"] for b in fixture["boards"]])
    limit = opt(environment, "tf_max_minutes", 60.0) * 60
    runner = environment.runner
    _STARTS[0] += 1
    this_start = _STARTS[0]

    def stop_at_limit() -> None:
        if runner is None or _STARTS[0] != this_start or runner.state in ("stopped", "quitting", "ready"):
            return  # that run is over already
        log.warning("--tf-max-minutes reached: stopping the run")
        if getattr(environment.parsed_options, "headless", False):
            runner.quit()
        else:
            runner.stop()  # the web UI stays up for the reports

    if limit > 0:
        gevent.spawn_later(limit, stop_at_limit)


_STARTS = [0]  # test starts in this process (the web UI may start several)


def _quit_soon(environment: Environment) -> None:
    runner = environment.runner
    if runner is not None:
        gevent.spawn_later(0.5, runner.quit)


# ---- users ------------------------------------------------------------------------------------


class TaskFlowUser(FastHttpUser):
    """A person with an account: signs up in on_start, keeps its access token fresh."""

    abstract = True
    role = "editor"  # on the shared boards

    token = ""
    refresh_token = ""
    expires_at = 0.0
    email = ""
    user_id = ""

    def on_start(self) -> None:
        self.columns_known: dict[str, list[str]] = {}  # board id -> its column ids
        self.fixture = fixture_of(self.environment)
        self.password = opt(self.environment, "tf_password", "loadtest-password")
        self.sign_up()
        self.shared = self.pick_boards([b["id"] for b in self.fixture["boards"]])
        owners = {b["id"]: b["owner"] for b in self.fixture["boards"]}
        for board_id in self.shared:
            self.become_member(board_id, owners[board_id])

    def pick_boards(self, pool: list[str]) -> list[str]:
        return pool

    # -- session ------------------------------------------------------------------------------
    def _session(self, body: dict[str, Any]) -> None:
        self.token = body["access_token"]
        self.refresh_token = body["refresh_token"]
        self.expires_at = time.time() + float(body["expires_in"])
        self.user_id = body["user"]["id"]

    def sign_up(self) -> None:
        domain = opt(self.environment, "tf_email_domain", "example.com")
        self.email = f"lt-{self.fixture['run_id']}-{secrets.token_hex(6)}@{domain}"
        # A name of its own: a mention (`@[Name]`) of a shared name would notify all who bear it.
        self.display_name = f"Load {type(self).__name__} {secrets.token_hex(3)}"
        body = {"email": self.email, "password": self.password, "name": self.display_name}
        with self.client.post(f"{API}/auth/register", json=body, catch_response=True,
                              name=f"POST {API}/auth/register") as r:
            if r.status_code != 201:
                r.failure(f"{r.status_code}: {(r.text or '')[:200]}")
                raise StopUser()
            self._session(r.json())

    def log_in(self) -> None:
        with self.client.post(f"{API}/auth/login", json={"email": self.email, "password": self.password},
                              catch_response=True, name=f"POST {API}/auth/login") as r:
            if r.status_code == 200:
                self._session(r.json())
            else:
                r.failure(f"{r.status_code}: {(r.text or '')[:200]}")

    def refresh(self) -> bool:
        with self.client.post(f"{API}/auth/refresh", json={"refresh_token": self.refresh_token},
                              catch_response=True, name=f"POST {API}/auth/refresh") as r:
            if r.status_code == 200:
                self._session(r.json())
                return True
            r.failure(f"{r.status_code}: {(r.text or '')[:200]}")
            return False

    def auth(self) -> dict[str, str]:
        if time.time() > self.expires_at - 60:
            self.refresh()
        return {"Authorization": f"Bearer {self.token}"}

    def become_member(self, board_id: str, owner: str) -> None:
        host = (self.environment.host or "").rstrip("/")
        body = {"email": self.email, "role": self.role}
        for attempt in range(2):
            owner_token = OWNERS.token(host, owner, self.password, renew=attempt > 0)
            with self.client.post(f"{API}/boards/{board_id}/members", json=body, catch_response=True,
                                  headers={"Authorization": f"Bearer {owner_token}"},
                                  name=f"POST {API}/boards/[id]/members (setup)") as r:
                if r.status_code == 201:
                    return
                if r.status_code == 401 and attempt == 0:
                    r.success()  # the owner's token ran out: log in again and retry
                    continue
                r.failure(f"{r.status_code}: {(r.text or '')[:200]}")
                raise StopUser()

    # -- small REST helpers --------------------------------------------------------------------
    def create_task(self, board_id: str) -> dict[str, Any] | None:
        body = {"board_id": board_id, "title": f"Load task {secrets.token_hex(3)}",
                "description": f"Made under load. {stamp(1)}",
                "priority": random.choice(("low", "medium", "medium", "high", "urgent")),
                "tags": random.sample(["api", "web", "ops", "bug", "ux"], k=random.randint(0, 2))}
        with self.client.post(f"{API}/tasks", json=body, headers=self.auth(), catch_response=True,
                              name=f"POST {API}/tasks") as r:
            if r.status_code != 201:
                r.failure(f"{r.status_code}: {(r.text or '')[:200]}")
                return None
            task: dict[str, Any] = r.json()
            return task

    def update_task(self, task_id: str, version: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        """PATCH with If-Match; on 412 once more against the current version. None: gone."""
        for attempt in range(2):
            body = {**changes, "description": f"Changed under load. {stamp(version + 1)}"}
            headers = {**self.auth(), "If-Match": f'"{version}"'}
            with self.client.request("PATCH", f"{API}/tasks/{task_id}", json=body, headers=headers,
                                     catch_response=True, name=f"PATCH {API}/tasks/[id]") as r:
                if r.status_code == 200:
                    task: dict[str, Any] = r.json()
                    return task
                if r.status_code == 404:
                    r.success()  # deleted by someone else meanwhile
                    return None
                if r.status_code == 412 and attempt == 0:
                    r.success()  # someone else changed it first: a normal outcome, retry on theirs
                    version = int(r.json()["current"]["version"])
                    continue
                r.failure(f"{r.status_code}: {(r.text or '')[:200]}")
                return None
        return None

    def columns_of(self, board_id: str) -> list[str]:
        """The board's column ids, read once (GET /boards/{id}) and kept: a move names one."""
        known = self.columns_known
        if board_id not in known:
            with self.client.get(f"{API}/boards/{board_id}", headers=self.auth(), catch_response=True,
                                 name=f"GET {API}/boards/[id]") as r:
                if r.status_code != 200:
                    r.failure(f"{r.status_code}: {(r.text or '')[:200]}")
                    return []
                known[board_id] = [c["id"] for c in r.json()["columns"]]
        return known[board_id]

    def move_to_column(self, board_id: str) -> dict[str, Any]:
        """A move as the web client makes one: to one of the board's columns, by its id."""
        columns = self.columns_of(board_id)
        if not columns:
            return {"status": random.choice(("todo", "in_progress", "done"))}
        return {"column_id": random.choice(columns)}

    def delete_task(self, task_id: str) -> None:
        with self.client.delete(f"{API}/tasks/{task_id}", headers=self.auth(), catch_response=True,
                                name=f"DELETE {API}/tasks/[id]") as r:
            if r.status_code in (204, 404):
                r.success()
            else:
                r.failure(f"{r.status_code}: {(r.text or '')[:200]}")


class RestUser(TaskFlowUser):
    """Someone using the web client: mostly reading, sometimes writing, with think time."""

    weight = 6
    wait_time = between(1, 4)

    def pick_boards(self, pool: list[str]) -> list[str]:
        k = min(len(pool), max(1, opt(self.environment, "tf_boards_per_user", 2)))
        return random.sample(pool, k)

    def on_start(self) -> None:
        super().on_start()
        self.boards: list[str] = list(self.shared)
        self.tasks_seen: dict[str, int] = {}  # task id -> version
        self.task_boards: dict[str, str] = {}  # task id -> board id
        self.items_seen: dict[str, list[tuple[str, bool]]] = {}  # task id -> checklist (id, done)
        self.mine: list[str] = []
        self.mentionable: list[str] = []  # names of the other members of this user's boards
        self.browse_boards()

    def _remember(self, tasks: list[dict[str, Any]]) -> None:
        for t in tasks:
            self.tasks_seen[t["id"]] = int(t["version"])
            self.task_boards[t["id"]] = t["board_id"]
            self.items_seen[t["id"]] = [(i["id"], bool(i["done"])) for i in t.get("checklist", ())]
        while len(self.tasks_seen) > 300:
            oldest = next(iter(self.tasks_seen))
            self.tasks_seen.pop(oldest)
            self.items_seen.pop(oldest, None)
        if len(self.task_boards) > 600:  # tasks forgotten elsewhere (deleted, gone)
            self.task_boards = {k: v for k, v in self.task_boards.items() if k in self.tasks_seen}

    def _some_task(self) -> tuple[str, int] | None:
        if not self.tasks_seen:
            return None
        task_id = random.choice(list(self.tasks_seen))
        return task_id, self.tasks_seen[task_id]

    def _get(self, path: str, name: str, *, gone_ok: bool = False) -> Any:
        with self.client.get(path, headers=self.auth(), catch_response=True, name=name) as r:
            if r.status_code == 200:
                return r.json()
            if r.status_code == 404 and gone_ok:
                r.success()
                return None
            r.failure(f"{r.status_code}: {(r.text or '')[:200]}")
            return None

    @task(4)
    def browse_boards(self) -> None:
        page = self._get(f"{API}/boards", f"GET {API}/boards")
        if page:
            self.boards = [b["id"] for b in page["items"]] or self.boards
            self.mentionable = sorted({m["name"] for b in page["items"] for m in b["members"]
                                       if m["user_id"] != self.user_id})

    @task(8)
    def open_board(self) -> None:
        board_id = random.choice(self.boards)
        board = self._get(f"{API}/boards/{board_id}", f"GET {API}/boards/[id]")
        if board:
            self.columns_known[board_id] = [c["id"] for c in board["columns"]]
        page = self._get(f"{API}/tasks?{urlencode({'board_id': board_id, 'limit': 50})}",
                         f"GET {API}/tasks?board_id")
        if page:
            self._remember(page["items"])

    @task(5)
    def filter_tasks(self) -> None:
        query: dict[str, Any] = {"limit": random.choice((20, 50))}
        if random.random() < 0.7:
            query["board_id"] = random.choice(self.boards)
        if random.random() < 0.5:
            query["status"] = random.choice(("todo", "in_progress", "done"))
        elif "board_id" in query and random.random() < 0.3:  # one column of a board
            columns = self.columns_known.get(query["board_id"])
            if columns:
                query["column_id"] = random.choice(columns)
        if random.random() < 0.3:
            query["priority"] = random.choice(("high", "urgent"))
        if random.random() < 0.2:
            query["q"] = random.choice(("load", "task", "changed"))
        query["sort"] = random.choice(("-created_at", "-updated_at", "priority", "due_date", "position"))
        page = self._get(f"{API}/tasks?{urlencode(query)}", f"GET {API}/tasks?[filters]")
        if page:
            self._remember(page["items"])

    @task(4)
    def view_task(self) -> None:
        picked = self._some_task()
        if picked is None:
            return self.open_board()
        task_id, _ = picked
        found = self._get(f"{API}/tasks/{task_id}", f"GET {API}/tasks/[id]", gone_ok=True)
        if found is None:
            self.tasks_seen.pop(task_id, None)
            return None
        self._remember([found])
        self._get(f"{API}/tasks/{task_id}/comments", f"GET {API}/tasks/[id]/comments", gone_ok=True)
        return None

    @task(3)
    def add_task(self) -> None:
        created = self.create_task(random.choice(self.boards))
        if created:
            self._remember([created])
            self.mine.append(created["id"])

    @task(4)
    def change_task(self) -> None:
        picked = self._some_task()
        if picked is None:
            return self.add_task()
        task_id, version = picked
        board_id = self.task_boards.get(task_id)
        move = self.move_to_column(board_id) if board_id else {"status": "in_progress"}
        changes: dict[str, Any] = random.choice((
            move,  # dragged to another column (by column_id, as the web client sends it)
            {"priority": random.choice(("low", "medium", "high", "urgent"))},
            {**move, "position": random.uniform(0, 1000)},  # dropped between two cards
        ))
        updated = self.update_task(task_id, version, changes)
        if updated is None:
            self.tasks_seen.pop(task_id, None)
        else:
            self._remember([updated])
        return None

    @task(1)
    def comment(self) -> None:
        picked = self._some_task()
        if picked is None:
            return
        task_id, _ = picked
        body = f"Looks good. {stamp(0)}"
        # About one comment in four mentions someone (issue #17): a notification per mention.
        if self.mentionable and random.random() < 0.25:
            body = f"@[{random.choice(self.mentionable)}] {body}"
        with self.client.post(f"{API}/tasks/{task_id}/comments", json={"body": body},
                              headers=self.auth(), catch_response=True,
                              name=f"POST {API}/tasks/[id]/comments") as r:
            if r.status_code == 404:
                r.success()
                self.tasks_seen.pop(task_id, None)
            elif r.status_code != 201:
                r.failure(f"{r.status_code}: {(r.text or '')[:200]}")

    @task(2)
    def tick_checklist(self) -> None:
        """Ticks (or unticks) an item of a task's checklist; adds items to short checklists."""
        picked = self._some_task()
        if picked is None:
            return
        task_id, _ = picked
        items = self.items_seen.get(task_id) or []
        url = f"{API}/tasks/{task_id}/checklist"
        if len(items) < 3:
            request = self.client.post(url, json={"text": f"Step {len(items) + 1}"},
                                       headers=self.auth(), catch_response=True,
                                       name=f"POST {API}/tasks/[id]/checklist")
            expected = 201
        else:
            item_id, done = random.choice(items)
            request = self.client.request("PATCH", f"{url}/{item_id}", json={"done": not done},
                                          headers=self.auth(), catch_response=True,
                                          name=f"PATCH {API}/tasks/[id]/checklist/[item]")
            expected = 200
        with request as r:
            if r.status_code == 404:  # the task (or item) went away meanwhile
                r.success()
                self.tasks_seen.pop(task_id, None)
                self.items_seen.pop(task_id, None)
            elif r.status_code != expected:
                r.failure(f"{r.status_code}: {(r.text or '')[:200]}")
            else:
                item = r.json()
                kept = [(i, d) for i, d in items if i != item["id"]]
                self.items_seen[task_id] = [*kept, (item["id"], bool(item["done"]))]

    @task(1)
    def read_activity(self) -> None:
        """What the task dialog reads on opening: the first page of a task's activity."""
        picked = self._some_task()
        if picked is None:
            return
        found = self._get(f"{API}/tasks/{picked[0]}/activity?limit=20",
                          f"GET {API}/tasks/[id]/activity", gone_ok=True)
        if found is None:
            self.tasks_seen.pop(picked[0], None)

    @task(1)
    def remove_own_task(self) -> None:
        if len(self.mine) < 3:
            return
        task_id = self.mine.pop(0)
        self.tasks_seen.pop(task_id, None)
        self.delete_task(task_id)

    @task(1)
    def search(self) -> None:
        """The search box across boards: rarer than a listing (a person looking for a card),
        a word or two, sometimes with a filter; under the per-user search limit."""
        q = random.choice(("load", "task", "changed", "load task", '"load test"'))
        if random.random() < 0.3:
            q += " " + random.choice(("status:todo", "assignee:me", "due:<7d", "status:done"))
        self._get(f"{API}/search?{urlencode({'q': q, 'limit': 20})}", f"GET {API}/search")

    @task(2)
    def notifications(self) -> None:
        """The bell: the first page of the list (with its unread count), and now and then
        marking everything read."""
        page = self._get(f"{API}/notifications?limit=20", f"GET {API}/notifications")
        if page and page["unread_count"] and random.random() < 0.3:
            with self.client.post(f"{API}/notifications/read-all", headers=self.auth(),
                                  catch_response=True,
                                  name=f"POST {API}/notifications/read-all") as r:
                if r.status_code != 200:
                    r.failure(f"{r.status_code}: {(r.text or '')[:200]}")

    @task(2)
    def board_stats(self) -> None:
        self._get(f"{API}/boards/{random.choice(self.boards)}/stats", f"GET {API}/boards/[id]/stats")

    @task(2)
    def my_stats(self) -> None:
        self._get(f"{API}/stats", f"GET {API}/stats")

    @task(1)
    def profile(self) -> None:
        self._get(f"{API}/users/me", f"GET {API}/users/me")

    @task(1)
    def new_session(self) -> None:
        self.log_in()  # as after closing the browser; per-account login limits allow ~10/min


class LiveWriter(TaskFlowUser):
    """Writes on every shared board at a steady pace: the source of the live traffic.

    One per run by default (fixed_count), whatever the user count; change it with
    --config-users '[{"user_class_name": "LiveWriter", "fixed_count": 3}]'.
    """

    fixed_count = 1
    _pace: Any = None

    def wait_time(self) -> float:
        if self._pace is None:
            self._pace = constant_throughput(max(0.01, opt(self.environment, "tf_writer_rate", 1.0)))
        return float(self._pace(self))

    def on_start(self) -> None:
        super().on_start()
        self.turn = random.randrange(len(self.shared))
        self.recent: list[tuple[str, int]] = []  # (task id, version), oldest first
        self.boards_of: dict[str, str] = {}  # task id -> board id

    @task(7)
    def create(self) -> None:
        self.turn += 1
        created = self.create_task(self.shared[self.turn % len(self.shared)])
        if created:
            self.recent.append((created["id"], int(created["version"])))
            self.boards_of[created["id"]] = created["board_id"]
        if len(self.recent) > 20:  # keep the boards from growing without bound
            gone = self.recent.pop(0)[0]
            self.boards_of.pop(gone, None)
            self.delete_task(gone)

    @task(3)
    def update(self) -> None:
        if not self.recent:
            return self.create()
        i = random.randrange(len(self.recent))
        task_id, version = self.recent[i]
        updated = self.update_task(task_id, version, self.move_to_column(self.boards_of[task_id]))
        if updated is None:
            self.recent.pop(i)
        else:
            self.recent[i] = (task_id, int(updated["version"]))
        return None


@dataclass
class BoardStream:
    """What one subscriber has seen of one board."""

    board_id: str
    last: int | None = None  # highest seq received; None until the first join's ack
    early: list[tuple[dict[str, Any], float]] = field(default_factory=list)  # before that ack
    missing: dict[int, float] = field(default_factory=dict)  # seq -> when the gap was noticed
    recent_tasks: list[str] = field(default_factory=list)


class LiveUser(TaskFlowUser):
    """A browser tab left open: a live connection joined to the shared boards."""

    weight = 3
    role = "viewer"
    wait_time = constant(1)

    def pick_boards(self, pool: list[str]) -> list[str]:
        k = opt(self.environment, "tf_live_boards", 0)
        k = min(len(pool) if k <= 0 else k, len(pool), 50)  # the server allows 50 per connection
        return random.sample(pool, k)

    def on_start(self) -> None:
        self.streams: dict[str, BoardStream] = {}
        self.stopping = False
        self.connected_once = False
        self.refusal = ""
        super().on_start()
        self.miss_timeout = opt(self.environment, "tf_miss_timeout", 5.0)
        self.probe_every = opt(self.environment, "tf_probe_interval", 30.0)
        self.next_probe = time.time() + self.probe_every * random.uniform(0.5, 1.0)
        self.editing_chance = opt(self.environment, "tf_editing_per_minute", 0.5) / 60.0
        self.lock = Semaphore()  # one join at a time per connection
        self.sio = socketio.Client(reconnection=True, reconnection_attempts=5, reconnection_delay=1,
                                   handle_sigint=False, logger=False, engineio_logger=False)
        self.sio.on("connect", self._on_connect)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("auth:expiring", self._on_expiring)
        self.sio.on("auth:expired", lambda data=None: self._live_failure("auth:expired", data))
        self.sio.on("auth:revoked", lambda data=None: self._live_failure("auth:revoked", data))
        self.sio.on("*", self._on_event)
        started = time.perf_counter()
        try:
            self.sio.connect(self.environment.host or "", auth=lambda: {"token": self.token},
                             transports=["websocket"], socketio_path="socket.io", wait_timeout=15)
        except Exception as exc:  # reported as a failed "connect"
            fire(self.environment, "connect", (time.perf_counter() - started) * 1000,
                 exception=LiveFailure(f"{exc} {self.refusal}".strip()))
            raise StopUser() from None
        fire(self.environment, "connect", (time.perf_counter() - started) * 1000)
        self.connected_once = True
        for board_id in self.shared:
            self.streams[board_id] = BoardStream(board_id)
            self.join(self.streams[board_id])

    def on_stop(self) -> None:
        self.stopping = True
        sio = getattr(self, "sio", None)
        if sio is None:
            return
        try:
            with gevent.Timeout(max(5.0, self.miss_timeout), False):
                if sio.connected:
                    for stream in self.streams.values():
                        if stream.last is not None:
                            self.join(stream, "board:join (final check)")
        finally:
            with gevent.Timeout(5, False):
                sio.disconnect()

    # -- channel events ---------------------------------------------------------------------
    def _on_connect(self) -> None:
        if self.connected_once and not self.stopping:
            # Rooms belong to the connection: after a reconnect, join again from where we were.
            gevent.spawn(self._rejoin_all)

    def _rejoin_all(self) -> None:
        for stream in list(self.streams.values()):
            self.join(stream, "board:join (reconnect)", recovering=True)

    def _on_connect_error(self, data: Any = None) -> None:
        self.refusal = str(data.get("message") if isinstance(data, dict) else data)

    def _on_disconnect(self, reason: Any = None) -> None:
        if not self.stopping:
            fire(self.environment, "disconnect", 0, exception=LiveFailure(f"disconnected: {reason}"))

    def _live_failure(self, name: str, data: Any) -> None:
        if not self.stopping:
            fire(self.environment, name, 0, exception=LiveFailure(f"{name}: {data}"))

    def _on_expiring(self, data: Any = None) -> None:
        gevent.spawn(self._renew)

    def _renew(self) -> None:
        if not self.refresh():
            return
        started = time.perf_counter()
        try:
            ack = self.sio.call("auth:refresh", {"token": self.token}, timeout=15)
            ok = isinstance(ack, dict) and ack.get("ok")
            fire(self.environment, "auth:refresh", (time.perf_counter() - started) * 1000,
                 exception=None if ok else LiveFailure(f"auth:refresh refused: {ack}"))
        except Exception as exc:  # reported
            fire(self.environment, "auth:refresh", (time.perf_counter() - started) * 1000, exception=exc)

    def _on_event(self, event: str, data: Any = None) -> None:
        now = time.time()
        if not isinstance(data, dict) or "seq" not in data:
            return  # presence, task:editing: not board events
        stream = self.streams.get(str(data.get("board_id")))
        if stream is None:
            return
        if stream.last is None:
            stream.early.append((data, now))  # the join's ack will say where the board was
        else:
            self._accept(stream, data, now)

    def _accept(self, stream: BoardStream, event: dict[str, Any], now: float) -> None:
        """An event arrived: record its delay; note the seqs it skipped over."""
        assert stream.last is not None
        seq = int(event["seq"])
        if seq <= stream.last:
            if stream.missing.pop(seq, None) is None:
                return  # already had it (a join's events overlap what was in flight)
        else:
            for gap in range(stream.last + 1, seq):
                stream.missing.setdefault(gap, now)
            stream.last = seq
        name, since = live_row(event)
        fire(self.environment, name, (now - since) * 1000 if since is not None else 0)
        if event.get("type") == "task:created":
            stream.recent_tasks = [*stream.recent_tasks[-9:], event["data"]["id"]]

    def _missed(self, stream: BoardStream, event: dict[str, Any], now: float, how: str) -> None:
        name, since = live_row(event)
        waited = (now - since) * 1000 if since is not None else self.miss_timeout * 1000
        fire(self.environment, name, waited, exception=MissingEvent(
            f"{how}: seq {event.get('seq')} of board {stream.board_id} not delivered"
            f" within {self.miss_timeout:g} s"))

    # -- commands -----------------------------------------------------------------------------
    def join(self, stream: BoardStream, name: str = "board:join", *, recovering: bool = False) -> None:
        """board:join; a stream that has seen events asks for what came `since`, and whatever
        the log has that this socket should have had by now and never got is a missing event."""
        payload: dict[str, Any] = {"board_id": stream.board_id}
        if stream.last is not None:
            payload["since"] = min([stream.last, *(s - 1 for s in stream.missing)])
        with self.lock:
            started = time.perf_counter()
            try:
                ack = self.sio.call("board:join", payload, timeout=15)
            except Exception as exc:  # reported
                fire(self.environment, name, (time.perf_counter() - started) * 1000, exception=exc)
                return
            now = time.time()
            ok = isinstance(ack, dict) and ack.get("ok")
            fire(self.environment, name, (time.perf_counter() - started) * 1000,
                 exception=None if ok else LiveFailure(f"{name} refused: {ack}"))
            if not ok:
                return
            if stream.last is None:
                stream.last = int(ack["seq"])
                early, stream.early = stream.early, []
                for event, received in early:
                    self._accept(stream, event, received)
                return
            self._reconcile(stream, ack, now, recovering=recovering)

    def _reconcile(self, stream: BoardStream, ack: dict[str, Any], now: float, *, recovering: bool) -> None:
        assert stream.last is not None
        limit = self.miss_timeout
        if ack.get("resync"):
            # More was missed than one ack carries: what was noticed missing stays missing.
            for seq in sorted(stream.missing):
                self._missed(stream, {"seq": seq, "type": "event"}, now, "resync")
            stream.missing.clear()
            stream.last = max(stream.last, int(ack["seq"]))
            return
        for event in ack.get("events", []):
            seq = int(event["seq"])
            fresh = seq > stream.last
            noticed = stream.missing.get(seq)
            if not fresh and noticed is None:
                continue  # had it
            committed = committed_at(event)
            overdue = ((noticed is not None and now - noticed > limit)
                       or (committed is not None and now - committed > limit))
            if overdue and not recovering:
                stream.missing.pop(seq, None)
                if fresh:
                    stream.last = seq  # the ack's events are consecutive: no new gap opens here
                self._missed(stream, event, now, "never delivered" if fresh else "gap not filled")
            else:
                # Still in flight, or caught up after a reconnect: it arrives now.
                self._accept(stream, event, now)
        for seq in [s for s in stream.missing if s <= int(ack["seq"])]:
            stream.missing.pop(seq)
            self._missed(stream, {"seq": seq, "type": "event"}, now, "not in the log")

    @task
    def tick(self) -> None:
        """Once a second: look into gaps that outlived the timeout, probe, maybe signal editing."""
        if self.stopping or not self.sio.connected:
            return
        now = time.time()
        for stream in list(self.streams.values()):
            if stream.last is None:
                self.join(stream)  # the first join failed: try again
            elif any(now - noticed > self.miss_timeout for noticed in stream.missing.values()):
                self.join(stream, "board:join (gap)")
        if self.probe_every > 0 and now >= self.next_probe:
            self.next_probe = now + self.probe_every
            for stream in list(self.streams.values()):
                if stream.last is not None:
                    self.join(stream, "board:join (probe)")
        if random.random() < self.editing_chance:
            self.signal_editing()

    def signal_editing(self) -> None:
        candidates = [(s, t) for s in self.streams.values() for t in s.recent_tasks]
        if not candidates:
            return
        stream, task_id = random.choice(candidates)
        started = time.perf_counter()
        try:
            ack = self.sio.call("task:editing", {"task_id": task_id, "editing": True}, timeout=15)
        except Exception as exc:  # reported
            fire(self.environment, "task:editing", (time.perf_counter() - started) * 1000, exception=exc)
            return
        ok = isinstance(ack, dict) and (ack.get("ok") or ack.get("error", {}).get("status") == 404)
        fire(self.environment, "task:editing", (time.perf_counter() - started) * 1000,
             exception=None if ok else LiveFailure(f"task:editing refused: {ack}"))
        if isinstance(ack, dict) and ack.get("ok"):
            gevent.spawn_later(random.uniform(2, 8), self._stop_editing, task_id)
        else:
            stream.recent_tasks = [t for t in stream.recent_tasks if t != task_id]  # deleted meanwhile

    def _stop_editing(self, task_id: str) -> None:
        if self.sio.connected and not self.stopping:
            self.sio.emit("task:editing", {"task_id": task_id, "editing": False})


# ---- load shape -------------------------------------------------------------------------------


def _shape_chosen() -> bool:
    """Locust uses any shape class it finds: this one only when asked for."""
    picker = ("--class-picker" in sys.argv
              or os.environ.get("LOCUST_CLASS_PICKER", "").lower() in ("1", "true"))
    return picker or os.environ.get("TASKFLOW_SHAPE", "").lower() in ("step", "steploadshape")


class StepLoadShape(LoadTestShape):
    """--step-users more users every --step-seconds, --step-count times, then stop."""

    abstract = not _shape_chosen()

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        env = self.runner.environment
        step_seconds = max(1.0, opt(env, "step_seconds", 60.0))
        step = int(self.get_run_time() // step_seconds)
        if step >= max(1, opt(env, "step_count", 5)):
            return None
        return (step + 1) * max(1, opt(env, "step_users", 10)), max(0.1, opt(env, "step_spawn_rate", 2.0))


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        log.info("TaskFlow kit: the master creates the shared boards at test start")


@events.quitting.add_listener
def _last_csv_rows(environment: Environment, **_: Any) -> None:
    # Locust rewrites its CSV files once a second and closes them at exit without a last
    # write: one more turn of its writer puts in what was recorded while users stopped
    # (the LiveUsers' final checks for events that never arrived).
    options = environment.parsed_options
    if options is not None and getattr(options, "csv_prefix", None) \
            and not isinstance(environment.runner, WorkerRunner):
        gevent.sleep(1.2)
