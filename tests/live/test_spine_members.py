"""Who may hear a board on the live channel, while joins race writes, removals and deletions.

- A non-member's refused joins let nothing of a private board through (presence, editing).
- A removed member hears nothing after `member:removed` or its first refused re-join.
- Joins whose socket closes before the ack leave no phantom viewer in presence.
- Joins racing the member's removal: refused (404) and silent, or ok and `member:removed`
  last; the member is not listed in presence afterwards.
- Joins racing the board's deletion: refused (404) and silent, or ok and `board:deleted` last.

Every check reads the raw frame order of each socket (tests/support/rawsocket.py). The
actors are paced by the writers' progress (a step per write, `Writers.reached`: well under
the per-connection message limit), not by time, and each race is repeated over many
actors; the outcomes are counted and must all be right.
Beyond CONTRACT.md: the `taskflow_live_connections` gauge (connections open on the instance).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.live.conftest import LIVE_ENV
from tests.support.processes import TaskflowServer
from tests.support.rawsocket import RawHub, RawSocket
from tests.support.spine import Writers, delete, gauges, settle, spine_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskflowServer]:
    with spine_server(LIVE_ENV, tmp_path_factory.mktemp("spine-members")) as running:
        yield running


async def until_stopped(stop: asyncio.Event, step: Callable[[int], Awaitable[object]]) -> int:
    """Runs step(0), step(1)... until `stop` is set; returns how many ran."""
    n = 0
    while not stop.is_set():
        await step(n)
        n += 1
    return n


async def editing(socket: RawSocket, task_id: str, on: bool = True, *,
                  may_be_gone: bool = False) -> None:
    """task:editing; with `may_be_gone`, a 404 (the member was removed meanwhile) is fine."""
    ack = await socket.call("task:editing", {"task_id": task_id, "editing": on})
    gone = may_be_gone and ack.get("ok") is False and ack["error"]["status"] == 404
    assert ack == {"ok": True} or gone, (socket, ack)


async def join_edit_leave(socket: RawSocket, board_id: str, task_id: str, *,
                          may_be_gone: bool = False) -> bool:
    """One presence change and back, with an edit in between; False when the join is refused."""
    ack = await socket.join(board_id)
    if ack["ok"] is not True:
        assert may_be_gone and ack["error"]["status"] == 404, ack
        return False
    await editing(socket, task_id, may_be_gone=may_be_gone)
    assert await socket.call("board:leave", {"board_id": board_id}) == {"ok": True}
    return True


@dataclass
class Attempt:
    """One board:join on one socket."""

    socket: RawSocket
    board_id: str
    ack_id: int

    @property
    def sent(self) -> int:
        return self.socket.out_frame(self.ack_id).index

    @property
    def ack(self) -> dict[str, Any] | None:
        frame = self.socket.ack_frame(self.ack_id)
        return None if frame is None else frame.data


async def attempt(socket: RawSocket, board_id: str) -> Attempt:
    # since=0: the join reads the board's log too, which widens its window for the race.
    ack_id, ack = await socket.emit("board:join", {"board_id": board_id, "since": 0})
    await asyncio.wait_for(ack, 10)
    return Attempt(socket, board_id, ack_id)


async def joins_racing(ending: asyncio.Task[int], sockets: list[RawSocket], board_id: str,
                       chains: int) -> list[Attempt]:
    """`chains` chains of joins, one socket after the other, that go on until `ending` (the
    request that ends the access) has been answered, and one join more."""
    async def chain(mine: list[RawSocket]) -> list[Attempt]:
        done: list[Attempt] = []
        for socket in mine:
            finished = ending.done()
            done.append(await attempt(socket, board_id))
            if finished:
                break
        return done

    runs = await asyncio.gather(*(chain(sockets[k::chains]) for k in range(chains)))
    assert await ending == 204
    return [a for run in runs for a in run]


def judge_ending(a: Attempt, last_type: str, user_id: str | None = None) -> list[str]:
    """What went wrong with a join racing the end of the caller's access (nothing: []).

    Right is: refused with 404 and nothing of the board heard after it was sent; or ok, with
    nothing of the board before the ack, and `last_type` (about `user_id`) heard last."""
    ack_frame = a.socket.ack_frame(a.ack_id)
    assert ack_frame is not None
    heard = a.socket.of_board(a.board_id, after=a.sent)
    if ack_frame.data.get("ok") is not True:
        wrong = ack_frame.data.get("error", {}).get("status") != 404
        return [*(["refused_not_404"] if wrong else []), *(["refused_heard"] if heard else [])]
    problems = ["heard_before_ack"] if any(f.index < ack_frame.index for f in heard) else []
    ends = [i for i, f in enumerate(heard) if f.name == last_type
            and (user_id is None or f.data["data"].get("user_id") == user_id)]
    if not ends:
        problems.append(f"no_{last_type}")
    elif ends[0] != len(heard) - 1:
        problems.append(f"heard_after_{last_type}")
    return problems


def removal_seen(socket: RawSocket) -> int | None:
    """Where the socket is out of the board for good: its member:removed, or the sending of
    its first join that was refused (it had left before, so nothing was due after that)."""
    sent = {f.ack_id: f.index for f in socket.frames if f.direction == "out" and f.name == "board:join"}
    ends = [f.index for f in socket.frames if f.name == "member:removed"]
    ends += [sent[f.ack_id] for f in socket.frames
             if f.kind == "ack" and f.ack_id in sent and f.data.get("ok") is False]
    return min(ends, default=None)


async def sentinel(hub: RawHub, watcher: RawSocket, owner: Any,
                   board: dict[str, Any]) -> dict[str, Any]:
    """A new task, once `watcher` has its task:created: what was sent before it has arrived."""
    task: dict[str, Any] = await owner.task(board, "sentinel")

    def seen() -> bool:
        return any(f.data["data"]["id"] == task["id"] for f in watcher.events("task:created"))

    await hub.until(seen, timeout=5, what="the sentinel's task:created")
    return task


def tally(outcomes: list[list[str]]) -> dict[str, int]:
    """How many attempts had each kind of problem."""
    kinds = sorted({k for problems in outcomes for k in problems})
    return {k: sum(1 for problems in outcomes if k in problems) for k in kinds}


async def test_non_member_hears_nothing_of_a_private_board(person: Any, hub: RawHub) -> None:
    ada, bob, cy = await person("Ada"), await person("Bob"), await person("Cy")
    board = await ada.board("Private")
    await ada.add(board, bob)
    task = await ada.task(board)
    a1, b1 = await hub.open(ada.token, "ada"), await hub.open(bob.token, "bob")
    assert (await a1.join(board["id"]))["ok"] is True
    outsiders = [await hub.open(cy.token, "cy") for _ in range(10)]
    writers = Writers([ada], board["id"]).start()
    stop = asyncio.Event()

    async def ada_edits(i: int) -> None:
        await writers.reached(writers.writes + 1)  # each step waits for the next write
        await editing(a1, task["id"], on=i % 2 == 0)

    async def bob_comes_and_goes(i: int) -> None:
        await writers.reached(writers.writes + 1)
        assert await join_edit_leave(b1, board["id"], task["id"])

    def busy() -> bool:  # the members have made enough traffic for the outsiders to race
        return len(a1.events("presence")) >= 10 and len(a1.events("task:editing")) >= 10

    async def outsider(socket: RawSocket) -> list[dict[str, Any]]:
        acks: list[dict[str, Any]] = []
        while len(acks) < 40 or (not busy() and len(acks) < 200):
            await writers.reached(len(acks))  # a join per write, on average
            acks.append(await socket.join(board["id"]))
        return acks

    background = [asyncio.create_task(until_stopped(stop, ada_edits)),
                  asyncio.create_task(until_stopped(stop, bob_comes_and_goes))]
    try:
        await writers.reached(5)
        acks = [a for s in await asyncio.gather(*(outsider(s) for s in outsiders)) for a in s]
    finally:
        stop.set()
        await writers.stop()
        cycles = await asyncio.gather(*background)
    # Whatever a refused join let through came before its ack, so the acks are the sentinel.
    heard = [f for s in outsiders for f in s.of_board(board["id"], frozenset({task["id"]}))]
    counts = {name: sum(1 for f in heard if f.name == name) for name in {f.name for f in heard}}
    assert busy(), "the members made too little traffic for the outsiders to race"
    not_404 = [a for a in acks if a.get("ok") is not False or a["error"]["status"] != 404]
    print(f"\n{len(acks)} refused joins by a non-member while {cycles} edits/presence cycles and "
          f"{writers.writes} writes ran; the non-member heard {counts}")
    assert not not_404, f"{len(not_404)} of {len(acks)} joins not refused with 404: {not_404[:3]}"
    assert not heard, f"a non-member heard {counts} of a private board over {len(acks)} joins"


async def test_removed_member_hears_nothing_after_member_removed(person: Any, hub: RawHub) -> None:
    ada, bob, dee = await person("Ada"), await person("Bob"), await person("Dee")
    board = await ada.board("Removal")
    await ada.add(board, bob)
    await ada.add(board, dee, "viewer")
    task = await ada.task(board)
    a1, d1 = await hub.open(ada.token, "ada"), await hub.open(dee.token, "dee")
    b_still = await hub.open(bob.token, "bob")
    b_again = [await hub.open(bob.token, "bob-again") for _ in range(10)]
    assert (await a1.join(board["id"]))["ok"] is True
    assert (await b_still.join(board["id"]))["ok"] is True
    writers = Writers([ada], board["id"]).start()
    stop = asyncio.Event()
    refused_after: list[int] = []

    async def ada_edits(i: int) -> None:
        await writers.reached(writers.writes + 1)  # each step waits for the next write
        await editing(a1, task["id"], on=i % 2 == 0)

    async def dee_comes_and_goes(i: int) -> None:
        await writers.reached(writers.writes + 1)
        assert await join_edit_leave(d1, board["id"], task["id"])

    def bob_tries_again(socket: RawSocket) -> Callable[[int], Awaitable[None]]:
        async def step(i: int) -> None:  # join, edit, leave; refused once removed
            await writers.reached(writers.writes + 1)
            if not await join_edit_leave(socket, board["id"], task["id"], may_be_gone=True):
                refused_after.append(i)
        return step

    steps = [ada_edits, dee_comes_and_goes, *(bob_tries_again(s) for s in b_again)]
    background = [asyncio.create_task(until_stopped(stop, step)) for step in steps]
    try:
        await writers.reached(20)
        assert await delete(ada, f"/boards/{board['id']}/members/{bob.id}") == 204
        await hub.until(lambda: bool(b_still.events("member:removed")), timeout=5,
                        what="member:removed on bob's joined socket")
        mark = writers.writes
        await hub.until(lambda: len(refused_after) >= 400 and writers.writes >= mark + 40,
                        timeout=20, what="400 refused re-joins while ada writes")
    finally:
        stop.set()
        await writers.stop()
        cycles = await asyncio.gather(*background)
    # Sentinels seen by ada, a task and an edit of it: bob's frames were sent before them.
    last = await sentinel(hub, a1, ada, board)
    assert (await d1.join(board["id"]))["ok"] is True
    await editing(d1, last["id"])
    await hub.until(lambda: any(f.data["task_id"] == last["id"] for f in a1.events("task:editing")),
                    timeout=5, what="the sentinel task:editing")
    tasks = frozenset({task["id"], last["id"]})
    heard: dict[str, dict[str, int]] = {}
    for socket in (b_still, *b_again):
        end = removal_seen(socket)
        assert end is not None, f"{socket} never learnt of its removal"
        names = [f.name or "" for f in socket.of_board(board["id"], tasks, end + 1)]
        heard[socket.label] = {name: names.count(name) for name in sorted(set(names))}
    total = sum(sum(counts.values()) for counts in heard.values())
    print(f"\nafter learning of its removal, bob's sockets heard {total} things of the board "
          f"{heard}; {len(refused_after)} refused re-joins, {cycles} background steps")
    assert total == 0, f"bob's sockets heard {total} things after member:removed or a refusal: {heard}"


async def test_joins_that_never_wait_for_their_ack_leave_no_phantom_viewer(
        http: httpx.AsyncClient, person: Any, hub: RawHub) -> None:
    ada, bob = await person("Ada"), await person("Bob")
    board = await ada.board("Phantoms")
    await ada.add(board, bob)
    observer, anchor = await hub.open(ada.token, "ada"), await hub.open(bob.token, "bob")
    assert (await observer.join(board["id"]))["ok"] is True
    assert (await anchor.join(board["id"]))["ok"] is True
    await hub.until(lambda: observer.viewers(board["id"]) == {ada.id, bob.id}, timeout=5,
                    what="bob in the observer's presence")
    before = (await gauges(http))["taskflow_live_connections"]
    hasty = [await hub.open(bob.token, "hasty") for _ in range(30)]

    async def join_and_go(n: int, socket: RawSocket) -> None:
        await socket.emit("board:join", {"board_id": board["id"]})
        await socket.close(graceful=n % 2 == 0)  # a Socket.IO disconnect, or just the close

    await asyncio.gather(*(join_and_go(n, s) for n, s in enumerate(hasty)))
    # Once the server has ended every hasty connection, nothing of theirs may show any more.
    closed = await settle(http, {"taskflow_live_connections": before}, timeout=10)
    assert closed["taskflow_live_connections"] == before, (before, closed)
    await anchor.close()
    with contextlib.suppress(AssertionError):
        await hub.until(lambda: observer.viewers(board["id"]) == {ada.id}, timeout=8,
                        what="bob gone from the observer's presence")
    fresh = await hub.open(ada.token, "fresh")
    ack = await fresh.join(board["id"])
    listed = {u["user_id"] for u in ack["presence"]}
    print(f"\nafter {len(hasty)} hasty joins and the anchor closed: observer sees "
          f"{observer.viewers(board['id'])}, a fresh join's presence is {listed} (bob {bob.id})")
    assert observer.viewers(board["id"]) == {ada.id}, "bob is still listed to the observer"
    assert listed == {ada.id}, "bob is still listed in a fresh join's presence"


async def test_member_removed_while_joins_are_in_flight(person: Any, hub: RawHub) -> None:
    ada, bob = await person("Ada"), await person("Bob")
    observer = await hub.open(ada.token, "ada")
    bobs = [await hub.open(bob.token, "bob") for _ in range(20)]

    async def race(r: int) -> tuple[dict[str, Any], list[Attempt]]:
        board = await ada.board(f"race {r}")
        await ada.add(board, bob)
        assert (await observer.join(board["id"]))["ok"] is True
        removal = asyncio.create_task(delete(ada, f"/boards/{board['id']}/members/{bob.id}"))
        return board, await joins_racing(removal, bobs, board["id"], chains=4)

    rounds = [await race(r) for r in range(8)]
    attempts = [a for _, round_attempts in rounds for a in round_attempts]
    oks = [a for a in attempts if (a.ack or {}).get("ok") is True]

    def settled() -> bool:
        return all(observer.viewers(b["id"]) in (None, {ada.id}) for b, _ in rounds) and all(
            a.socket.of_board(a.board_id) and a.socket.of_board(a.board_id)[-1].name == "member:removed"
            for a in oks)

    with contextlib.suppress(AssertionError):
        await hub.until(settled, timeout=8, what="presence without bob, member:removed last")
    phantom_rounds = 0
    for board, _ in rounds:  # sentinel: a task seen by the observer; then a fresh join's presence
        await sentinel(hub, observer, ada, board)
        ack = await (await hub.open(ada.token, "fresh")).join(board["id"])
        listed = {u["user_id"] for u in ack["presence"]} | (observer.viewers(board["id"]) or set())
        phantom_rounds += bob.id in listed
    outcomes = [judge_ending(a, "member:removed", bob.id) for a in attempts]
    bad = sum(1 for problems in outcomes if problems)
    print(f"\n{len(attempts)} joins racing {len(rounds)} removals: {len(oks)} ok; {bad} bad "
          f"{tally(outcomes)}; bob still listed in {phantom_rounds} of {len(rounds)} rounds")
    assert phantom_rounds == 0, f"bob listed in presence after his removal in {phantom_rounds} rounds"
    assert bad == 0, f"{bad} of {len(attempts)} joins racing the removal went wrong: {tally(outcomes)}"


async def test_joins_racing_board_deletion(person: Any, hub: RawHub) -> None:
    ada, bob = await person("Ada"), await person("Bob")
    sockets = [await hub.open(p.token, "member") for p in [ada, bob] * 12]

    async def race(r: int) -> list[Attempt]:
        board = await ada.board(f"doomed {r}")
        await ada.add(board, bob)
        deletion = asyncio.create_task(delete(ada, f"/boards/{board['id']}"))
        return await joins_racing(deletion, sockets, board["id"], chains=3)

    attempts = [a for r in range(15) for a in await race(r)]
    oks = [a for a in attempts if (a.ack or {}).get("ok") is True]
    with contextlib.suppress(AssertionError):
        await hub.until(lambda: all(a.socket.board_events(a.board_id)
                                    and a.socket.board_events(a.board_id)[-1].name == "board:deleted"
                                    for a in oks), timeout=8, what="board:deleted on every ok join")
    outcomes = [judge_ending(a, "board:deleted") for a in attempts]
    bad = sum(1 for problems in outcomes if problems)
    print(f"\n{len(attempts)} joins racing 15 board deletions: {len(oks)} ok, "
          f"{len(attempts) - len(oks)} refused; {bad} bad {tally(outcomes)}")
    assert bad == 0, f"{bad} of {len(attempts)} joins racing a deletion went wrong: {tally(outcomes)}"
