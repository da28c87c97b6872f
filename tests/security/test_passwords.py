"""Passwords: stored as bcrypt cost 12 (read from the real database file), and a login
takes as long for an unknown email as for a known one with a wrong password."""

from __future__ import annotations

import re
import sqlite3
import statistics
import time

import bcrypt
import httpx

from tests.security.conftest import World
from tests.security.target import assert_problem, doc_ip, register, unique_email
from tests.support.processes import TaskflowServer

ROUNDS = 14  # logins of each kind; per-account limit (10/minute) is respected by using two


def test_stored_passwords_are_bcrypt_cost_12_and_nothing_secret_is_in_clear(
        target: TaskflowServer, http: httpx.Client, world: World) -> None:
    rotated = http.post("/api/v1/auth/refresh", json={"refresh_token": world.vic.refresh_token})
    assert rotated.status_code == 200
    world.vic.refresh_token = rotated.json()["refresh_token"]
    path = target.workdir / "data" / "taskflow.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        hashes = dict(db.execute("SELECT id, password_hash FROM users").fetchall())
        dump = "\n".join(db.iterdump())
    assert hashes and all(re.fullmatch(r"\$2b\$12\$[./A-Za-z0-9]{53}", h) for h in hashes.values())
    for person in (world.ada, world.eve):
        assert bcrypt.checkpw(person.password.encode(), hashes[person.id].encode())
    secrets_in_clear = [world.ada.password, world.vic.refresh_token, rotated.json()["access_token"],
                        world.eve.token, world.eve.refresh_token]
    assert [s for s in secrets_in_clear if s in dump] == []


def _login(http: httpx.Client, email: str) -> float:
    started = time.perf_counter()
    response = http.post("/api/v1/auth/login", json={"email": email, "password": "not the password"},
                         headers={"X-Forwarded-For": doc_ip()})
    elapsed = time.perf_counter() - started
    assert_problem(response, 401, "invalid_credentials")
    return elapsed


def test_unknown_and_known_emails_take_the_same_time(http: httpx.Client) -> None:
    known = [register(http, "Timed").email, register(http, "Timed").email]
    _login(http, known[0]), _login(http, unique_email("warm"))  # warm both paths up
    unknown_times, known_times = [], []
    for i in range(ROUNDS):  # interleaved, so load on the machine hits both alike
        unknown_times.append(_login(http, unique_email("nobody")))
        known_times.append(_login(http, known[i % 2]))
    unknown, present = statistics.median(unknown_times), statistics.median(known_times)
    # bcrypt cost 12 (~0.25 s) dominates both; a skipped verify would show as a gap of that size.
    assert min(unknown, present) > 0.05, (unknown, present)
    assert abs(unknown - present) <= max(0.3 * max(unknown, present), 0.06), (unknown, present)
