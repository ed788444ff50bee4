"""Stored text on screen, always literally: `[bold]Eve[/]` stays visible, ESC bytes are escaped.

Textual's ``DataTable`` and ``Label`` read plain ``str`` as markup, so every stored value goes
through ``lit`` (one line, for cells) or ``lit_block`` (several lines) first.
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content

from mim_console.domain.text import one_line, printable


def lit(value: object, style: str = "") -> Text:
    """A table cell or a one-line label: no markup, no control characters, no line breaks."""
    return Text("" if value is None else one_line(str(value)), style=style, no_wrap=True)


def lit_block(value: object) -> Content:
    """Several lines of stored text (a note, an SMS body) shown as typed."""
    return Content("" if value is None else printable(str(value)))
