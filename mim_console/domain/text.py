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


# C0 but tab and newline, DEL, C1, and lone surrogates (what a Latin-1 terminal makes of bytes).
_OUTGOING_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def control_characters(text: str) -> list[tuple[int, str]]:
    """Where ``text`` holds a character no outgoing message may carry: (index, U+XXXX)."""
    return [(m.start(), f"U+{ord(m.group()):04X}") for m in _OUTGOING_CONTROL.finditer(text)]


def outgoing(text: str) -> str:
    """Every outgoing body (SMS, TwiML text, chat): control characters and lone surrogates
    removed, tabs made spaces. An ESC or NUL in a name or a template must never reach a phone:
    some handsets show it as a box, some gateways refuse the whole message."""
    return _OUTGOING_CONTROL.sub("", text).replace("\t", " ")


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` is no chat webhook to post approved texts to (None when it is one): only
    ``https://`` with a host carries them; plain ``http://`` only to this machine (loopback,
    for tests and a local relay) — a webhook URL is a secret, never sent in clear text."""
    from urllib.parse import urlsplit

    if any(ch.isspace() for ch in url) or control_characters(url):
        return "it holds spaces or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return "it is not a URL"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host in _LOOPBACK:
        return None
    return "it must start with https:// (http:// only to 127.0.0.1 or localhost)"
