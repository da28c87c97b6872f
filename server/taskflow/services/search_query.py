"""The search box's query language, parsed into plain data; pure (no store, no clock).

    words "quoted phrase" assignee:me status:done column:"Review" tag:x due:<7d board:"Name"

Free words and phrases must all match (AND), in a task's title, description or comments;
filters narrow further (AND). A word is whatever the user typed between spaces: it is
matched as the sequence of its letters-and-digits runs (`foo-bar` and `foo_bar` are the
phrase `foo bar`), never as syntax of any engine behind it. A term without a single letter or
digit (`%`, `*`, `--`) can match nothing, so the query it is in matches nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from taskflow.domain import STATUSES, Status
from taskflow.errors import TaskFlowError

MAX_QUERY_CHARS = 500
MAX_TERMS = 20
FILTER_KEYS = ("assignee", "status", "column", "tag", "due", "board")
# Keys that may appear once; `tag` may repeat (every tag must be on the task).
_SINGLE = frozenset({"assignee", "status", "column", "due", "board"})
_UNITS = {"d": timedelta(days=1), "w": timedelta(weeks=1)}
_DUE = re.compile(r"^([<>])(\d{1,4})([dw])$")
_KEY = re.compile(r"([A-Za-z_]+):")
# Letters and digits: what SQLite's unicode61 tokenizer keeps together (`_` separates).
_WORD = re.compile(r"[^\W_]+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class BadSearch(TaskFlowError):
    """A query the language can't read: 422 naming the part at fault."""

    status, code, title = 422, "invalid_search", "The search query can't be read"

    def __init__(self, detail: str, *, part: str, code: str | None = None) -> None:
        super().__init__(detail, errors=[{"loc": ["query", "q"], "msg": detail, "part": part}])
        if code is not None:
            self.code = code


@dataclass(frozen=True, slots=True)
class Due:
    """`due:<7d` (before = True: due before now + span, overdue included), `due:>3d`
    (after now + span) or `due:overdue` (span None: past due and not done)."""

    before: bool
    span: timedelta | None


@dataclass(frozen=True, slots=True)
class ParsedSearch:
    # Each term is the words of one typed word or quoted phrase, in order (a phrase match).
    terms: tuple[tuple[str, ...], ...] = ()
    # True when some term had no letter or digit: the query matches nothing.
    impossible: bool = False
    assignee: str | None = None  # "me", "none" or an email
    status: Status | None = None
    column: str | None = None
    tags: tuple[str, ...] = ()
    due: Due | None = None
    board: str | None = None
    filters: tuple[str, ...] = field(default=())  # the keys used, in order

    @property
    def has_words(self) -> bool:
        return bool(self.terms) or self.impossible


def parse(q: str) -> ParsedSearch:
    """Parses the text of the search box; raises BadSearch (422) naming the bad part."""
    if len(q) > MAX_QUERY_CHARS:
        raise BadSearch(f"is longer than {MAX_QUERY_CHARS} characters", part=q[:40],
                        code="query_too_long")
    terms: list[tuple[str, ...]] = []
    impossible = False
    values: dict[str, str] = {}
    tags: list[str] = []
    keys: list[str] = []
    count = 0
    for key, text in _tokens(q):
        count += 1
        if count > MAX_TERMS:
            raise BadSearch(f"has more than {MAX_TERMS} words, phrases and filters",
                            part=text, code="too_many_terms")
        if key is None and not text:
            continue  # an empty phrase ("") adds nothing
        if key is None:
            words = tuple(_WORD.findall(text))
            if words:
                terms.append(words)
            else:
                impossible = True
            continue
        if key not in FILTER_KEYS:
            raise BadSearch(f"{key}: is not a filter (known: {', '.join(FILTER_KEYS)}); quote "
                            f"it to search for the text", part=f"{key}:", code="unknown_filter")
        if key in _SINGLE and key in values:
            raise BadSearch(f"{key}: is given twice", part=f"{key}:{text}")
        if not text:
            raise BadSearch(f"{key}: needs a value", part=f"{key}:")
        keys.append(key)
        if key == "tag":
            tags.append(text)
        else:
            values[key] = text
    return ParsedSearch(
        terms=tuple(terms), impossible=impossible,
        assignee=_assignee(values["assignee"]) if "assignee" in values else None,
        status=_status(values["status"]) if "status" in values else None,
        column=values.get("column"), tags=tuple(tags),
        due=parse_due(values["due"]) if "due" in values else None,
        board=values.get("board"), filters=tuple(keys),
    )


def _tokens(q: str) -> list[tuple[str | None, str]]:
    """(filter key or None, text) pairs. An unbalanced quote runs to the end of the query."""
    out: list[tuple[str | None, str]] = []
    i, n = 0, len(q)
    while i < n:
        if q[i].isspace():
            i += 1
            continue
        key = None
        match = _KEY.match(q, i)
        if match is not None:
            key = match.group(1).lower()
            i = match.end()
        if i < n and q[i] == '"':
            end = q.find('"', i + 1)
            end = n if end < 0 else end
            out.append((key, q[i + 1:end].strip()))
            i = end + 1
            continue
        start = i
        while i < n and not q[i].isspace():
            i += 1
        out.append((key, q[start:i]))
    return out


def _assignee(value: str) -> str:
    lowered = value.lower()
    if lowered in ("me", "none") or _EMAIL.match(value):
        return lowered if lowered in ("me", "none") else value
    raise BadSearch("assignee: takes me, none or an email", part=f"assignee:{value}")


def _status(value: str) -> Status:
    for status in STATUSES:
        if value.lower() == status:
            return status
    raise BadSearch(f"status: takes one of {', '.join(STATUSES)}", part=f"status:{value}")


def parse_due(value: str) -> Due:
    """`<7d`, `>3d`, `<2w`, `>1w` (units d = days, w = weeks) or `overdue`."""
    if value.lower() == "overdue":
        return Due(before=True, span=None)
    match = _DUE.match(value.lower())
    if match is None:
        raise BadSearch("due: takes <Nd, >Nd, <Nw, >Nw (N up to 9999) or overdue",
                        part=f"due:{value}")
    sign, number, unit = match.groups()
    return Due(before=sign == "<", span=int(number) * _UNITS[unit])
