"""Fixtures: the real app (real lifespan, real SQLite) behind Quart's test client."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol

from taskflow.app import create_app
from taskflow.config import RateLimits, Settings
from taskflow.domain import Event
from taskflow.realtime.local import LocalPublisher
from tests.support.processes import METRICS_TOKEN
from tests.support.schemas import SchemaCheckingClient

TEST_SECRET = secrets.token_urlsafe(48)


@pytest.fixture(autouse=True)
def _check_response_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test client checks the bodies it receives against their documented schemas."""
    monkeypatch.setattr(Quart, "test_client_class", SchemaCheckingClient)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Test settings: rate limits ON, with room for a suite's worth of requests."""
    return Settings(
        env="test",
        data_dir=tmp_path / "data",
        jwt_secret=TEST_SECRET,
        metrics_token=METRICS_TOKEN,
        rate_limits=RateLimits(enabled=True, login_per_account="20/minute",
                               auth_per_address="1000/minute", api_per_user="2000/minute"),
    )


class Captured:
    """Events the services published, in publish order (after commit)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, events: Sequence[Event]) -> None:
        self.events.extend(events)

    def of_board(self, board_id: str) -> list[Event]:
        return [e for e in self.events if e.board_id == board_id]


@pytest.fixture
def published() -> Captured:
    return Captured()


@pytest.fixture
async def app(settings: Settings, published: Captured) -> AsyncIterator[Quart]:
    publisher = LocalPublisher()
    publisher.subscribe(published)
    application = create_app(settings, publisher=publisher)
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> TestClientProtocol:
    return app.test_client()


@pytest.fixture
def make_settings(settings: Settings):  # type: ignore[no-untyped-def]
    """Variants of the test settings: make_settings(redis_url=...)."""

    def build(**changes: object) -> Settings:
        return replace(settings, **changes)  # type: ignore[arg-type]

    return build
