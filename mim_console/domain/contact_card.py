"""The "MIM alerts" contact: every number alerts may come from, as a vCard 4.0 (RFC 6350).

Saved on a phone and marked as an emergency (iOS) or starred / priority (Android) contact, it
lets alerts ring through Do-Not-Disturb. Pure: the caller passes the numbers and the time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

CARD_NAME = "MIM alerts"
_UID_SPACE = uuid.UUID("6f0c1d52-8a4e-4c4b-9b0e-3d1f6a2b7c90")  # this program's namespace
_NOTE = (
    "Major incident alerts come from these numbers. Let them through Do Not Disturb: "
    "iPhone - open this contact, Edit, Ringtone and Text Tone, turn on Emergency Bypass; "
    "Android - star this contact and allow starred contacts in Do Not Disturb."
)


@dataclass(frozen=True)
class SourceNumber:
    number: str  # E.164
    label: str  # where it comes from: "Twilio", "GSM modem"


def text_value(value: str) -> str:
    """A TEXT value escaped as RFC 6350 3.4 says (backslash, comma, semicolon, newline)."""
    return (
        value.replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace(";", "\\;")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Lines longer than 75 octets folded (CRLF + space), never inside a UTF-8 sequence."""
    out: list[str] = []
    current = ""
    size = 0
    for ch in line:
        width = len(ch.encode("utf-8"))
        limit = 75 if not out else 74  # a continuation line starts with the folding space
        if size + width > limit:
            out.append(current)
            current, size = "", 0
        current += ch
        size += width
    out.append(current)
    return "\r\n ".join(out)


def vcard(numbers: list[SourceNumber], *, organisation: str, now: datetime) -> str:
    """The card, CRLF line ends; ``numbers`` in the order given, each once."""
    first: dict[str, SourceNumber] = {}
    for source in numbers:
        first.setdefault(source.number, source)
    unique = list(first.values())
    uid = uuid.uuid5(_UID_SPACE, organisation or CARD_NAME)
    lines = [
        "BEGIN:VCARD",
        "VERSION:4.0",
        "PRODID:-//mim-console//contact-card//EN",
        f"UID:urn:uuid:{uid}",
        "KIND:individual",
        f"FN:{text_value(CARD_NAME)}",
        f"N:;{text_value(CARD_NAME)};;;",
    ]
    if organisation:
        lines.append(f"ORG:{text_value(organisation)}")
    for pref, source in enumerate(unique, 1):
        lines.append(f"TEL;VALUE=uri;TYPE=cell,text;PREF={min(pref, 100)}:tel:{source.number}")
    lines.append(f"NOTE:{text_value(_NOTE + ' Senders: ' + _labels(unique) + '.')}")
    lines.append(f"REV:{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}")
    lines.append("END:VCARD")
    return "".join(fold(line) + "\r\n" for line in lines)


def _labels(numbers: list[SourceNumber]) -> str:
    return ", ".join(f"{n.label} {n.number}" for n in numbers)


def numbers_text(numbers: list[SourceNumber]) -> str:
    """A link-free line naming the numbers, for a contact check (no attachment, no URL)."""
    shown = ", ".join(dict.fromkeys(n.number for n in numbers))
    return (
        f"Save {shown} as '{CARD_NAME}' and let it through Do Not Disturb: major incident "
        "alerts come from there."
    )
