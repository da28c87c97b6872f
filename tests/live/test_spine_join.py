"""The join handshake under concurrent writers, and board streams that outlive their sockets.

Each join is judged on the raw frame order of its socket (tests/support/rawsocket.py):
the ack comes before any live event of the board; the ack's `events` are exactly
`since+1..ack.seq`; live delivery then goes on from `ack.seq + 1`, consecutively, without
duplicates or gaps, up to the board's final seq (or to the socket's board:leave ack).
Beyond CONTRACT.md: the unlabelled gauges `taskflow_live_connections`, `taskflow_live_streams`
(board streams held by the instance) and `taskflow_live_sockets` (engine.io sessions open).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.live.conftest import LIVE_ENV
from tests.support.processes import TaskflowServer
from tests.support.rawsocket import RawHub, RawSocket
from tests.support.spine import Writers, board_seq, gauges, settle, spine_server

FRESH_JOINS = 100  # one join on a socket of its own
REJOINING_SOCKETS, CYCLES = 10, 5  # sockets that join, leave and join again
WRITES_PER_JOIN = 3  # joins are spread over the writers' progress


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskflowServer]:
    with spine_server(LIVE_ENV, tmp_path_factory.mktemp("spine-join")) as running:
        yield running


@dataclass
class Join:
    """One board:join on one socket, and the board:leave that ended it (if any)."""

    socket: RawSocket
    board_id: str
    since: int | None
    ack_id: int
    leave_id: int | None = None

    @property
    def ack(self) -> dict[str, Any] | None:
        frame = self.socket.ack_frame(self.ack_id)
        return None if frame is None else frame.data


def _runs(seqs: list[int]) -> str:
    """A short rendering of a seq list: 4..9,9,10,12."""
    if not seqs:
        return "[]"
    parts, start, prev = [], seqs[0], seqs[0]
    for s in [*seqs[1:], None]:
        if s is not None and s == prev + 1:
            prev = s
            continue
        parts.append(f"{start}" if start == prev else f"{start}..{prev}")
        if s is not None:
            start = prev = s
    return ",".join(parts)


def judge(join: Join, final_seq: int) -> tuple[str, str] | None:
    """What is wrong with this join on its socket's frame order, as (kind, detail); None
    when nothing is. Kinds: refused, early (live event before the ack), ack_events, live."""
    board = join.board_id
    start = join.socket.out_frame(join.ack_id).index
    ack_frame = join.socket.ack_frame(join.ack_id)
    if ack_frame is None or ack_frame.data.get("ok") is not True:
        return "refused", f"ack {ack_frame and ack_frame.data}"
    ack = ack_frame.data
    early = join.socket.seqs(board, start, ack_frame.index)
    if early:
        return "early", f"live events {_runs(early)} before the ack (ack.seq {ack['seq']})"
    if not ack.get("resync"):
        if not isinstance(ack.get("events"), list):
            return "ack_events", f"no events and no resync in {ack}"
        got = [e["seq"] for e in ack["events"]]
        since = join.since
        want = [] if since is None or since >= ack["seq"] else list(range(since + 1, ack["seq"] + 1))
        if got != want:
            return "ack_events", f"ack.events {_runs(got)} for since={since}, ack.seq={ack['seq']}"
    end = len(join.socket.frames)
    if join.leave_id is not None:
        leave = join.socket.ack_frame(join.leave_id)
        assert leave is not None and leave.data == {"ok": True}, leave
        end = leave.index
    live = join.socket.seqs(board, ack_frame.index, end)
    last = final_seq if join.leave_id is None else ack["seq"] + len(live)
    if live != list(range(ack["seq"] + 1, last + 1)):
        return "live", f"live {_runs(live)} after ack.seq {ack['seq']}, expected up to {last}"
    return None


def strays(socket: RawSocket, joins: list[Join]) -> list[int]:
    """Board events a socket received while it had left the board (between its joins)."""
    board = joins[0].board_id
    outside: list[int] = []
    for before, after in itertools.pairwise(joins):
        assert before.leave_id is not None
        leave = socket.ack_frame(before.leave_id)
        assert leave is not None
        begin, end = leave.index, socket.out_frame(after.ack_id).index
        outside += socket.seqs(board, begin, end)
    return outside


def pick_since(rng: random.Random, seq_hint: int) -> int | None:
    """None, an old since (maybe a resync), a recent one, or one at or ahead of the board."""
    choice = rng.randrange(5)
    if choice == 0:
        return None
    if choice == 1:
        return rng.randrange(0, max(1, seq_hint))
    if choice == 2:
        return max(0, seq_hint - rng.randrange(0, 30))
    return seq_hint + rng.randrange(0, 8)


async def test_join_handshake_under_concurrent_writers(person: Any, hub: RawHub) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    owner = await person("Owner")
    board = await owner.board("Spine")
    writers_people = [await person(f"Writer{i}") for i in range(3)]
    viewer = await person("Viewer")
    for editor in writers_people:
        await owner.add(board, editor, "editor")
    await owner.add(board, viewer, "viewer")
    base_seq = await board_seq(owner, board["id"])
    rejoiners = [await hub.open(viewer.token, "rejoiner") for _ in range(REJOINING_SOCKETS)]
    joins: list[Join] = []
    writers = Writers(writers_people, board["id"]).start()

    async def join(socket: RawSocket) -> Join:
        since = pick_since(rng, base_seq + writers.writes)
        payload: dict[str, Any] = {"board_id": board["id"]}
        if since is not None:
            payload["since"] = since
        ack_id, ack = await socket.emit("board:join", payload)
        record = Join(socket, board["id"], since, ack_id)
        joins.append(record)
        await asyncio.wait_for(ack, 10)
        return record

    async def fresh(i: int) -> None:
        await writers.reached(i * WRITES_PER_JOIN)
        await join(await hub.open(viewer.token, "fresh"))

    async def rejoining(n: int, socket: RawSocket) -> None:
        for cycle in range(CYCLES):
            await writers.reached((n + cycle * REJOINING_SOCKETS) * WRITES_PER_JOIN * 2)
            record = await join(socket)
            if cycle == CYCLES - 1:
                return
            await writers.reached(writers.writes + WRITES_PER_JOIN)
            record.leave_id, leave = await socket.emit("board:leave", {"board_id": board["id"]})
            await asyncio.wait_for(leave, 10)

    try:
        await asyncio.gather(*(fresh(i) for i in range(FRESH_JOINS)),
                             *(rejoining(n, s) for n, s in enumerate(rejoiners)))
    finally:
        await writers.stop()
    final_seq = await board_seq(owner, board["id"])
    assert final_seq > base_seq + FRESH_JOINS, "the writers wrote too little to race anything"
    last_joins = [j for j in joins if j.leave_id is None]
    # Every socket still joined must come to the final seq; the judging says which didn't.
    with contextlib.suppress(AssertionError):
        await hub.until(lambda: all(j.socket.max_seq(board["id"]) >= final_seq for j in last_joins),
                        timeout=15, what="every joined socket to reach the final seq")

    bad = [problem for j in joins if (problem := judge(j, final_seq)) is not None]
    kinds = {kind: sum(1 for k, _ in bad if k == kind) for kind in {k for k, _ in bad}}
    by_socket: dict[int, list[Join]] = {}
    for j in joins:
        by_socket.setdefault(id(j.socket), []).append(j)
    stray = {id(js[0].socket): s for js in by_socket.values() if (s := strays(js[0].socket, js))}
    print(f"\nseed {seed}: {len(joins)} joins, {writers.writes} writes, final seq {final_seq}; "
          f"{len(bad)} bad joins {kinds}, {len(stray)} sockets with events while left")
    for _, detail in bad[:10]:
        print("  ", detail)
    assert len(joins) == FRESH_JOINS + REJOINING_SOCKETS * CYCLES
    assert not stray, f"events received between a leave and the next join: {list(stray.values())[:5]}"
    assert len(bad) == 0, (f"{len(bad)} of {len(joins)} joins broke the handshake {kinds} "
                           f"(seed {seed}), e.g. {[d for _, d in bad[:5]]}")


async def test_streams_and_connections_end_with_their_sockets(
        server: TaskflowServer, http: httpx.AsyncClient, person: Any, hub: RawHub) -> None:
    owner = await person("Streams")
    boards = [await owner.board(f"s{i}") for i in range(20)]
    names = ("taskflow_live_connections", "taskflow_live_streams", "taskflow_live_sockets")
    base = await gauges(http)
    sockets = [await hub.open(owner.token, "stream") for _ in boards]
    acks = await asyncio.gather(*(s.join(b["id"]) for s, b in zip(sockets, boards, strict=True)))
    assert all(a["ok"] is True for a in acks), acks
    peak = await gauges(http)
    await asyncio.gather(*(s.close() for s in sockets))  # a Socket.IO disconnect, then the close
    last = await settle(http, {name: base.get(name, 0.0) for name in names}, timeout=10)
    print(f"\nbase {[base.get(n) for n in names]} peak {[peak.get(n) for n in names]} "
          f"after close {[last[n] for n in names]}")
    for name in names:
        assert name in base and name in peak, f"{name} is not exported by /metrics"
        assert peak[name] >= base[name] + len(sockets), (name, base[name], peak[name])
        settled = last[name]
        assert settled is not None and settled <= base[name], (
            f"{name} is {last[name]} 10 s after {len(sockets)} sockets on {len(boards)} boards "
            f"closed; it was {base[name]} before they opened")
