"""Showing stored text literally wherever it goes: terminal, Markdown, HTML.

Names such as ``[bold red]Eve[/]`` or ones carrying ESC bytes are data, never instructions to a
terminal or a renderer.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime

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


def redact(url: str) -> str:
    """``https://hooks.example/…``: enough to tell webhooks apart, not enough to post to one."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/…" if host else "a chat webhook"


def countdown(now: datetime, until: datetime) -> str:
    """`in 3h 20m` — the time to a handoff, in words a tired reader gets at a glance."""
    minutes = max(0, int((until - now).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"in {days}d {hours}h"
    if hours:
        return f"in {hours}h {mins:02d}m"
    return f"in {mins}m"


def names_list(names: Sequence[str], shown: int = 3) -> str:
    """`Aino, Eve, Bob and 4 more`: who an action touched, in one short line."""
    head = ", ".join(names[:shown])
    return head + (f" and {len(names) - shown} more" if len(names) > shown else "")
