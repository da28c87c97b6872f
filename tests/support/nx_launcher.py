"""Runs NX-27017, the MongoDB emulator of the storage tests, with three upstream bugs fixed.

Measured with nx-27017 0.8.1 / neosqlite 1.17.2:
- a date given to `$set` is written as text ("2026-03-01 12:00:00") and reads back as a
  string; inserts and replacements keep dates. Here such a date is encoded the way an
  insert encodes it ({"$date": ISO}).
- a compound index whose keys include `_id` (`_id` lives in its own SQLite column) makes
  every later insert into the collection fail ("JSON path error near '_id'"). Here `_id`
  is left out of such an index: the emulator needs no index to answer correctly.
- an `insert` command stores each of its dict-valued options as one more document: the
  first insert of a transaction (which carries `readConcern: {level: "snapshot"}`) added a
  document {"level": "snapshot"} to the collection. Here those options are dropped first.
Nothing else is changed: the gaps the README lists are the emulator's own.

Usage: python nx_launcher.py <nx-27017 arguments>
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from neosqlite.collection.index_manager import IndexManager
from neosqlite.collection.query_helper import _sql_updates
from nx_27017.handler import NeoSQLiteHandler
from nx_27017.nx_27017 import main

_convert = _sql_updates._convert_bytes_to_binary
_create_index = IndexManager.create_index
_handle_insert = NeoSQLiteHandler.handle_insert


def _convert_keeping_dates(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$date": value.isoformat()}  # what an insert stores for a date
    return _convert(value)


def _create_index_without_id(self: IndexManager, key: Any, *args: Any, **kwargs: Any) -> str:
    if (isinstance(key, list) and len(key) > 1 and not kwargs.get("unique")
            and all(isinstance(part, tuple) for part in key)):
        key = [part for part in key if part[0] != "_id"]
    return _create_index(self, key, *args, **kwargs)


def _handle_insert_without_options(self: NeoSQLiteHandler, msg: dict[str, Any]) -> Any:
    for kind, section in msg["sections"]:
        if kind == "body" and isinstance(section, dict):
            for option in ("readConcern", "let", "comment"):
                section.pop(option, None)
    return _handle_insert(self, msg)


_sql_updates._convert_bytes_to_binary = _convert_keeping_dates
IndexManager.create_index = _create_index_without_id  # type: ignore[method-assign]
NeoSQLiteHandler.handle_insert = _handle_insert_without_options  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
