"""How stores write timestamps: UTC, fixed width, so text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime


def to_ts(value: datetime) -> str:
    """A UTC timestamp as fixed-width text (microseconds, trailing Z)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_ts(text: str) -> datetime:
    """The inverse of to_ts: an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)
