"""The live connections of this instance: one record per socket, indexed by login and user.

A record is created when `connect` accepts a socket and is the only thing `disconnect`
tears down. Handlers that await re-read it afterwards (`open`, `join_current`), because the
socket may have closed, left the board or joined it again in the meantime.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(eq=False)
class Connection:
    """One authenticated socket on this instance."""

    sid: str
    eio_sid: str
    user_id: str
    login_id: str
    name: str
    expires_at: float
    scopes: tuple[str, ...] | None = None  # a personal access token's; None: a password login
    boards: set[str] = field(default_factory=set)  # joins acknowledged
    joining: dict[str, object] = field(default_factory=dict)  # board -> the join in flight
    open: bool = True
    warned: bool = False

    def start_join(self, board_id: str) -> object:
        """Marks a join of `board_id` in flight; a later join, a leave or a close cancels it."""
        attempt = object()
        self.joining[board_id] = attempt
        return attempt

    def join_current(self, board_id: str, attempt: object) -> bool:
        return self.open and self.joining.get(board_id) is attempt

    def end_join(self, board_id: str, attempt: object) -> None:
        if self.joining.get(board_id) is attempt:
            del self.joining[board_id]


@dataclass(eq=False)
class Ticket:
    """A connect whose login is being checked: a revocation meanwhile marks it."""

    login_id: str
    revoked: bool = False


class Connections:
    def __init__(self) -> None:
        self._by_sid: dict[str, Connection] = {}
        self._by_login: dict[str, dict[str, Connection]] = {}
        self._by_user: dict[str, dict[str, Connection]] = {}
        self._tickets: dict[str, list[Ticket]] = {}

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._by_sid.values()))

    def get(self, sid: str) -> Connection | None:
        return self._by_sid.get(sid)

    def logins(self) -> list[str]:
        return list(self._by_login)

    def of_user(self, user_id: str) -> list[Connection]:
        return list(self._by_user.get(user_id, {}).values())

    def expect(self, login_id: str) -> Ticket:
        """Call before checking a login in the store, so a revocation that lands during the
        check is not missed (it could come before the connection is registered)."""
        ticket = Ticket(login_id)
        self._tickets.setdefault(login_id, []).append(ticket)
        return ticket

    def settle(self, ticket: Ticket) -> None:
        tickets = self._tickets.get(ticket.login_id, [])
        if ticket in tickets:
            tickets.remove(ticket)
        if not tickets:
            self._tickets.pop(ticket.login_id, None)

    def add(self, conn: Connection) -> None:
        self._by_sid[conn.sid] = conn
        self._by_login.setdefault(conn.login_id, {})[conn.sid] = conn
        self._by_user.setdefault(conn.user_id, {})[conn.sid] = conn

    def relogin(self, conn: Connection, login_id: str) -> None:
        """The connection presented a token of another login of its user (auth:refresh)."""
        _drop(self._by_login, conn.login_id, conn.sid)
        conn.login_id = login_id
        self._by_login.setdefault(login_id, {})[conn.sid] = conn

    def revoke(self, login_id: str) -> list[Connection]:
        """The login ended: marks its connects in flight and returns its open connections."""
        for ticket in self._tickets.get(login_id, []):
            ticket.revoked = True
        return list(self._by_login.get(login_id, {}).values())

    def remove(self, sid: str) -> Connection | None:
        conn = self._by_sid.pop(sid, None)
        if conn is None:
            return None
        conn.open = False
        conn.joining.clear()
        _drop(self._by_login, conn.login_id, conn.sid)
        _drop(self._by_user, conn.user_id, conn.sid)
        return conn


def _drop(index: dict[str, dict[str, Connection]], key: str, sid: str) -> None:
    sockets = index.get(key)
    if sockets is not None:
        sockets.pop(sid, None)
        if not sockets:
            del index[key]
