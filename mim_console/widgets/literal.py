"""Stored text on screen, always literally: `[bold]Eve[/]` stays visible, ESC bytes are escaped.

Textual's ``DataTable`` and ``Label`` read plain ``str`` as markup, so every stored value goes
through ``lit`` (one line, for cells) or ``lit_block`` (several lines) first.
"""

from __future__ import annotations

from functools import lru_cache

from rich.text import Text
from textual.content import Content

from mim_console.domain.text import one_line, printable


@lru_cache(maxsize=65536)
def _cell(text: str) -> str:
    """Names and states repeat on every reload of a big roll call: escape each once."""
    return one_line(text)


def lit(value: object, style: str = "") -> Text:
    """A table cell or a one-line label: no markup, no control characters, no line breaks."""
    return Text("" if value is None else _cell(str(value)), style=style, no_wrap=True)


def lit_block(value: object) -> Content:
    """Several lines of stored text (a note, an SMS body) shown as typed."""
    return Content("" if value is None else printable(str(value)))
