"""Issue #3: presence and `task:editing` across instances.

Viewers on different instances see each other in `presence` (distinct users, not sockets);
when one leaves, the others get the set without them. `task:editing` from a socket on one
instance reaches the viewers on the others, and not the sender.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.cluster.conftest import LiveClients
from tests.support.live import DEFAULT, WEBSOCKET, Activity, LiveClient
from tests.support.restclient import Person, Rest

pytestmark = pytest.mark.cluster


def _viewers(client: LiveClient, board_id: str) -> list[str] | None:
    """The user ids of the latest presence this client was told of for the board."""
    for data in reversed(client.named("presence")):
        if data["board_id"] == board_id:
            return [u["user_id"] for u in data["users"]]
    acks = client.log(board_id).acks
    return [u["user_id"] for u in acks[-1]["presence"]] if acks else None


def _editing(client: LiveClient) -> list[dict[str, Any]]:
    return list(client.named("task:editing"))


async def test_presence_and_editing_cross_instances(
        people: dict[str, Person], rest: Rest, live: LiveClients, activity: Activity) -> None:
    ada, bob = people["Ada"], people["Bob"]
    board_id = (await rest.new_board(ada, {"editor": bob}))["id"]
    task = await rest.task(ada, board_id, title="Being edited")

    ada_1 = await live.connect("py", DEFAULT, ada, on=1)
    ack = await ada_1.join(board_id)
    assert [u["user_id"] for u in ack["presence"]] == [ada.id]
    bob_2 = await live.connect("js", WEBSOCKET, bob, on=2)
    ack = await bob_2.join(board_id)
    assert sorted(u["user_id"] for u in ack["presence"]) == sorted([ada.id, bob.id]), ack
    assert {u["user_id"]: u["name"] for u in ack["presence"]} == {ada.id: "Ada", bob.id: "Bob"}
    await activity.until(
        lambda: sorted(_viewers(ada_1, board_id) or []) == sorted([ada.id, bob.id]), timeout=5,
        what=lambda: f"Ada (i1) to see Bob (i2) in presence: {ada_1.named('presence')}")

    # A second socket of Ada's, on a third instance: still one Ada in presence.
    ada_3 = await live.connect("js", DEFAULT, ada, on=3)
    ack = await ada_3.join(board_id)
    assert sorted(u["user_id"] for u in ack["presence"]) == sorted([ada.id, bob.id]), ack
    for client in (ada_1, bob_2, ada_3):
        viewers = _viewers(client, board_id) or []
        assert len(viewers) == len(set(viewers)), (client.label, viewers)

    # task:editing crosses instances, and skips the sender.
    assert (await ada_1.emit("task:editing", {"task_id": task["id"], "editing": True}))["ok"]
    mine = {"task_id": task["id"], "user_id": ada.id, "editing": True}
    await activity.until(lambda: mine in _editing(bob_2) and mine in _editing(ada_3), timeout=5,
                         what=lambda: f"Ada's editing at Bob (i2) and Ada's other socket (i3): "
                                      f"{_editing(bob_2)} {_editing(ada_3)}")
    assert (await bob_2.emit("task:editing", {"task_id": task["id"], "editing": False}))["ok"]
    his = {"task_id": task["id"], "user_id": bob.id, "editing": False}
    await activity.until(lambda: his in _editing(ada_1) and his in _editing(ada_3), timeout=5,
                         what=lambda: f"Bob's editing at Ada: {_editing(ada_1)} {_editing(ada_3)}")
    # Each sender's own message would have come before the other one's (one Redis channel).
    assert _editing(ada_1) == [his], _editing(ada_1)
    assert _editing(bob_2) == [mine], _editing(bob_2)

    # Bob leaves (disconnects): both of Ada's sockets get the set without him.
    leaving = time.monotonic()
    await bob_2.disconnect()
    await activity.until(
        lambda: _viewers(ada_1, board_id) == [ada.id] and _viewers(ada_3, board_id) == [ada.id],
        timeout=5, what=lambda: f"presence without Bob: {ada_1.named('presence')[-2:]} "
                                f"{ada_3.named('presence')[-2:]}")
    print(f"\npresence without Bob at Ada's sockets {time.monotonic() - leaving:.3f}s after he left")

    # One of Ada's two sockets goes: she is still there, for a viewer on another instance.
    bob_1 = await live.connect("py", WEBSOCKET, bob, on=1)
    await bob_1.join(board_id)
    await activity.until(lambda: any(p["board_id"] == board_id for p in bob_1.named("presence")),
                         timeout=5, what="the presence that Bob's join sends")
    seen = len(bob_1.named("presence"))
    await ada_3.disconnect()
    await activity.until(lambda: len(bob_1.named("presence")) > seen, timeout=5,
                         what="the presence that the disconnect of Ada's second socket sends")
    assert sorted(_viewers(bob_1, board_id) or []) == sorted([ada.id, bob.id]), bob_1.named("presence")
