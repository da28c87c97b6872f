"""GET /api/v1/search latency over a large embedded store.

    .venv/bin/python loadtests/search_bench.py [--tasks 100000] [--boards 40] [--requests 200]

Starts `taskflow serve` (embedded SQLite, Uvicorn) pinned to CPU 0, registers one user over
HTTP, then fills the same database file straight through the store (SqliteStore.transact,
1,000 tasks a transaction: the same writes, FTS index included, that the API makes, without
100k HTTP posts): `--boards` boards the user is a member of, `--tasks` tasks spread over
them with generated text (words drawn from a Zipf-like distribution over a 600-word
vocabulary, so some words are in a third of the tasks and some in a handful), a fifth
assigned to the user, tags, due dates, and 1-3 comments on a third of the tasks. Then it
asks each query type `--requests` times, one request at a time (closed loop, one client on
CPU 1), and prints p50/p95/p99 per type and the number of hits of the first page.

A benchmark: it prints figures and asserts nothing. Rate limits stay on; the search limit
is raised (TASKFLOW_RATE_LIMIT_SEARCH) so that it is counted but never reached.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from local import REPO, free_port
from rest_bench import running, server_env

from taskflow.domain import Board, Comment, Member, Task
from taskflow.ids import new_id
from taskflow.storage.sqlite import SqliteStore

BATCH = 1000
COMMON = ["fix", "update", "add", "page", "user", "error", "test", "release", "notes", "login",
          "api", "build", "deploy", "review", "design", "data", "report", "bug", "feature",
          "client", "server", "mobile", "search", "board", "task", "issue", "check", "move",
          "sync", "cache", "slow", "crash", "docs", "email", "export", "import", "billing",
          "invoice", "payment", "account", "settings", "profile", "upload", "download"]
TAGS = ["backend", "frontend", "ops", "design", "qa", "docs", "urgent", "later"]
STATUSES = ["todo", "in_progress", "done"]


def vocabulary(rng: random.Random) -> list[str]:
    """COMMON first (the most frequent), then made-up words (the rare tail)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    made = {"".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(700)}
    return COMMON + sorted(made - set(COMMON))[:556]


def sentence(rng: random.Random, words: list[str], weights: list[float], n: int) -> str:
    return " ".join(rng.choices(words, weights=weights, k=n))


async def fill(db: Path, user: dict[str, Any], boards: int, tasks: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    words = vocabulary(rng)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(words))]
    store = await SqliteStore.open(db)
    now = datetime.now(UTC)
    owner = Member(user_id=user["id"], name=user["name"], email=user["email"], role="owner")
    board_ids = []
    started = time.monotonic()
    try:
        async def make_boards(tx: Any) -> None:
            for n in range(boards):
                board = Board(id=new_id(), name=f"Bench board {n}", description="",
                              owner_id=user["id"], seq=0, created_at=now, updated_at=now,
                              members=(owner,))
                board_ids.append(board.id)
                await tx.insert_board(board)

        await store.transact(make_boards)
        made = 0
        while made < tasks:
            batch: list[Task] = []
            for n in range(made, min(tasks, made + BATCH)):
                status = rng.choice(STATUSES)
                at = now - timedelta(seconds=rng.randint(0, 90 * 86400))
                due = (now + timedelta(days=rng.randint(-30, 60))) if rng.random() < 0.4 else None
                batch.append(Task(
                    id=new_id(), board_id=board_ids[n % boards],
                    title=sentence(rng, words, weights, rng.randint(3, 8)),
                    description=sentence(rng, words, weights, rng.choice([0, 0, 10, 25, 40])),
                    status=status,  # type: ignore[arg-type]
                    priority=rng.choice(["low", "medium", "high", "urgent"]),  # type: ignore[arg-type]
                    due_date=due, assignee_id=user["id"] if rng.random() < 0.2 else None,
                    tags=tuple(rng.sample(TAGS, rng.randint(0, 2))), position=float(n),
                    created_by=user["id"], created_at=at, updated_at=at,
                    completed_at=at if status == "done" else None, version=1))

            async def insert(tx: Any, batch: list[Task] = batch) -> None:
                for task in batch:
                    await tx.insert_task(task)
                for task in batch:
                    if rng.random() < 1 / 3:
                        for _ in range(rng.randint(1, 3)):
                            await tx.insert_comment(Comment(
                                id=new_id(), task_id=task.id, board_id=task.board_id,
                                author_id=user["id"], body=sentence(rng, words, weights,
                                                                    rng.randint(5, 20)),
                                created_at=task.created_at))

            await store.transact(insert)
            made += len(batch)
            print(f"\r  filled {made}/{tasks} tasks", end="", flush=True)
        print(f"  ({time.monotonic() - started:.0f} s)")
    finally:
        await store.close()
    rare = words[-1]
    return {"common": words[0], "second": words[1], "rare": rare, "rare2": words[-2]}


def queries(w: dict[str, Any]) -> dict[str, str]:
    return {
        "1 word, common": w["common"],
        "1 word, rare": w["rare"],
        "2 words": f"{w['common']} {w['second']}",
        "2 words, rare": f"{w['rare']} {w['rare2']}",
        "phrase": f'"{w["common"]} {w["second"]}"',
        "filters only": "status:done tag:backend",
        "assignee:me due:<7d": "assignee:me due:<7d",
        "word + filters": f"{w['second']} status:todo assignee:me",
        "board + word": f'board:"Bench board 3" {w["common"]}',
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(url: str, token: str, qs: dict[str, str], requests: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        print(f"  {'query':<22} {'hits':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
        for name, q in qs.items():
            for _ in range(3):  # warm-up: the page cache and the server's code paths
                http.get("/api/v1/search", params={"q": q, "limit": 50}).raise_for_status()
            times = []
            hits = 0
            for _ in range(requests):
                start = time.perf_counter()
                r = http.get("/api/v1/search", params={"q": q, "limit": 50})
                times.append((time.perf_counter() - start) * 1000)
                r.raise_for_status()
                hits = len(r.json()["items"])
            print(f"  {name:<22} {hits:>5} {percentile(times, 50):8.1f} {percentile(times, 95):8.1f}"
                  f" {percentile(times, 99):8.1f}   (mean {statistics.mean(times):.1f})", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=100_000)
    p.add_argument("--boards", type=int, default=40)
    p.add_argument("--requests", type=int, default=200, help="per query type")
    p.add_argument("--seed", type=int, default=17)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        work = Path(tmp)
        data = work / "data"
        env = server_env(data)
        env["TASKFLOW_RATE_LIMIT_SEARCH"] = "100000000/minute"
        port = free_port()
        cmd = [str(REPO / ".venv" / "bin" / "taskflow"), "serve", "--host", "127.0.0.1",
               "--port", str(port)]
        with running(cmd, port, env, work / "server.log") as url:
            email = f"bench-{new_id()}@example.com"
            r = httpx.post(url + "/api/v1/auth/register", timeout=30,
                           json={"email": email, "password": "bench-password", "name": "Bench"})
            r.raise_for_status()
            body = r.json()
            print(f"search_bench: {args.tasks} tasks on {args.boards} boards (+1 personal),"
                  f" {args.requests} requests per query type", flush=True)
            words = asyncio.run(fill(data / "taskflow.db", body["user"], args.boards,
                                     args.tasks, args.seed))
            measure(url, body["access_token"], queries(words), args.requests)


if __name__ == "__main__":
    main()
