"""Stored text stays literal: terminal control bytes, Markdown and HTML specials are neutralised."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mim_console.domain.text import html_escape, md_escape, one_line, printable


def test_escape_sequences_become_visible() -> None:
    assert printable("Eve\x1b[2J\x07") == "Eve\\x1b[2J\\x07"
    assert printable("tab\tand\nnewline") == "tab\tand\nnewline"
    assert printable("\x9b31m") == "\\x9b31m"


def test_markup_and_markdown_are_escaped() -> None:
    assert md_escape("[bold red]Eve[/]") == "\\[bold red\\]Eve\\[/\\]"
    assert md_escape("*not* _bold_ <b>|</b>") == "\\*not\\* \\_bold\\_ \\<b\\>\\|\\</b\\>"
    assert md_escape("meet.example.org +358") == "meet.example.org +358"
    assert html_escape('<script>"x"&</script>') == "&lt;script&gt;&quot;x&quot;&amp;&lt;/script&gt;"


@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    for out in (printable(text), md_escape(text), html_escape(text)):
        assert not any(ord(c) < 0x20 and c not in "\t\n" for c in out)
        assert "\x1b" not in out and "\x7f" not in out
    assert "\n" not in one_line(text)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_printable_ascii_is_unchanged(text: str) -> None:
    assert printable(text) == text
