"""Notifications reach every socket of their recipient, on every instance, whatever board
the socket has joined (none, here): a mention made through a third instance arrives on a
python-socketio client on one instance and a socket.io-client on another, and reading it
tells the user's other sockets (`notification:read`)."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import LiveClients
from tests.support.live import DEFAULT, WEBSOCKET, Activity
from tests.support.restclient import Person, Rest

pytestmark = pytest.mark.cluster


async def test_mention_reaches_every_socket_of_the_user_on_every_instance(
        people: dict[str, Person], rest: Rest, live: LiveClients, activity: Activity) -> None:
    ada, bob = people["Ada"], people["Bob"]
    board_id = (await rest.new_board(bob, {"editor": ada}, name="Mentions"))["id"]
    task = await rest.task(bob, board_id, title="Cluster mention")
    sockets = [await live.connect("py", WEBSOCKET, ada, on=1),
               await live.connect("js", DEFAULT, ada, on=2)]
    bystander = await live.connect("py", WEBSOCKET, bob, on=1)
    comment = await rest.ok("POST", f"/tasks/{task['id']}/comments", bob, instance=3,
                            json={"body": f"@[{ada.name}] have a look"}, status=201)
    assert comment["body"].startswith("@[")

    await activity.until(lambda: all(s.named("notification:created") for s in sockets),
                         timeout=15, what=lambda: "notification:created on both of Ada's sockets: "
                         f"{[len(s.named('notification:created')) for s in sockets]}")
    pushed = [s.named("notification:created")[0]["notification"] for s in sockets]
    assert pushed[0] == pushed[1]
    note = pushed[0]
    assert (note["type"], note["task_id"], note["actor"]["user_id"]) == (
        "mentioned", task["id"], bob.id)
    listed = await rest.ok("GET", "/notifications?unread=true", ada, instance=2)
    assert note["id"] in [n["id"] for n in listed["items"]]
    assert not bystander.named("notification:created")  # the actor hears nothing

    await rest.ok("POST", f"/notifications/{note['id']}/read", ada, instance=3)
    await activity.until(lambda: all(s.named("notification:read") for s in sockets), timeout=15,
                         what="notification:read on both of Ada's sockets")
    assert all(s.named("notification:read")[0] == {"ids": [note["id"]]} for s in sockets)
