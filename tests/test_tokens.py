"""Access tokens: verified once, then remembered until they expire."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from taskflow.errors import Unauthorized
from taskflow.security.tokens import _VERIFIED_KEPT, TokenIssuer

SECRET = "s" * 48


def issuer(secret: str = SECRET, previous: str | None = None, **kwargs: object) -> TokenIssuer:
    return TokenIssuer(secret=secret, previous_secret=previous, issuer="taskflow",
                       audience="taskflow", access_ttl=900, **kwargs)  # type: ignore[arg-type]


def test_a_remembered_token_gives_the_same_claims() -> None:
    tokens = issuer()
    token = tokens.issue_access(user_id="u1", login_id="l1", now=datetime.now(UTC))
    first, again = tokens.decode_access(token), tokens.decode_access(token)
    assert (again.user_id, again.login_id, again.exp) == ("u1", "l1", first.exp)


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    now = [time.time()]
    tokens = issuer(clock=lambda: now[0])
    token = tokens.issue_access(user_id="u1", login_id="l1", now=datetime.now(UTC))
    claims = tokens.decode_access(token)
    now[0] = claims.exp  # the token's last second is over
    with pytest.raises(Unauthorized) as refused:
        tokens.decode_access(token)
    assert refused.value.extra["reason"] == "token_expired"


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another signature
    lambda t: t + "x",
    lambda t: t.replace(".", "..", 1),
])
def test_a_token_like_a_remembered_one_is_still_verified(tamper: object) -> None:
    tokens = issuer()
    token = tokens.issue_access(user_id="u1", login_id="l1", now=datetime.now(UTC))
    tokens.decode_access(token)
    with pytest.raises(Unauthorized):
        tokens.decode_access(tamper(token))  # type: ignore[operator]


def test_tokens_of_another_secret_are_refused_and_the_previous_one_accepted() -> None:
    old = issuer(secret="o" * 48)
    token = old.issue_access(user_id="u1", login_id="l1", now=datetime.now(UTC))
    with pytest.raises(Unauthorized):
        issuer().decode_access(token)
    assert issuer(previous="o" * 48).decode_access(token).user_id == "u1"


def test_expired_tokens_are_never_remembered() -> None:
    tokens = issuer()
    token = tokens.issue_access(user_id="u1", login_id="l1",
                                now=datetime.fromtimestamp(time.time() - 3600, UTC))
    for _ in range(2):
        with pytest.raises(Unauthorized) as refused:
            tokens.decode_access(token)
        assert refused.value.extra["reason"] == "token_expired"


def test_the_memory_is_bounded() -> None:
    tokens = issuer()
    now = datetime.now(UTC)
    issued = [tokens.issue_access(user_id=f"u{n}", login_id="l", now=now)
              for n in range(_VERIFIED_KEPT + 10)]
    for token in issued:
        tokens.decode_access(token)
    assert len(tokens._verified) == _VERIFIED_KEPT
    assert tokens.decode_access(issued[0]).user_id == "u0"  # forgotten, verified afresh
