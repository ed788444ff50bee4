"""What an SMS text will cost, live under any editor of SMS text: encoding, characters, segments,
and each character that forces UCS-2 with the replacement to use instead."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from mim_console.domain import sms
from mim_console.domain.text import one_line

MAX_OFFENDERS = 3  # lines of advice shown; the rest are counted


def _shown(ch: str) -> str:
    """The offending character itself when it is visible, else its code point."""
    if sms.is_emoji(ch) or ch.isspace() or not ch.isprintable():
        return f"U+{ord(ch):04X}"
    return one_line(ch)


def sms_summary(text: str) -> str:
    """`SMS GSM-7 · 142 characters · 1 segment (18 left of 160)`: the cost in one line."""
    info = sms.analyse(text)
    plural = "s" if info.segments != 1 else ""
    units = ""
    if info.units != info.characters:  # extension characters or surrogate pairs cost more
        units = f" = {info.units} {'septets' if info.encoding is sms.Encoding.GSM7 else 'units'}"
    return (
        f"SMS {info.encoding.value} · {info.characters} characters{units} · "
        f"{info.segments} segment{plural} ({info.remaining} left of {info.per_segment})"
    )


def offender_lines(text: str, limit: int = MAX_OFFENDERS) -> list[str]:
    """One line per character forcing UCS-2: what it is, where, and the suggested replacement."""
    info = sms.analyse(text)
    lines = []
    for offender in info.offenders[:limit]:
        times = f"×{len(offender.positions)}, " if len(offender.positions) > 1 else ""
        lines.append(
            f"⚠ UCS-2 forced by {_shown(offender.char)} {offender.name.lower()} "
            f"({times}at {offender.positions[0] + 1}): {offender.advice}"
        )
    more = len(info.offenders) - limit
    if more > 0:
        lines.append(f"… and {more} more characters outside GSM-7")
    return lines


class SmsPreview(Static):
    """Shows `sms_summary` and `offender_lines` for the text it is given (plain words, no colour
    needed to read it)."""

    DEFAULT_CSS = """
    SmsPreview { height: auto; max-height: 5; color: $text-muted; }
    SmsPreview.-ucs2 { color: $warning; }
    """

    def show_text(self, text: str, *, prefix: str = "") -> None:
        lines = [prefix + sms_summary(text), *offender_lines(text)]
        self.set_class(sms.analyse(text).encoding is sms.Encoding.UCS2, "-ucs2")
        self.update(Content("\n".join(lines)))
