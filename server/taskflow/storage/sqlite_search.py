"""Search on SQLite: an FTS5 index over each task's title, description and comment bodies.

`search_docs` gives each task a stable integer (the FTS row id; a task's own rowid may move
on VACUUM). The store keeps both tables in step inside the transaction of every write that
changes what they hold (sqlite.py), so a search never sees a half-made change.

User text reaches FTS5 only as string literals: every word of a term is wrapped in double
quotes (a quote inside doubled), so `NEAR`, `OR`, `*`, `^`, `:`, `-` and parentheses are
words to look for, never syntax.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from typing import Any

from taskflow.domain import SEARCH_FIELDS, SearchHit, SearchQuery
from taskflow.storage.sqlite_rows import task_of
from taskflow.timefmt import to_ts

# Above this many matching tasks, a search walks tasks newest first (see search()).
WALK_ABOVE = 5000
_CHUNK = 256
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


def fold(text: str) -> str:
    """Case and diacritics folded, as the unicode61 tokenizer (remove_diacritics 2) folds."""
    if text.isascii():
        return text.lower()
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c)).casefold()


def term_regex(words: Sequence[str]) -> re.Pattern[str]:
    """A term over folded text: its words in order, whole words, nothing special."""
    inner = r"[\W_]+".join(re.escape(fold(word)) for word in words)
    return re.compile(r"(?<![^\W_])" + inner + r"(?![^\W_])")


def _where(query: SearchQuery) -> tuple[list[str], list[Any]]:
    marks = ",".join("?" * len(query.board_ids))
    where = [f"t.board_id IN ({marks})"]
    params: list[Any] = list(query.board_ids)
    if query.status is not None:
        where.append("t.status = ?")
        params.append(query.status)
    if query.column_ids is not None:
        where.append(f"t.column_id IN ({','.join('?' * len(query.column_ids))})")
        params.extend(query.column_ids)
    if query.assignee_id is not None:
        where.append("t.assignee_id = ?")
        params.append(query.assignee_id)
    if query.unassigned:
        where.append("t.assignee_id IS NULL")
    for tag in query.tags:
        # instr first (the tag as the store encodes it: a cheap test that rules most rows
        # out), json_each to be exact.
        where.append("instr(t.tags, ?) > 0"
                     " AND EXISTS (SELECT 1 FROM json_each(t.tags) WHERE json_each.value = ?)")
        params.extend([json.dumps(tag), tag])
    if query.due_before is not None:
        where.append("t.due_date IS NOT NULL AND t.due_date < ?")
        params.append(to_ts(query.due_before))
    if query.due_after is not None:
        where.append("t.due_date IS NOT NULL AND t.due_date > ?")
        params.append(to_ts(query.due_after))
    if query.not_done:
        where.append("t.status != 'done'")
    return where, params


def _after(after: tuple[str, str] | None) -> tuple[list[str], list[Any]]:
    if after is None:
        return [], []
    updated, task_id = after
    return ["(t.updated_at < ? OR (t.updated_at = ? AND t.id < ?))"], [updated, updated, task_id]


_ORDER = " ORDER BY t.updated_at DESC, t.id DESC"
_TEXT = ("search_fts.title AS s_title, search_fts.description AS s_description,"
         " search_fts.comments AS s_comments")


def _matched(row: sqlite3.Row, patterns: list[re.Pattern[str]]) -> tuple[str, ...] | None:
    """The fields some term is in, or None when some term is in no field. Texts are folded
    only as far as needed: most rows of a walk fail on their first field checks."""
    texts: dict[str, str] = {}

    def text(name: str) -> str:
        if name not in texts:
            texts[name] = fold(row[f"s_{name}"])
        return texts[name]

    for pattern in patterns:
        if not any(pattern.search(text(name)) for name in SEARCH_FIELDS):
            return None
    return tuple(name for name in SEARCH_FIELDS
                 if any(pattern.search(text(name)) for pattern in patterns))


def _source(conn: sqlite3.Connection, query: SearchQuery) -> str:
    """Tasks walked newest first through the time index of all tasks when the caller's boards
    (and the assignee, when one is named) hold a good share of them: a page fills quickly.
    Otherwise SQLite reads them through the board or assignee index and sorts them."""
    # Every task ever indexed (deleted ones included): an estimate, read off the rowid.
    total = conn.execute("SELECT coalesce(max(doc), 0) FROM search_docs").fetchone()[0]
    marks = ",".join("?" * len(query.board_ids))
    enough = total // 4 + 1  # counting stops there
    mine = conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM search_docs WHERE board_id"
                        f" IN ({marks}) LIMIT ?)", [*query.board_ids, enough]).fetchone()[0]
    if mine < enough:
        return "tasks t"
    if query.assignee_id is not None:
        enough = total // 20 + 1
        theirs = conn.execute("SELECT count(*) FROM (SELECT 1 FROM tasks WHERE assignee_id = ?"
                              " LIMIT ?)", (query.assignee_id, enough)).fetchone()[0]
        if theirs < enough:
            return "tasks t"
    return "tasks t INDEXED BY tasks_by_updated"


def search(conn: sqlite3.Connection, query: SearchQuery, *,
           walk_above: int = WALK_ABOVE) -> list[SearchHit]:
    """Up to query.limit hits, newest change first (updated_at desc, id desc), after query.after.

    Words with at most `walk_above` matching tasks are looked up in the FTS index, and the
    matches sorted; more common ones (a word in most tasks) would cost a sort of nearly
    every task, so the tasks are walked newest first instead, each checked against the
    terms in Python (the same folding and word rules as the index), until a page is full.
    """
    if not query.board_ids:
        return []
    where, params = _where(query)
    keyset, keys = _after(query.after)
    where, params = where + keyset, params + keys
    if not query.terms:
        sql = (f"SELECT t.* FROM {_source(conn, query)} WHERE {' AND '.join(where)}{_ORDER}"
               " LIMIT ?")
        return [SearchHit(task=task_of(row), matched_in=())
                for row in conn.execute(sql, [*params, query.limit])]
    patterns = [term_regex(term) for term in query.terms]
    every = " AND ".join(f"({fts_phrase(term)})" for term in query.terms)
    counted = conn.execute("SELECT count(*) FROM (SELECT 1 FROM search_fts WHERE search_fts"
                           " MATCH ? LIMIT ?)", (every, walk_above + 1)).fetchone()[0]
    hits: list[SearchHit] = []
    if counted <= walk_above:
        sql = (f"SELECT t.*, {_TEXT} FROM search_fts JOIN search_docs d ON d.doc = search_fts.rowid"
               f" JOIN tasks t ON t.id = d.task_id WHERE search_fts MATCH ?"
               f" AND {' AND '.join(where)}{_ORDER} LIMIT ?")
        for row in conn.execute(sql, [every, *params, query.limit]):
            hits.append(SearchHit(task=task_of(row), matched_in=_matched(row, patterns) or ()))
        return hits
    base_where, base_params = _where(query)
    source = _source(conn, query)
    after = query.after
    while len(hits) < query.limit:
        keyset, keys = _after(after)
        # The chunk is chosen and sorted on tasks alone; its text is joined afterwards.
        chunk = (f"SELECT t.* FROM {source} WHERE {' AND '.join(base_where + keyset)}{_ORDER}"
                 f" LIMIT {_CHUNK}")
        sql = (f"SELECT t.*, {_TEXT} FROM ({chunk}) t JOIN search_docs d ON d.task_id = t.id"
               f" JOIN search_fts ON search_fts.rowid = d.doc{_ORDER}")
        rows = conn.execute(sql, base_params + keys).fetchall()
        for row in rows:
            fields = _matched(row, patterns)
            if fields is not None:
                hits.append(SearchHit(task=task_of(row), matched_in=fields))
        if len(rows) < _CHUNK:
            break
        after = (rows[-1]["updated_at"], rows[-1]["id"])
    return hits[:query.limit]
