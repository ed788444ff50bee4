"""Reply parsing and incident choice: examples plus properties over arbitrary text."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mim_console.domain.replies import (
    Meaning,
    ParsedReply,
    Resolution,
    choose_incident,
    help_text,
    parse_reply,
)

JOIN = ["1", "yes", "y", "YES", " Yes! ", "y.", "1\n", "Yes, 1"]
UNABLE = ["2", "no", "n", "NO", " No. ", "n!", "2 "]


@pytest.mark.parametrize("body", JOIN)
def test_joining_words(body: str) -> None:
    assert parse_reply(body) == ParsedReply(Meaning.JOINING)


@pytest.mark.parametrize("body", UNABLE)
def test_unable_words(body: str) -> None:
    assert parse_reply(body) == ParsedReply(Meaning.UNABLE)


@pytest.mark.parametrize(
    ("body", "meaning", "code"),
    [
        ("1 K7", Meaning.JOINING, "K7"),
        ("K7 1", Meaning.JOINING, "K7"),
        ("yes k7", Meaning.JOINING, "K7"),
        ("k7, no", Meaning.UNABLE, "K7"),
        ("1K7", Meaning.JOINING, "K7"),
        ("2-ab12", Meaning.UNABLE, "AB12"),
    ],
)
def test_reply_codes(body: str, meaning: Meaning, code: str) -> None:
    assert parse_reply(body) == ParsedReply(meaning, code)


@pytest.mark.parametrize(
    "body",
    ["", "   ", "ok", "1 2", "yes no", "maybe later", "1 K7 K8", "3", "on my way", "12", "1 7K"],
)
def test_unrecognised(body: str) -> None:
    assert parse_reply(body).meaning is Meaning.UNRECOGNISED
    assert not parse_reply(body).recognised


WORDS = st.sampled_from(["1", "yes", "y", "2", "no", "n"])
SPACE = st.text(alphabet=" \t\n.,!?;:-", max_size=3)
CODES = st.from_regex(r"\A[A-Za-z][A-Za-z0-9]{0,5}\Z")


@given(word=WORDS, before=SPACE, after=SPACE, upper=st.booleans())
def test_decoration_does_not_change_the_meaning(
    word: str, before: str, after: str, upper: bool
) -> None:
    plain = parse_reply(word)
    decorated = parse_reply(before + (word.upper() if upper else word) + after)
    assert decorated == plain
    assert plain.recognised


@given(
    word=WORDS, code=CODES, sep=st.text(alphabet=" ,.", min_size=1, max_size=3), first=st.booleans()
)
def test_code_is_found_either_side(word: str, code: str, sep: str, first: bool) -> None:
    body = f"{code}{sep}{word}" if first else f"{word}{sep}{code}"
    parsed = parse_reply(body)
    if code.casefold() in {"yes", "y", "no", "n"}:
        return  # a "code" that is itself an answer word is not a code
    assert parsed.meaning is parse_reply(word).meaning
    assert parsed.code == code.upper()


@given(st.text())
def test_any_text_parses_without_error(body: str) -> None:
    parsed = parse_reply(body)
    assert isinstance(parsed.meaning, Meaning)
    if parsed.code is not None:
        assert parsed.recognised and parsed.code == parsed.code.upper()


@given(st.text(alphabet=string.ascii_letters + string.digits + " ", max_size=30))
def test_both_answers_at_once_is_never_recognised(noise: str) -> None:
    assert parse_reply(f"1 {noise} 2").meaning is Meaning.UNRECOGNISED


ACTIVE = [(10, "K7"), (11, "Q2")]


def test_code_wins_over_alerted_incidents() -> None:
    choice = choose_incident(ParsedReply(Meaning.JOINING, "Q2"), ACTIVE, alerted_for=[10])
    assert (choice.resolution, choice.incident_id) == (Resolution.BY_CODE, 11)


def test_code_is_case_insensitive() -> None:
    choice = choose_incident(ParsedReply(Meaning.JOINING, "K7"), [(10, "k7")], alerted_for=[])
    assert choice.incident_id == 10


def test_unknown_code_needs_help() -> None:
    choice = choose_incident(ParsedReply(Meaning.JOINING, "ZZ"), ACTIVE, alerted_for=[10])
    assert choice.resolution is Resolution.UNKNOWN_CODE and choice.needs_help


def test_only_alerted_incident_without_code() -> None:
    choice = choose_incident(ParsedReply(Meaning.UNABLE), ACTIVE, alerted_for=[11, 99])
    assert (choice.resolution, choice.incident_id) == (Resolution.ONLY_ALERTED, 11)


def test_several_alerted_is_ambiguous() -> None:
    choice = choose_incident(ParsedReply(Meaning.UNABLE), ACTIVE, alerted_for=[10, 11])
    assert choice.resolution is Resolution.AMBIGUOUS and choice.needs_help
    assert choice.incident_id is None


def test_not_alerted_gets_no_help() -> None:
    choice = choose_incident(ParsedReply(Meaning.JOINING), ACTIVE, alerted_for=[])
    assert choice.resolution is Resolution.NOT_ALERTED and not choice.needs_help


@given(
    active=st.lists(st.tuples(st.integers(1, 50), CODES), max_size=6, unique_by=lambda t: t[0]),
    alerted=st.sets(st.integers(1, 60), max_size=6),
)
def test_choice_is_always_an_active_incident(
    active: list[tuple[int, str]], alerted: set[int]
) -> None:
    choice = choose_incident(ParsedReply(Meaning.JOINING), active, alerted)
    ids = {i for i, _ in active}
    if choice.incident_id is not None:
        assert choice.incident_id in ids and choice.incident_id in alerted
    assert (choice.incident_id is not None) == (len(ids & alerted) == 1)


def test_help_text_is_short_and_names_codes() -> None:
    assert help_text(["K7"]) == "Reply 1 to join or 2 if unable."
    text = help_text(["Q2", "K7"])
    assert "K7" in text and "Q2" in text and len(text) <= 160
