"""Phone parsing: E.164 out, reasons that name the number and what is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mim_console.domain.phones import PhoneError, display_phone, normalize_phone


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("040 123 4567", "FI", "+358401234567"),
        ("+358 40 123 4567", "FI", "+358401234567"),
        ("00358 40 123 4567", "US", "+358401234567"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("+1 201 555 0123", "FI", "+12015550123"),
        ("fi: 040-1234567", "FI", "+358401234567"),
    ],
)
def test_valid_numbers_become_e164(text: str, region: str, expected: str) -> None:
    assert normalize_phone(text, region, mobile=True) == expected


@pytest.mark.parametrize(
    ("text", "region", "reason"),
    [
        ("+358 40", "FI", 'phone "+358 40" is too short'),
        ("+358 12 345 678", "FI", "is not a valid number for region FI"),
        ("0401234567", "US", "is not a valid number for region US"),
        ("abc", "FI", "is not a phone number"),
        ("", "FI", "phone is empty"),
        ("+358 40 123 4567 8888", "FI", "is too long"),
        ("+999 1234 5678", "FI", "unknown country code"),
        ("040 123 4567", "XX", "default region XX is unknown"),
        ("1" * 200, "FI", "is too long (200 characters)"),
    ],
)
def test_bad_numbers_say_why(text: str, region: str, reason: str) -> None:
    with pytest.raises(PhoneError) as info:
        normalize_phone(text, region)
    assert reason in str(info.value)


def test_fixed_line_is_refused_as_mobile_but_fine_as_second_phone() -> None:
    with pytest.raises(PhoneError, match="is not a mobile number"):
        normalize_phone("09 123 4567", "FI", mobile=True)
    assert normalize_phone("09 123 4567", "FI") == "+35891234567"


def test_message_quotes_the_number_as_typed() -> None:
    with pytest.raises(PhoneError, match='"0041 44 668 18 00" is not a mobile'):
        normalize_phone("0041 44 668 18 00", "FI", mobile=True)


def test_display_phone_groups_digits() -> None:
    assert display_phone("+358401234567") == "+358 40 1234567"


@given(st.text(max_size=60), st.sampled_from(["FI", "US", "SE", "GB", "", "XX"]))
def test_any_text_gives_e164_or_a_phone_error(text: str, region: str) -> None:
    try:
        out = normalize_phone(text, region)
    except PhoneError as exc:
        assert str(exc)
    else:
        assert out.startswith("+") and out[1:].isdigit()
        assert normalize_phone(out, region) == out  # idempotent
