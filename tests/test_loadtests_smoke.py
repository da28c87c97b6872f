"""A few seconds of the Locust scenarios (loadtests/locustfile.py) against one real server.

Locust brings gevent, which must stay out of the server's environment: the kit lives in its
own venv, loadtests/.venv, made (or brought up to date) by loadtests/setup.sh. This test runs
that script first and fails, never skips, when the venv can't be made.
"""

from __future__ import annotations

import csv
import json
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import clean_env, serving

REPO = Path(__file__).resolve().parent.parent
LOADTESTS = REPO / "loadtests"
LOCUST = LOADTESTS / ".venv" / "bin" / "locust"
REST_TYPES = {"GET", "POST", "PATCH", "DELETE"}


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def ensure_kit_venv(tmp: Path) -> None:
    try:
        done = subprocess.run(["bash", str(LOADTESTS / "setup.sh")], env=clean_env({}, tmp),
                              capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"loadtests/setup.sh did not finish in {exc.timeout:g}s (installing Locust "
                    f"into loadtests/.venv); output:\n{_tail(str(exc.output or ''))}")
    if done.returncode != 0 or not LOCUST.exists():
        pytest.fail("could not create the load-test venv (loadtests/setup.sh, exit "
                    f"{done.returncode}); Locust must install from loadtests/requirements.txt:\n"
                    f"{_tail(done.stdout + done.stderr)}")


@pytest.mark.timeout(900)  # a first run installs Locust into loadtests/.venv
def test_locust_scenarios_record_rest_and_live_latency_without_failures(tmp_path: Path) -> None:
    ensure_kit_venv(tmp_path)
    env = {
        "JWT_SECRET": secrets.token_urlsafe(48),
        "TASKFLOW_ENV": "test",
        "TASKFLOW_DATA_DIR": str(tmp_path / "data"),
        # Rate limits stay at their defaults: a handful of users signs up and logs in well
        # within them, and the kit has to work against a server configured as shipped.
    }
    csv_prefix = tmp_path / "smoke"
    with serving(env, tmp_path / "server") as server:
        cmd = [str(LOCUST), "-f", str(LOADTESTS / "locustfile.py"), "--host", server.url,
               "--headless", "-u", "4", "-r", "4", "-t", "10s", "--only-summary",
               "--csv", str(csv_prefix), "--html", str(tmp_path / "smoke.html"),
               # one shared board, one LiveWriter (its default) writing 4/s, one LiveUser
               # watching it, the rest RestUsers
               "--tf-boards", "1", "--tf-writer-rate", "4",
               "--config-users", '[{"user_class_name": "LiveUser", "fixed_count": 1}]']
        try:
            run = subprocess.run(cmd, env=clean_env({}, tmp_path), cwd=tmp_path, capture_output=True,
                                 text=True, timeout=90, check=False)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"locust did not stop in {exc.timeout:g}s; server log:\n{_tail(server.log())}")
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"locust exited {run.returncode}:\n{_tail(output, 80)}"

    with (tmp_path / "smoke_stats.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    stats = {(r["Type"], r["Name"]): (int(r["Request Count"]), int(r["Failure Count"])) for r in rows}
    failed = {key: value for key, value in stats.items() if value[1]}
    assert not failed, f"failures recorded: {failed}\n{_tail(output, 60)}"

    rest = {key: n for key, (n, _) in stats.items() if key[0] in REST_TYPES and n > 0}
    assert ("POST", "POST /api/v1/auth/register") in rest, stats
    assert ("POST", "POST /api/v1/tasks") in rest, stats
    assert any(kind == "GET" for kind, _ in rest), stats

    live = {name: n for (kind, name), (n, _) in stats.items() if kind == "live"}
    assert live.get("connect", 0) >= 1, stats
    assert live.get("board:join", 0) >= 1, stats
    assert live.get("task:created -> subscriber", 0) >= 1, f"no live latency recorded: {stats}"
    assert (tmp_path / "smoke.html").stat().st_size > 0


@pytest.mark.timeout(300)
def test_bus_benchmark_runs_and_counts_what_each_instance_hears(tmp_path: Path) -> None:
    """loadtests/bus.py on a tiny cluster: each instance hears only its own boards' events."""
    setup = subprocess.run(["bash", str(LOADTESTS / "setup.sh"), "node"],
                           env=clean_env({}, tmp_path), capture_output=True, text=True,
                           timeout=300, check=False)
    assert setup.returncode == 0, _tail(setup.stdout + setup.stderr)
    done = subprocess.run([str(REPO / ".venv" / "bin" / "python"), str(LOADTESTS / "bus.py"),
                           "--instances", "2", "--boards", "6", "--writes", "2", "--users", "2"],
                          env=clean_env({}, tmp_path), capture_output=True, text=True,
                          timeout=240, check=False)
    assert done.returncode == 0, _tail(done.stdout + done.stderr)
    rows = {line[:28].strip(): line[28:].split() for line in done.stdout.splitlines()}
    # 6 boards, 3 homed on each instance, 2 writes each: 6 board events per instance (and
    # maybe a late presence message of a join per board); one shared channel would bring 12.
    for k in (1, 2):
        assert 6 <= int(rows[f"i{k} bus messages"][0]) <= 9, done.stdout
    assert rows["delivered / expected"] == ["12", "/", "12"], done.stdout
    assert rows["events of other boards"] == ["0"], done.stdout


@pytest.mark.timeout(400)
def test_rest_benchmark_measures_every_endpoint_beside_an_older_commit(tmp_path: Path) -> None:
    """loadtests/rest_bench.py, briefly: every endpoint answers 2xx under wrk (any other
    answer fails the run), on this checkout and on a git revision, with latency figures."""
    setup = subprocess.run(["bash", str(LOADTESTS / "setup.sh"), "wrk"], env=clean_env({}, tmp_path),
                           capture_output=True, text=True, timeout=300, check=False)
    assert setup.returncode == 0, _tail(setup.stdout + setup.stderr)
    figures = tmp_path / "figures.json"
    done = subprocess.run([str(REPO / ".venv" / "bin" / "python"), str(LOADTESTS / "rest_bench.py"),
                           "--duration", "1", "--big-column", "40", "--rounds", "1", "--src", "HEAD",
                           "--pacing-tries", "2",
                           "--json", str(figures)],
                          env=clean_env({}, tmp_path), capture_output=True, text=True,
                          timeout=360, check=False)
    assert done.returncode == 0, _tail(done.stdout + done.stderr, 60)
    (round_,) = json.loads(figures.read_text())
    assert round_["bare"]["rps"] > 0
    names = {"health", "board", "list50", "list200", "create", "create@10k", "update"}
    for side in ("this", "HEAD"):
        assert set(round_[side]) == names, round_
        for result in round_[side].values():
            assert result["rps"] > 0 and result["paced_rps"] > 0
            assert 0 < result["p50_ms"] <= result["p99_ms"]


@pytest.mark.timeout(300)
def test_soak_runs_a_mixed_workload_and_samples_every_instance(tmp_path: Path) -> None:
    """loadtests/soak.py, shortened to 30 s: the workload runs without an error and every
    series is sampled on every instance. (Whether something grows is what the 20-minute run
    in the README is for: 30 s is all warm-up.)"""
    done = subprocess.run([str(REPO / ".venv" / "bin" / "python"), str(LOADTESTS / "soak.py"),
                           "--minutes", "0.5", "--interval", "6", "--users", "4",
                           "--rest-workers", "2", "--live-users", "6", "--hop-every", "1,2",
                           "--reconnect-every", "8,12", "--login-pause", "3"],
                          env=clean_env({}, tmp_path), capture_output=True, text=True,
                          timeout=240, check=False)
    assert done.returncode in (0, 1), _tail(done.stdout + done.stderr)
    report = Path(done.stdout.split("report: ", 1)[1].splitlines()[0])
    try:
        result = json.loads(report.read_text())
    finally:
        report.unlink()
    counts = result["counts"]
    assert counts["errors"] == [], counts["errors"]
    assert counts["requests"] > 50 and counts["joins"] > 10 and counts["logins"] >= 1, counts
    assert counts["reconnects"] >= 6, counts
    assert len(result["samples"]) >= 5, len(result["samples"])
    series = {r["series"] for r in result["verdict"]}
    for k in (1, 2, 3):
        for name in ("rss_mb", "fds", "asyncio_tasks", "live_streams", "live_sockets"):
            assert f"i{k}.{name}" in series, series
    assert {"redis.redis_keys", "redis.presence_entries"} <= series, series
    assert all(s["i1"]["asyncio_tasks"] > 0 and s["i1"]["rss_mb"] > 10
               for s in result["samples"]), result["samples"][0]


@pytest.mark.timeout(300)
def test_search_benchmark_fills_the_store_and_measures_every_query_type(tmp_path: Path) -> None:
    """loadtests/search_bench.py with small numbers: the store fills, every query type
    answers (any non-2xx fails the run) and gets its p50/p95/p99 line."""
    done = subprocess.run([str(REPO / ".venv" / "bin" / "python"), str(LOADTESTS / "search_bench.py"),
                           "--tasks", "600", "--boards", "3", "--requests", "3"],
                          env=clean_env({}, tmp_path), capture_output=True, text=True,
                          timeout=240, check=False)
    assert done.returncode == 0, _tail(done.stdout + done.stderr, 60)
    lines = [line for line in done.stdout.splitlines() if line.strip().endswith(")")
             and "mean" in line]
    assert len(lines) == 9, done.stdout
    assert "filled 600/600 tasks" in done.stdout
