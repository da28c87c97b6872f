"""Issue #14: each instance hears only the boards it serves.

Board events travel on a channel per board (realtime/bus.py); an instance subscribes to a
board's channel while a socket of it has joined the board (or a join is in flight). Read
through each instance's /metrics: `taskflow_live_bus_messages_total` (board messages it
received from Redis) and `taskflow_live_bus_subscriptions` (board channels subscribed now).
"""

from __future__ import annotations

import httpx
import pytest

from tests.cluster.conftest import LiveClients
from tests.support.cluster import Cluster
from tests.support.live import WEBSOCKET, Activity
from tests.support.restclient import Person, Rest
from tests.support.spine import gauges, settle

pytestmark = pytest.mark.cluster

WRITES = 40
MESSAGES = "taskflow_live_bus_messages_total"
SUBSCRIPTIONS = "taskflow_live_bus_subscriptions"


async def _metrics(http: httpx.AsyncClient, cluster: Cluster) -> dict[int, dict[str, float]]:
    return {k: await gauges(http, cluster.instance_url(k)) for k in (1, 2, 3)}


async def test_an_instance_hears_none_of_the_events_of_boards_it_does_not_serve(
        cluster: Cluster, people: dict[str, Person], rest: Rest, live: LiveClients,
        activity: Activity) -> None:
    ada = people["Ada"]
    quiet = (await rest.new_board(ada, name="Quiet"))["id"]  # served by i1
    busy = (await rest.new_board(ada, name="Busy"))["id"]  # served by i2
    on_quiet = await live.connect("py", WEBSOCKET, ada, on=1)
    on_busy = await live.connect("js", WEBSOCKET, ada, on=2)
    assert (await on_quiet.join(quiet))["ok"] is True
    assert (await on_busy.join(busy))["ok"] is True

    async with httpx.AsyncClient(timeout=10) as http:
        before = await _metrics(http, cluster)
        assert [before[k][SUBSCRIPTIONS] for k in (1, 2, 3)] == [1, 1, 0], before
        # Written through i3, which serves neither board: publishing needs no subscription.
        for i in range(WRITES):
            await rest.task(ada, busy, instance=3, title=f"busy {i}")
        await activity.until(lambda: len(on_busy.log(busy).seqs()) == WRITES, timeout=10,
                             what=lambda: f"{on_busy.log(busy).seqs()}")
        # A marker on the quiet board, published after every busy event: once i1 delivered
        # it, any busy event sent to i1 would have come first (one Redis, one connection).
        await rest.task(ada, quiet, instance=3, title="marker")
        await activity.until(lambda: on_quiet.log(quiet).seqs() == [1], timeout=10,
                             what=lambda: f"{on_quiet.log(quiet).seqs()}")
        after = await _metrics(http, cluster)

        heard = {k: after[k][MESSAGES] - before[k][MESSAGES] for k in (1, 2, 3)}
        assert heard[1] == 1, heard  # the marker only
        assert heard[3] == 0, heard
        assert heard[2] >= WRITES, heard  # every busy event (and presence, if any)
        assert on_quiet.log(busy).seqs() == []

        # The last socket leaving a board ends the instance's subscription.
        assert await on_busy.emit("board:leave", {"board_id": busy}) == {"ok": True}
        http.base_url = httpx.URL(cluster.instance_url(2))
        left = await settle(http, {SUBSCRIPTIONS: 0}, timeout=5)
        assert left[SUBSCRIPTIONS] == 0, left
        assert (await _metrics(http, cluster))[1][SUBSCRIPTIONS] == 1
