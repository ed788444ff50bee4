"""Templates: placeholders validated when saved, rendering, exercise prefix, one-segment alerts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mim_console.domain import sms
from mim_console.domain.templates import MIN_TITLE, NAMES, SPECS, bridge_text, render, validate
from mim_console.errors import UserError

VALUES = {
    "incident_code": "MI-2026-007",
    "reply_code": "K7",
    "severity": "SEV1",
    "title": "Payments down",
    "bridge": bridge_text("+358 9 1234 5678", "4242"),
    "organisation": "Acme",
    "person_name": "Eve",
    "status": "active",
    "next_update": "09:30",
}


def test_default_alert_is_the_typical_one_segment_text() -> None:
    text = render("alert_sms", None, VALUES)
    assert text == (
        "MI-2026-007 K7 SEV1: Payments down. Bridge +358 9 1234 5678 PIN 4242. "
        "Reply 1 K7 join, 2 K7 unable"
    )
    info = sms.analyse(text)
    assert info.encoding is sms.Encoding.GSM7 and info.segments == 1


@pytest.mark.parametrize("name", NAMES)
def test_every_default_is_valid_and_exercise_prefixed(name: str) -> None:
    validate(name, SPECS[name].default)
    assert render(name, None, VALUES, exercise=True).startswith("EXERCISE")
    assert render(name, None, {**VALUES, "exercise": True}).startswith("EXERCISE")
    assert not render(name, None, VALUES).startswith("EXERCISE")


@pytest.mark.parametrize("name", [n for n in NAMES if SPECS[n].one_segment])
def test_one_segment_defaults_fit_with_typical_values(name: str) -> None:
    assert sms.analyse(render(name, None, VALUES, exercise=True)).segments == 1


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("{incident_code} {titel}", "column 17: unknown placeholder {titel}"),
        ("ok\n{title} {bogus}", "line 2, column 9: unknown placeholder {bogus}"),
        ("{title", "'{' is never closed"),
        ("title}", "a '}' without its '{'"),
        ("{title:>20}", "{title:>20} is not a placeholder"),
        ("{title.upper}", "is not a placeholder"),
        ("{0}", "{0} is not a placeholder"),
        ("{}", "{} is not a placeholder"),
        ("   ", "is empty"),
    ],
)
def test_bad_templates_refused_naming_where(text: str, where: str) -> None:
    with pytest.raises(UserError, match="template alert_sms") as caught:
        validate("alert_sms", text)
    assert where in str(caught.value)


def test_placeholder_allowed_in_one_template_is_refused_in_another() -> None:
    validate("stakeholder_update", "{spokesperson} says {status}")
    with pytest.raises(UserError, match=r"unknown placeholder \{spokesperson\}"):
        validate("alert_sms", "{spokesperson}")


def test_unknown_template_name() -> None:
    with pytest.raises(UserError, match="unknown template 'nope'"):
        render("nope", None, VALUES)


def test_literal_braces_and_missing_values() -> None:
    assert render("alert_sms", "{{x}} {title} {status}", {"title": "T"}) == "{x} T"


def test_long_title_is_shortened_at_a_word_without_ellipsis() -> None:
    title = "Card payments failing in all Nordic countries while the acquiring platform " * 2
    text = render("alert_sms", None, {**VALUES, "title": title}, exercise=True)
    info = sms.analyse(text)
    assert info.segments == 1
    assert "…" not in text and "..." not in text
    assert text.endswith("Bridge +358 9 1234 5678 PIN 4242. Reply 1 K7 join, 2 K7 unable")
    shown = text.split("SEV1: ", 1)[1].split(". Bridge", 1)[0]
    assert title.startswith(shown) and title[len(shown)] == " "
    # It uses the room: one more word would not fit.
    assert info.remaining < len(title[len(shown) :].split()[0]) + 1


def test_typography_in_sms_becomes_gsm7_but_not_in_press_release() -> None:
    values = {**VALUES, "title": "“Payments” – down…"}
    assert '"Payments" - down...' in render("alert_sms", None, values)
    assert "“Payments” – down…" in render("press_release", None, values)


def test_press_release_keeps_its_lines() -> None:
    assert "\n\n" in render("press_release", None, VALUES)
    assert "\n" not in render("alert_sms", "{title}\n\n{status}", VALUES)


@settings(max_examples=150)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x1b"), max_size=300))
def test_alert_fits_one_segment_for_any_gsm_title(title: str) -> None:
    text = render("alert_sms", None, {**VALUES, "title": sms.to_gsm7(title)})
    info = sms.analyse(text)
    if info.encoding is sms.Encoding.GSM7:
        assert info.segments == 1


@settings(max_examples=150)
@given(st.text(max_size=200))
def test_rendering_never_crashes_and_validation_is_total(text: str) -> None:
    try:
        validate("stakeholder_update", text)
    except UserError as exc:
        assert str(exc).startswith("template stakeholder_update")
    else:
        assert isinstance(render("stakeholder_update", text, VALUES), str)


def test_title_is_never_cut_below_the_minimum() -> None:
    title = "Łódź datacentre: card payments failing for all merchants since 07:40"
    values = {**VALUES, "bridge": "", "title": title}
    text = render("alert_sms", None, values)
    info = sms.analyse(text)
    assert info.encoding is sms.Encoding.UCS2
    shown = text.split("SEV1: ", 1)[1].split(". Reply", 1)[0]
    assert len(shown) >= MIN_TITLE
    if info.segments == 1:
        assert title.startswith(shown)
    else:
        assert shown == title


@pytest.mark.parametrize("name", ["stakeholder_update", "press_release"])
def test_empty_values_leave_no_stray_spaces(name: str) -> None:
    text = render(name, None, {"title": "Payments down"}, exercise=True)
    assert text.startswith("EXERCISE: ")
    assert all(line == line.strip() for line in text.splitlines())
    assert not text.endswith("\n")


# Control characters are refused in templates (issue 14): literals are any other text.
_LITERAL = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=20
)


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(_LITERAL, st.sampled_from(sorted(SPECS["press_release"].placeholders))),
        max_size=6,
    ),
    _LITERAL,
)
def test_render_matches_plain_substitution(parts: list[tuple[str, str]], tail: str) -> None:
    """Any literal text (braces doubled) around allowed placeholders renders as substituted."""
    values = {name: f"<{name}>" for name in SPECS["press_release"].placeholders}
    source = "".join(
        lit.replace("{", "{{").replace("}", "}}") + "{" + name + "}" for lit, name in parts
    ) + tail.replace("{", "{{").replace("}", "}}")
    expected = "".join(lit + values[name] for lit, name in parts) + tail
    if not expected.strip():
        return
    validate("press_release", source)
    tidy = "\n".join(line.rstrip() for line in expected.strip().splitlines())
    assert render("press_release", source, values) == tidy
