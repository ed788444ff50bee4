"""Showing stored text literally wherever it goes: terminal, Markdown, HTML.

Names such as ``[bold red]Eve[/]`` or ones carrying ESC bytes are data, never instructions to a
terminal or a renderer.
"""

from __future__ import annotations

import html
import re

# Inline specials only: every caller puts the text after a prefix ("# ", "- ", "| "), so the
# line-start markers (#, +, -, 1.) cannot take effect and are left alone for readability.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def printable(text: str) -> str:
    """Replace terminal control characters (C0 except tab/newline, DEL, C1) with visible escapes."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "\t\n":
            out.append(ch)
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    return "".join(out)


def one_line(text: str) -> str:
    """Printable and on a single line (for table cells and list items)."""
    return printable(text).replace("\r", " ").replace("\n", " ")


def md_escape(text: str) -> str:
    """Inline Markdown: every character with a meaning is backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(text))


def html_escape(text: str) -> str:
    return html.escape(printable(text), quote=True)
