"""API6:2023 Unrestricted Access to Sensitive Business Flows.

The flows worth automating against TaskFlow are account discovery and sign-in. Login answers
an unknown email and a wrong password alike (tests/test_auth.py; their timing in
test_passwords.py), guessing is cut off per account (test_api2), registration per address
(tests/test_ratelimit.py). Here: inviting members is the one way to ask "does this email have
an account?", and only a board's owner may ask it.
"""

from __future__ import annotations

from tests.security.conftest import World
from tests.security.target import Api, assert_problem, unique_email


def test_only_owners_can_probe_emails_by_inviting(api: Api, world: World) -> None:
    board = api.board(world.ada, "Invites", ed=(world.ed, "editor"), vic=(world.vic, "viewer"))
    members = f"/boards/{board['id']}/members"
    for prober in (world.ed, world.vic):
        answers = [api.call("POST", members, prober, json={"email": email, "role": "viewer"})
                   for email in (world.eve.email, unique_email("nobody"))]
        bodies = [assert_problem(answer, 403, "forbidden") for answer in answers]
        assert bodies[0] == bodies[1]
    for stranger_board in (board["id"], "no-such-board"):
        answer = api.call("POST", f"/boards/{stranger_board}/members", world.eve,
                          json={"email": world.ada.email, "role": "viewer"})
        assert_problem(answer, 404, "not_found")
    api.ok("DELETE", f"/boards/{board['id']}", world.ada)
