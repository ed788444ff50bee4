"""SMS text by the GSM 03.38 rules: encoding, length, segments, and what forces UCS-2.

Pure: no I/O. A text made only of GSM-7 default-alphabet characters (extension-table characters
cost two septets) goes as GSM-7: 160 septets in one SMS, 153 per segment once concatenated.
Anything else switches the whole message to UCS-2: 70 UTF-16 code units in one SMS, 67 per
segment. Neither a GSM escape pair nor a UTF-16 surrogate pair is ever split across two
segments, so segments are packed character by character rather than by dividing a total.

An alert that spills into a second segment costs money and, worse, may arrive in pieces or out
of order on some handsets; one typographic quote in a title triples the count. So every
character that forces UCS-2 is reported with a suggested replacement.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

# The GSM 03.38 default alphabet, in code order (0x1B, the escape to the extension table, is
# not a character of its own and is left out).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each is sent as ESC + code, two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_PER_SEGMENT = 153
UCS2_SINGLE = 70
UCS2_PER_SEGMENT = 67


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


# Replacements that keep the meaning: typography a word processor or phone put in.
_REPLACEMENTS: dict[str, str] = {
    "\u2018": "'",  # left single quote
    "\u2019": "'",  # right single quote / apostrophe
    "\u201a": "'",  # single low-9 quote
    "\u201b": "'",  # single high-reversed-9 quote
    "\u2032": "'",  # prime
    "\u00b4": "'",  # acute accent
    "`": "'",  # grave accent (not in GSM-7)
    "\u201c": '"',  # left double quote
    "\u201d": '"',  # right double quote
    "\u201e": '"',  # double low-9 quote
    "\u201f": '"',  # double high-reversed-9 quote
    "\u2033": '"',  # double prime
    "\u00ab": '"',  # «
    "\u00bb": '"',  # »
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2026": "...",  # ellipsis
    "\u00a0": " ",  # non-breaking space
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\u2007": " ",  # figure space
    "\u2009": " ",  # thin space
    "\u200a": " ",  # hair space
    "\u202f": " ",  # narrow non-breaking space
    "\u3000": " ",  # ideographic space
    "\t": " ",
    "\u200b": "",  # zero-width space
    "\u200c": "",  # zero-width non-joiner
    "\u200d": "",  # zero-width joiner (glues emoji together)
    "\u2060": "",  # word joiner
    "\ufeff": "",  # byte-order mark
}
# Symbols with a spelled-out stand-in: suggested, but never applied without asking.
_SYMBOLS: dict[str, str] = {
    "\u2022": "*",  # bullet
    "\u00b7": "*",  # middle dot
    "\u2122": "TM",
    "\u00a9": "(c)",
    "\u00ae": "(R)",
    "\u00b0": " deg",
    "\u00d7": "x",
}


def is_emoji(ch: str) -> bool:
    """Pictographs, flags, skin tones, variation selectors and keycaps: dropped, never replaced."""
    cp = ord(ch)
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2B00 <= cp <= 0x2BFF
        or 0xFE00 <= cp <= 0xFE0F
        or 0xE0020 <= cp <= 0xE007F
        or cp == 0x20E3
    )


def is_gsm7(ch: str) -> bool:
    return ch in GSM7_BASIC or ch in GSM7_EXTENSION


def septets(ch: str) -> int:
    """Septets a GSM-7 character costs (2 for the extension table)."""
    return 2 if ch in GSM7_EXTENSION else 1


def utf16_units(ch: str) -> int:
    """UTF-16 code units: characters beyond the BMP (most emoji) take a surrogate pair."""
    return 2 if ord(ch) > 0xFFFF else 1


def suggestion(ch: str) -> str | None:
    """A GSM-7 replacement for ``ch``: '' means drop it, None means no sensible replacement."""
    if ch in _REPLACEMENTS:
        return _REPLACEMENTS[ch]
    if ch in _SYMBOLS:
        return _SYMBOLS[ch]
    if is_emoji(ch):
        return ""
    # Letters with a diacritic GSM-7 lacks: the base letter (á → a, Š → S).
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if base and base != ch and all(is_gsm7(c) for c in base):
        return base
    return None


@dataclass(frozen=True)
class Offender:
    """A character that forces UCS-2, where it first appears, and what to use instead."""

    char: str
    name: str
    positions: tuple[int, ...]  # code point offsets into the text
    replacement: str | None  # '' = drop it; None = no replacement known

    @property
    def advice(self) -> str:
        if self.replacement is None:
            return "no GSM-7 equivalent"
        if self.replacement == "":
            return "drop it"
        return f"use {self.replacement!r}"


@dataclass(frozen=True)
class SmsInfo:
    """What an SMS text will cost."""

    encoding: Encoding
    characters: int  # code points, as a person counts them
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2): what the limits count
    segments: int  # 0 for an empty text
    per_segment: int  # the limit that applies: 160/153 or 70/67
    remaining: int  # units still free in the last segment
    offenders: tuple[Offender, ...]

    @property
    def single(self) -> bool:
        return self.segments <= 1

    @property
    def fixable(self) -> bool:
        """Every offender has a replacement: ``to_gsm7`` would make the text GSM-7."""
        return all(o.replacement is not None for o in self.offenders)


def _char_name(ch: str) -> str:
    try:
        return unicodedata.name(ch)
    except ValueError:
        return f"U+{ord(ch):04X}"


def _pack(costs: list[int], single: int, per_segment: int) -> tuple[int, int]:
    """Segments and free units in the last, never splitting one character's units."""
    total = sum(costs)
    if total == 0:
        return 0, single
    if total <= single:
        return 1, single - total
    segments, used = 1, 0
    for cost in costs:
        if used + cost > per_segment:
            segments += 1
            used = 0
        used += cost
    return segments, per_segment - used


def analyse(text: str) -> SmsInfo:
    """Encoding, counts, segments and the characters forcing UCS-2 for ``text``."""
    found: dict[str, list[int]] = {}
    for index, ch in enumerate(text):
        if not is_gsm7(ch):
            found.setdefault(ch, []).append(index)
    offenders = tuple(
        Offender(ch, _char_name(ch), tuple(positions), suggestion(ch))
        for ch, positions in found.items()
    )
    if offenders:
        costs = [utf16_units(ch) for ch in text]
        segments, remaining = _pack(costs, UCS2_SINGLE, UCS2_PER_SEGMENT)
        encoding = Encoding.UCS2
        per = UCS2_SINGLE if segments <= 1 else UCS2_PER_SEGMENT
    else:
        costs = [septets(ch) for ch in text]
        segments, remaining = _pack(costs, GSM7_SINGLE, GSM7_PER_SEGMENT)
        encoding = Encoding.GSM7
        per = GSM7_SINGLE if segments <= 1 else GSM7_PER_SEGMENT
    return SmsInfo(
        encoding=encoding,
        characters=len(text),
        units=sum(costs),
        segments=segments,
        per_segment=per,
        remaining=remaining,
        offenders=offenders,
    )


def to_gsm7(text: str, *, typography_only: bool = False) -> str:
    """Apply the suggested replacements; characters without one are kept as they are.

    ``typography_only`` limits it to quotes, dashes, ellipses, odd spaces and invisible
    characters — replacements that never change what the text says — and leaves emoji and
    letters alone.
    """
    out = []
    for ch in text:
        if is_gsm7(ch):
            out.append(ch)
        elif typography_only:
            out.append(_REPLACEMENTS.get(ch, ch))
        else:
            replacement = suggestion(ch)
            out.append(ch if replacement is None else replacement)
    return "".join(out)
