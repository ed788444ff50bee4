"""The call sheet renders every person, in order, with every number, in three formats."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from mim_console.domain.callsheet import CallSheet, Entry, Section, render

SHEET = CallSheet(
    title="MI-2026-007 Payments down",
    generated_at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
    bridge=("+358 9 1234 5678", "4242", "https://meet.example.org/mim"),
    script="This is the duty manager.\nA major incident has been declared.",
    sections=(
        Section(
            "Duty manager",
            (Entry("Ann Duty", "duty manager", ("+12025550101",), authority=True),),
        ),
        Section(
            "MRT - Finance",
            (
                Entry("[bold red]Eve[/]", "primary", ("+12025550102", "+12025550103"), "CFO"),
                Entry("Bo\x1b[2JB", "deputy 1", ("+12025550104",), state="joined"),
            ),
        ),
        Section("Specialists - Network", (Entry("<b>Cy</b>", "member 1", ("+12025550105",)),)),
    ),
    exercise=True,
)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize("fmt", ["txt", "md", "html"])
def test_everyone_in_call_order_with_every_number(fmt: str) -> None:
    out = render(SHEET, fmt)
    positions = [
        out.find(p)
        for p in ("+12025550101", "+12025550102", "+12025550103", "+12025550104", "+12025550105")
    ]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert "EXERCISE" in out
    assert "4242" in out and "meet.example.org" in out
    assert "\x1b" not in out


def test_names_stay_literal_in_html() -> None:
    parser = _Text()
    parser.feed(render(SHEET, "html"))
    text = "".join(parser.text)
    assert "<b>Cy</b>" in text, "a name that looks like HTML is shown, not applied"
    assert "[bold red]Eve[/]" in text
    assert parser.tags.count("b") == 0


def test_names_stay_literal_in_markdown_and_text() -> None:
    md = render(SHEET, "md")
    assert "\\[bold red\\]Eve\\[/\\]" in md
    assert "Bo\\\\x1b\\[2JB" in md
    txt = render(SHEET, "txt")
    assert "[bold red]Eve[/]" in txt and "Bo\\x1b[2JB" in txt


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="txt, md, html"):
        render(SHEET, "pdf")
