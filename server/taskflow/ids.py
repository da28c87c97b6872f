"""Opaque identifiers: 24 hex characters, random (they reveal neither order nor count)."""

from __future__ import annotations

import secrets


def new_id() -> str:
    return secrets.token_hex(12)
