"""Opaque keyset cursors: the sort keys of the last row handed out, never an offset."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Any

from taskflow.domain import SORT_FIELDS, Task, sort_values
from taskflow.errors import ValidationFailed
from taskflow.timefmt import to_ts


def _bad_cursor() -> ValidationFailed:
    msg = "is not a cursor this listing handed out (with these sort and filters)"
    return ValidationFailed(msg, errors=[{"loc": ["query", "cursor"], "msg": msg}])


def _encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _bad_cursor() from None
    if not isinstance(payload, dict):
        raise _bad_cursor()
    return payload


def encode_task_cursor(task: Task, sort: str) -> str:
    return _encode({"s": sort, "k": list(sort_values(task, sort))})


def decode_task_cursor(cursor: str, sort: str) -> tuple[Any, ...]:
    payload = _decode(cursor)
    keys = payload.get("k")
    expected = len(SORT_FIELDS[sort.lstrip("-")]) + 1
    if payload.get("s") != sort or not isinstance(keys, list) or len(keys) != expected:
        raise _bad_cursor()
    if not all(isinstance(k, str | int | float) and not isinstance(k, bool) for k in keys):
        raise _bad_cursor()
    return tuple(keys)


def encode_time_cursor(created_at: datetime, id: str) -> str:
    """A cursor for listings ordered by (created_at, id)."""
    return _encode({"c": [to_ts(created_at), id]})


def decode_time_cursor(cursor: str) -> tuple[str, str]:
    keys = _decode(cursor).get("c")
    if not isinstance(keys, list) or len(keys) != 2 or not all(isinstance(k, str) for k in keys):
        raise _bad_cursor()
    return keys[0], keys[1]


def encode_keys(tag: str, keys: list[str | int]) -> str:
    """A cursor of a listing with its own keyset (`tag` tells listings apart)."""
    return _encode({tag: keys})


def decode_keys(cursor: str, tag: str, types: tuple[type, ...]) -> tuple[Any, ...]:
    """The keys of a cursor from encode_keys(tag, ...), each of the given type."""
    keys = _decode(cursor).get(tag)
    if (not isinstance(keys, list) or len(keys) != len(types)
            or not all(type(k) is t for k, t in zip(keys, types, strict=True))):
        raise _bad_cursor()
    return tuple(keys)


def encode_search_cursor(updated_at: str, id: str, q: str) -> str:
    """A cursor of GET /search: the last hit's (updated_at text, id), tied to its query."""
    return _encode({"u": [updated_at, id], "q": _digest(q)})


def decode_search_cursor(cursor: str, q: str) -> tuple[str, str]:
    payload = _decode(cursor)
    keys = payload.get("u")
    if (payload.get("q") != _digest(q) or not isinstance(keys, list) or len(keys) != 2
            or not all(isinstance(k, str) for k in keys)):
        raise _bad_cursor()
    return keys[0], keys[1]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
