"""The search query language's parser: pure, so tested here without a server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from taskflow.services.search_query import MAX_TERMS, BadSearch, Due, parse, parse_due


def test_words_and_phrases_become_terms_of_words() -> None:
    parsed = parse('deploy "release notes"  Friday')
    assert parsed.terms == (("deploy",), ("release", "notes"), ("Friday",))
    assert not parsed.impossible and parsed.filters == ()


def test_a_word_with_punctuation_is_a_phrase_of_its_runs() -> None:
    assert parse("foo-bar").terms == (("foo", "bar"),)
    assert parse("a_b").terms == (("a", "b"),)  # _ separates words, as in SQLite's index
    assert parse("café").terms == (("café",),)


@pytest.mark.parametrize("text", ["%", "_%", "_", "*", "--", "^", '""', "()", ".*", "\\"])
def test_a_term_without_letters_or_digits_makes_the_query_match_nothing(text: str) -> None:
    parsed = parse(f"hello {text}")
    if text == '""':  # an empty phrase is no term at all
        assert parsed.terms == (("hello",),) and not parsed.impossible
        return
    assert parsed.impossible and parsed.has_words


@pytest.mark.parametrize("text", ["NEAR(a b)", "a OR b", "title:x", "a* b^", "-x", "(a)", "a:b"])
def test_engine_syntax_is_only_words(text: str) -> None:
    if ":" in text:
        with pytest.raises(BadSearch) as err:
            parse(text)
        assert err.value.code == "unknown_filter"
        return
    parsed = parse(text)
    assert all(word.isalnum() for term in parsed.terms for word in term)


def test_unbalanced_quote_runs_to_the_end() -> None:
    assert parse('bug "login page').terms == (("bug",), ("login", "page"))
    assert parse('"').terms == ()
    assert parse('a"b').terms == (("a", "b"),)


def test_filters() -> None:
    parsed = parse('assignee:me status:done column:"In Review" tag:x tag:"y z" due:<7d '
                   'board:"Team Board" word')
    assert parsed.assignee == "me"
    assert parsed.status == "done"
    assert parsed.column == "In Review"
    assert parsed.tags == ("x", "y z")
    assert parsed.due == Due(before=True, span=timedelta(days=7))
    assert parsed.board == "Team Board"
    assert parsed.terms == (("word",),)
    assert parsed.filters == ("assignee", "status", "column", "tag", "tag", "due", "board")


@pytest.mark.parametrize(("value", "expected"), [
    ("me", "me"), ("ME", "me"), ("none", "none"), ("ada@example.com", "ada@example.com"),
])
def test_assignee_values(value: str, expected: str) -> None:
    assert parse(f"assignee:{value}").assignee == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("<7d", Due(True, timedelta(days=7))), (">3d", Due(False, timedelta(days=3))),
    ("<2w", Due(True, timedelta(weeks=2))), (">1W", Due(False, timedelta(weeks=1))),
    ("overdue", Due(True, None)), ("OVERDUE", Due(True, None)),
])
def test_due_values(value: str, expected: Due) -> None:
    assert parse_due(value) == expected


@pytest.mark.parametrize("q", [
    "status:later", "status:", "assignee:bob", "due:7d", "due:<7m", "due:<99999d", "due:soon",
    "colour:red", "http://example.com", "status:done status:todo", 'board:"a" board:b',
])
def test_bad_filters_are_refused_naming_the_part(q: str) -> None:
    with pytest.raises(BadSearch) as err:
        parse(q)
    assert err.value.status == 422
    assert err.value.payload()["errors"][0]["part"]


def test_keys_are_case_insensitive_and_values_may_be_quoted() -> None:
    parsed = parse('STATUS:"in_progress" Board:"My board"')
    assert parsed.status == "in_progress" and parsed.board == "My board"


def test_limits() -> None:
    parse("w " * MAX_TERMS)
    with pytest.raises(BadSearch) as err:
        parse("w " * (MAX_TERMS + 1))
    assert err.value.code == "too_many_terms"
    with pytest.raises(BadSearch) as err:
        parse("x" * 501)
    assert err.value.code == "query_too_long"
    parse("x" * 500)


def test_only_filters_has_no_words() -> None:
    parsed = parse("status:todo")
    assert parsed.terms == () and not parsed.has_words and parsed.filters == ("status",)
    assert parse("   ").filters == () and not parse("   ").has_words
