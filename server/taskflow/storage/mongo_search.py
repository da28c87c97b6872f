"""Search on MongoDB: a text index over tasks (title, description, comment bodies) picks the
candidates, escaped regular expressions decide.

A task document carries `search_comments`, its comments' bodies joined by newlines (as
SQLite's index joins them), set whole by the store in the transaction of every comment
write (mongo.py): a plain string, because the emulator matches no regular expression on a
field of documents inside an array. `$text` gets exactly one word
of the query (the longest: the most selective, usually), as a bare token of a text index
built with language "none" (no stemming, no stop words): the index narrows the scan, and
one regular expression per term (`re.escape`d words, joined by non-word runs, between
word boundaries, case-insensitive) then makes every term match as a phrase in title,
description or a comment. That keeps MongoDB's own phrase and multi-phrase rules (which
differ between versions, and which the emulator does not follow) out of the meaning of a
query: both stores answer the same tasks, bar diacritics (see the README).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from taskflow.domain import SEARCH_FIELDS, SearchQuery
from taskflow.timefmt import from_ts

Doc = dict[str, Any]
TEXT_INDEX = "tasks_text"
TEXT_KEYS = [("title", "text"), ("description", "text"), ("search_comments", "text")]
_PATHS = {"title": "title", "description": "description", "comments": "search_comments"}


def term_pattern(words: Sequence[str]) -> str:
    """One term as a regular expression: its words in order, whole words (letters and
    digits; `_` separates, as in SQLite's index), nothing special."""
    return r"(?<![^\W_])" + r"[\W_]+".join(re.escape(word) for word in words) + r"(?![^\W_])"


def _field_has(name: str, pattern: str) -> Doc:
    """An aggregation expression: does field `name` match `pattern`."""
    return {"$regexMatch": {"input": {"$ifNull": [f"${_PATHS[name]}", ""]}, "regex": pattern,
                            "options": "i"}}


def pipeline(query: SearchQuery) -> list[Doc]:
    """The aggregation of one search: match, page in (updated_at, id) desc order, matched_in."""
    # One flat $and: the emulator's aggregation drops the other top-level conditions of a
    # $match that has $text beside an $and (MongoDB reads both forms alike).
    conditions: list[Doc] = []
    if query.terms:
        longest = max((word for term in query.terms for word in term), key=len)
        conditions.append({"$text": {"$search": longest}})
    conditions.append({"board_id": {"$in": list(query.board_ids)}})
    if query.terms:
        for term in query.terms:
            pattern = term_pattern(term)
            conditions.append({"$or": [{_PATHS[name]: {"$regex": pattern, "$options": "i"}}
                                       for name in SEARCH_FIELDS]})
    if query.status is not None:
        conditions.append({"status": query.status})
    if query.column_ids is not None:
        conditions.append({"column_id": {"$in": list(query.column_ids)}})
    if query.not_done:
        conditions.append({"status": {"$ne": "done"}})
    if query.assignee_id is not None:
        conditions.append({"assignee_id": query.assignee_id})
    if query.unassigned:
        conditions.append({"assignee_id": {"$in": [None]}})
    conditions.extend({"tags": tag} for tag in query.tags)
    due: Doc = {}
    if query.due_before is not None:
        due["$lt"] = query.due_before
    if query.due_after is not None:
        due["$gt"] = query.due_after
    if due:
        conditions.append({"due_date": {"$ne": None, **due}})
    stages: list[Doc] = [{"$match": {"$and": conditions}}]
    if query.after is not None:
        updated_text, task_id = query.after
        updated = from_ts(updated_text)
        stages.append({"$match": {"$or": [
            {"updated_at": {"$lt": updated}},
            {"updated_at": updated, "_id": {"$lt": task_id}},
        ]}})
    stages.append({"$sort": {"updated_at": -1, "_id": -1}})
    stages.append({"$limit": query.limit})
    if query.terms:
        # Only the page's hits: where some term was found, for matched_in.
        anywhere = "|".join(f"(?:{term_pattern(term)})" for term in query.terms)
        stages.append({"$addFields": {f"found_{name}": _field_has(name, anywhere)
                                      for name in SEARCH_FIELDS}})
    return stages


def matched_in(doc: Doc) -> tuple[str, ...]:
    return tuple(name for name in SEARCH_FIELDS if doc.get(f"found_{name}"))
