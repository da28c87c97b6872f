"""What each kind of credential may do: the one place that maps routes and live commands to
the scope a personal access token needs for them.

Scopes nest: `read` < `write` < `admin`. Password logins (session access tokens) have full
rights. A route or live command not named below needs `read` when it only reads (GET, HEAD)
and `admin` otherwise, so a route added without a thought for tokens is safe: a token with
`admin` may call it, a `read` or `write` one may not. `session` marks what only a password
login may do (a token can't log out or refresh).

Routes are named by method and Quart rule, live commands by event name: data, so that this
module needs neither framework.
"""

from __future__ import annotations

from typing import Literal

from taskflow.errors import InsufficientScope
from taskflow.services.access import Actor

Scope = Literal["read", "write", "admin"]
Needed = Literal["read", "write", "admin", "session"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
_RANK: dict[str, int] = {"read": 0, "write": 1, "admin": 2}

# Writes to tasks and what hangs off them, and to one's own watches and notifications.
_WRITE_ROUTES = (
    "POST /api/v1/tasks",
    "PATCH /api/v1/tasks/<task_id>",
    "DELETE /api/v1/tasks/<task_id>",
    "POST /api/v1/tasks/<task_id>/comments",
    "DELETE /api/v1/tasks/<task_id>/comments/<comment_id>",
    "POST /api/v1/tasks/<task_id>/attachments",
    "DELETE /api/v1/tasks/<task_id>/attachments/<attachment_id>",
    "POST /api/v1/tasks/<task_id>/attachments/uploads",
    "POST /api/v1/tasks/<task_id>/attachments/<attachment_id>/complete",
    "POST /api/v1/tasks/<task_id>/checklist",
    "PATCH /api/v1/tasks/<task_id>/checklist/<item_id>",
    "DELETE /api/v1/tasks/<task_id>/checklist/<item_id>",
    "PUT /api/v1/tasks/<task_id>/watch",
    "DELETE /api/v1/tasks/<task_id>/watch",
    "PUT /api/v1/boards/<board_id>/watch",
    "DELETE /api/v1/boards/<board_id>/watch",
    "POST /api/v1/notifications/read-all",
    "POST /api/v1/notifications/<notification_id>/read",
)
ROUTE_SCOPES: dict[str, Needed] = {
    **{route: "write" for route in _WRITE_ROUTES},
    # Reads that still need admin: a token must not list the tokens, nor read the webhooks
    # (their URLs may carry credentials) and their deliveries.
    "GET /api/v1/users/me/tokens": "admin",
    "GET /api/v1/boards/<board_id>/webhooks": "admin",
    "GET /api/v1/boards/<board_id>/webhooks/<webhook_id>": "admin",
    "GET /api/v1/boards/<board_id>/webhooks/<webhook_id>/deliveries": "admin",
    "POST /api/v1/auth/logout": "session",
    "DELETE /api/v1/users/me": "session",  # deleting the account takes a password login
}
LIVE_SCOPES: dict[str, Needed] = {
    "board:join": "read",
    "board:leave": "read",
    "task:editing": "write",  # announces an edit the token must be able to make
    "auth:refresh": "session",
}


def route_scope(method: str, rule: str) -> Needed:
    """The scope a route needs (`rule` as Quart spells it, e.g. /api/v1/tasks/<task_id>)."""
    method = method.upper()
    found = ROUTE_SCOPES.get(f"{method} {rule}")
    if found is not None:
        return found
    return "read" if method in ("GET", "HEAD") else "admin"


def live_scope(event: str) -> Needed:
    """The scope a live-channel command needs (admin unless declared)."""
    return LIVE_SCOPES.get(event, "admin")


def allows(scopes: tuple[str, ...] | None, needed: Needed) -> bool:
    if scopes is None:
        return True
    if needed == "session":
        return False
    return max((_RANK.get(s, -1) for s in scopes), default=-1) >= _RANK[needed]


def require_scope(actor: Actor, needed: Needed) -> None:
    """InsufficientScope (403, naming the scope) unless the actor's credential allows it."""
    if allows(actor.scopes, needed):
        return
    if needed == "session":
        raise InsufficientScope("A personal access token can't do this; sign in with a password",
                                required_scope="session")
    raise InsufficientScope(f"This needs a token with the {needed!r} scope",
                            required_scope=needed)
