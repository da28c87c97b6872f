"""The client's view of a board rebuilt from events, and the same view fetched fresh.

Recovery rests on this: a snapshot at seq N plus the events after N must equal what a
fresh fetch returns.
"""

from __future__ import annotations

import copy
from typing import Any

from quart.typing import TestClientProtocol

from tests.support.api import Account

State = dict[str, Any]


async def fetch_state(client: TestClientProtocol, account: Account, board_id: str) -> State:
    board_response = await client.get(f"/api/v1/boards/{board_id}", headers=account.headers)
    assert board_response.status_code == 200
    board = await board_response.get_json()
    board.pop("role")
    tasks: dict[str, Any] = {}
    cursor = None
    while True:
        query = f"/api/v1/tasks?board_id={board_id}&limit=200&sort=created_at"
        page = await client.get(query + (f"&cursor={cursor}" if cursor else ""),
                                headers=account.headers)
        assert page.status_code == 200
        body = await page.get_json()
        tasks.update({task["id"]: task for task in body["items"]})
        cursor = body["next_cursor"]
        if cursor is None:
            break
    comments: dict[str, dict[str, Any]] = {}
    attachments: dict[str, dict[str, Any]] = {}
    for task_id in tasks:
        files = await client.get(f"/api/v1/tasks/{task_id}/attachments", headers=account.headers)
        assert files.status_code == 200
        if items := (await files.get_json())["items"]:
            attachments[task_id] = {a["id"]: a for a in items}
        listing = await client.get(f"/api/v1/tasks/{task_id}/comments?limit=200",
                                   headers=account.headers)
        assert listing.status_code == 200
        items = (await listing.get_json())["items"]
        if items:
            comments[task_id] = {c["id"]: c for c in items}
    return {"board": board, "tasks": tasks, "comments": comments, "attachments": attachments}


def apply(state: State | None, event: dict[str, Any]) -> State | None:
    """One event applied the way a client would; None once the board is gone."""
    if state is None:
        return None
    state = copy.deepcopy(state)
    board, tasks, comments = state["board"], state["tasks"], state["comments"]
    attachments = state["attachments"]
    assert event["seq"] == board["seq"] + 1, f"gap before {event['seq']} (at {board['seq']})"
    board["seq"] = event["seq"]
    kind, data = event["type"], event["data"]
    if kind in ("task:created", "task:updated"):
        tasks[data["id"]] = data
    elif kind == "task:deleted":
        tasks.pop(data["id"], None)
        comments.pop(data["id"], None)
        attachments.pop(data["id"], None)
    elif kind == "comment:created":
        comments.setdefault(data["task_id"], {})[data["id"]] = data
    elif kind == "comment:deleted":
        comments.get(data["task_id"], {}).pop(data["id"], None)
        if not comments.get(data["task_id"]):
            comments.pop(data["task_id"], None)
    elif kind == "attachment:added":
        attachments.setdefault(data["task_id"], {})[data["id"]] = data
    elif kind == "attachment:deleted":
        attachments.get(data["task_id"], {}).pop(data["id"], None)
        if not attachments.get(data["task_id"]):
            attachments.pop(data["task_id"], None)
    elif kind == "board:updated":
        assert data["seq"] == event["seq"]
        state["board"] = data
    elif kind == "board:deleted":
        return None
    elif kind in ("member:added", "member:updated"):
        members = [m for m in board["members"] if m["user_id"] != data["user_id"]]
        if kind == "member:updated":
            members = [m if m["user_id"] != data["user_id"] else data for m in board["members"]]
        else:
            members.append(data)
        board["members"] = members
    elif kind == "member:removed":
        board["members"] = [m for m in board["members"] if m["user_id"] != data["user_id"]]
    else:
        raise AssertionError(f"unknown event type {kind}")
    return state


def replay(state: State, events: list[dict[str, Any]]) -> State | None:
    result: State | None = state
    for event in events:
        result = apply(result, event)
    return result
