"""Twilio error codes → plain reasons and what to do about them (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mim_console.domain.twilio_errors import _KNOWN, describe, describe_http


def test_named_codes() -> None:
    assert "not valid" in describe(21211).reason
    assert "not a mobile" in describe(21614).reason
    assert "unsubscribed" in describe(21610).reason
    assert "region" in describe(21408).reason
    assert describe(20003).account_wide and describe(20003).permanent
    for code in range(30003, 30009):
        assert describe(code).permanent
    assert not describe(20429).permanent


@given(st.sampled_from(sorted(_KNOWN)))
def test_every_known_code_reads_as_a_sentence(code: int) -> None:
    info = describe(code)
    assert info.code == code
    # Reasons are clauses that slot into "alert failed: <reason> (Twilio error N)".
    assert info.reason == info.reason.strip() and not info.reason.endswith(".")
    assert "\n" not in info.reason


@given(st.integers(min_value=500, max_value=599), st.none() | st.integers(0, 99999))
def test_server_errors_are_always_worth_retrying(status: int, code: int | None) -> None:
    assert not describe_http(status, code).permanent


@given(st.none() | st.integers(0, 99999))
def test_rate_limit_is_always_worth_retrying(code: int | None) -> None:
    assert not describe_http(429, code).permanent


@given(
    st.integers(min_value=400, max_value=499).filter(lambda s: s != 429),
    st.none() | st.integers(0, 99999),
    st.text(max_size=80),
)
def test_other_client_errors_are_never_retried(status: int, code: int | None, text: str) -> None:
    info = describe_http(status, code, text)
    assert info.reason.strip()
    if code is None or code not in _KNOWN or _KNOWN[code][1]:
        assert info.permanent


def test_twilios_own_words_are_kept_for_unknown_codes_on_one_line() -> None:
    assert describe(12345, "Something\nodd  happened").reason == "Something odd happened"
    assert describe(12345).reason == "Twilio error 12345"
