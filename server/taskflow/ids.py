"""Opaque identifiers: 24 hex characters, random (they reveal neither order nor count)."""

from __future__ import annotations

import secrets


def new_id() -> str:
    return secrets.token_hex(12)


def new_epoch() -> str:
    """A board event log's epoch: 16 hex characters, new whenever its seqs start to mean
    other events (a board made, `taskflow db new-epoch` after a restore)."""
    return secrets.token_hex(8)
