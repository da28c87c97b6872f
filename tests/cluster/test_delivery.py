"""Issue #3: every client, on every instance, gets every board event in seq order.

Python (python-socketio) and JavaScript (socket.io-client) clients, each with the default
transport (long-polling, then the websocket upgrade) and websocket-only, all connect through
nginx from 127.0.0.1 and still land on all three instances (the engine.io sid names its
instance). Changes are made concurrently through each instance's own port and through
nginx, so events are committed on one instance and published by others, in racing order.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from tests.cluster.conftest import INSTANCES, KINDS, LiveClients
from tests.support.cluster import Cluster
from tests.support.live import DEFAULT, Activity, LiveClient
from tests.support.restclient import Person, Rest

pytestmark = pytest.mark.cluster


def _diff(client: LiveClient, board_id: str, items: list[dict[str, Any]]) -> str:
    log = client.log(board_id)
    got = log.seqs()
    return (f"{client.label} on {client.instance}: applied seqs {got[:5]}..{got[-5:]} "
            f"(n={len(got)}), want 1..{len(items)}; pending {sorted(log.pending)}")


async def test_changes_through_any_instance_reach_every_client_in_seq_order(
        cluster: Cluster, people: dict[str, Person], rest: Rest, live: LiveClients,
        activity: Activity) -> None:
    ada, bob = people["Ada"], people["Bob"]
    board = await rest.new_board(ada, {"editor": bob})  # seq 1: member:added
    board_id = board["id"]

    clients: list[LiveClient] = []
    for round_ in range(INSTANCES):
        for i, (kind, transports) in enumerate(KINDS):
            clients.append(await live.connect(kind, transports, (ada, bob)[(round_ + i) % 2]))
    placement = Counter(c.instance for c in clients)
    assert set(placement) == {f"i{k}" for k in range(1, INSTANCES + 1)}, \
        {c.label: c.sid for c in clients}

    for client in clients:
        ack = await client.join(board_id)
        assert ack["ok"] is True, (client.label, ack)
        assert ack["seq"] >= 1 and "resync" not in ack, (client.label, ack)
        assert {p["user_id"] for p in ack["presence"]} <= {ada.id, bob.id}

    # The default transport really upgrades to a websocket, for both libraries.
    await activity.until(
        lambda: all(c.transport == "websocket" for c in clients), timeout=10,
        what=lambda: str({c.label: c.transport for c in clients if c.transports == DEFAULT}))

    async def changes(route: int | None, who: Person, other: Person) -> None:
        """Creates, moves and comments on tasks through one route (None: nginx)."""
        for j in range(3):
            task = await rest.task(who, board_id, instance=route, title=f"via {route} #{j}",
                                   assignee_id=other.id)
            await rest.ok("PATCH", f"/tasks/{task['id']}", other, instance=route,
                          json={"status": "in_progress"})
            await rest.ok("POST", f"/tasks/{task['id']}/comments", who, instance=route,
                          json={"body": f"from {route}"}, status=201)

    await asyncio.gather(changes(1, ada, bob), changes(2, bob, ada), changes(3, ada, bob),
                         changes(None, bob, ada))
    await rest.ok("PATCH", f"/boards/{board_id}", bob, instance=2, json={"name": "Renamed"})
    doomed = await rest.task(ada, board_id, instance=3, title="short-lived")
    await rest.ok("DELETE", f"/tasks/{doomed['id']}", bob, instance=1, status=204)

    items, latest = await rest.events(ada, board_id)
    assert [e["seq"] for e in items] == list(range(1, latest + 1))
    assert latest == 1 + 4 * 3 * 3 + 1 + 2

    await activity.until(
        lambda: all(c.log(board_id).last_seq >= latest for c in clients), timeout=15,
        what=lambda: f"every client to apply seq 1..{latest}: " + "; ".join(
            _diff(c, board_id, items) for c in clients if c.log(board_id).last_seq < latest))

    for client in clients:
        log = client.log(board_id)
        # Exactly the board's event log: same envelopes, seq 1..N, each once.
        assert log.applied == items, _diff(client, board_id, items)
        assert not log.pending, (client.label, sorted(log.pending))
        # The server sent each event once per connection (live or in the join ack).
        assert log.duplicates() == {}, (client.label, log.duplicates())
        assert sorted(r.env["seq"] for r in log.received) == list(range(1, latest + 1)), \
            (client.label, log.received_types())
        # Nothing here should have cost a connection.
        assert len(client.connects) == 1 and client.disconnects == [], client
