"""Search on SQLite: an FTS5 index over each task's title, description and comment bodies.

`search_docs` gives each task a stable integer (the FTS row id; a task's own rowid may move
on VACUUM). The store keeps both tables in step inside the transaction of every write that
changes what they hold (sqlite.py), so a search never sees a half-made change.

User text reaches FTS5 only as string literals: every word of a term is wrapped in double
quotes (a quote inside doubled), so `NEAR`, `OR`, `*`, `^`, `:`, `-` and parentheses are
words to look for, never syntax.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from taskflow.domain import SEARCH_FIELDS, SEARCH_WEIGHTS, SearchHit, SearchQuery
from taskflow.storage.sqlite_rows import task_of
from taskflow.timefmt import to_ts

# The MIGRATIONS entry (sqlite_schema.py) and the rebuild share this back-fill.
BACKFILL = (
    "INSERT INTO search_docs (task_id, board_id) SELECT id, board_id FROM tasks"
    " WHERE id NOT IN (SELECT task_id FROM search_docs)",
    "INSERT INTO search_fts (rowid, title, description, comments)"
    " SELECT d.doc, t.title, t.description,"
    " COALESCE((SELECT group_concat(c.body, char(10)) FROM comments c WHERE c.task_id = t.id), '')"
    " FROM search_docs d JOIN tasks t ON t.id = d.task_id"
    " WHERE d.doc NOT IN (SELECT rowid FROM search_fts)",
)
_DOC = "(SELECT doc FROM search_docs WHERE task_id = ?)"
_COMMENTS = ("COALESCE((SELECT group_concat(body, char(10)) FROM comments WHERE task_id = ?),"
             " '')")


def fts_phrase(words: Sequence[str]) -> str:
    """One term as an FTS5 phrase: each word a quoted string, so none of it is syntax."""
    return " + ".join('"' + word.replace('"', '""') + '"' for word in words)


def index_task(task_id: str, board_id: str, title: str,
               description: str) -> list[tuple[str, Sequence[Any]]]:
    return [
        ("INSERT INTO search_docs (task_id, board_id) VALUES (?, ?)", (task_id, board_id)),
        ("INSERT INTO search_fts (rowid, title, description, comments)"
         " VALUES (last_insert_rowid(), ?, ?, '')", (title, description)),
    ]


def reindex_task(task_id: str, title: str, description: str) -> tuple[str, Sequence[Any]]:
    # Only when the text changed: most updates move or reassign a task, and an FTS5 update
    # rewrites every token of the row.
    return ("UPDATE search_fts SET title = ?, description = ? WHERE rowid = " + _DOC
            + " AND (title IS NOT ? OR description IS NOT ?)",
            (title, description, task_id, title, description))


def unindex_task(task_id: str) -> list[tuple[str, Sequence[Any]]]:
    return [("DELETE FROM search_fts WHERE rowid = " + _DOC, (task_id,)),
            ("DELETE FROM search_docs WHERE task_id = ?", (task_id,))]


def unindex_board(board_id: str) -> list[tuple[str, Sequence[Any]]]:
    return [("DELETE FROM search_fts WHERE rowid IN"
             " (SELECT doc FROM search_docs WHERE board_id = ?)", (board_id,)),
            ("DELETE FROM search_docs WHERE board_id = ?", (board_id,))]


def reindex_comments(conn: sqlite3.Connection, task_id: str) -> None:
    """The task's comments column again, from its comments as they are now."""
    conn.execute(f"UPDATE search_fts SET comments = {_COMMENTS} WHERE rowid = {_DOC}",
                 (task_id, task_id))


def search(conn: sqlite3.Connection, query: SearchQuery) -> list[SearchHit]:
    """Up to query.limit hits in (rank desc, updated_at desc, id desc) order, after query.after."""
    if not query.board_ids:
        return []
    marks = ",".join("?" * len(query.board_ids))
    where = [f"t.board_id IN ({marks})"]
    params: list[Any] = list(query.board_ids)
    if query.status is not None:
        where.append("t.status = ?")
        params.append(query.status)
    if query.assignee_id is not None:
        where.append("t.assignee_id = ?")
        params.append(query.assignee_id)
    if query.unassigned:
        where.append("t.assignee_id IS NULL")
    for tag in query.tags:
        where.append("EXISTS (SELECT 1 FROM json_each(t.tags) WHERE json_each.value = ?)")
        params.append(tag)
    if query.due_before is not None:
        where.append("t.due_date IS NOT NULL AND t.due_date < ?")
        params.append(to_ts(query.due_before))
    if query.due_after is not None:
        where.append("t.due_date IS NOT NULL AND t.due_date > ?")
        params.append(to_ts(query.due_after))
    if query.not_done:
        where.append("t.status != 'done'")
    if query.terms:
        # One column-filtered match per field, each evaluated once into a set of rows.
        every = " AND ".join(f"({fts_phrase(term)})" for term in query.terms)
        anywhere = " OR ".join(f"({fts_phrase(term)})" for term in query.terms)
        parts: list[str] = []
        rank_params: list[Any] = []
        for name in SEARCH_FIELDS:
            parts.append(f"(d.doc IN (SELECT rowid FROM search_fts WHERE search_fts MATCH ?))"
                         f" * {SEARCH_WEIGHTS[name]}")
            rank_params.append(f"{{{name}}} : ({anywhere})")
        rank = " + ".join(parts)
        source = ("search_fts JOIN search_docs d ON d.doc = search_fts.rowid"
                  " JOIN tasks t ON t.id = d.task_id")
        where.insert(0, "search_fts MATCH ?")
        params.insert(0, every)
        params = rank_params + params
    else:
        rank, source = "0", "tasks t"
    inner = (f"SELECT t.*, {rank} AS hit_rank FROM {source} WHERE {' AND '.join(where)}")
    outer_where = ""
    if query.after is not None:
        r, updated, task_id = query.after
        outer_where = ("WHERE (hit_rank < ? OR (hit_rank = ? AND (updated_at < ?"
                       " OR (updated_at = ? AND id < ?))))")
        params.extend([r, r, updated, updated, task_id])
    sql = (f"SELECT * FROM ({inner}) {outer_where}"
           " ORDER BY hit_rank DESC, updated_at DESC, id DESC LIMIT ?")
    params.append(query.limit)
    hits = []
    for row in conn.execute(sql, params).fetchall():
        value = int(row["hit_rank"])
        matched = tuple(name for name in SEARCH_FIELDS if value & SEARCH_WEIGHTS[name])
        hits.append(SearchHit(task=task_of(row), rank=value, matched_in=matched))
    return hits
