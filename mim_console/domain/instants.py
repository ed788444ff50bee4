"""The instants the console accepts, and reading them from what people type.

Every instant the console accepts (the command line, the console's forms, .ics and CSV files)
lies in ``[EARLIEST, LATEST)`` (docs/rotation.md, "Bounds"); shift lengths have their bounds
too. A wall time without an offset is read in a zone by the rotation rules' DST rule
(``resolve_local``). Pure: no I/O, no clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mim_console.errors import OutOfRange, UserError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

#: Every instant the console accepts (the command line, forms, .ics and CSV files) lies in
#: ``[EARLIEST, LATEST)``; the bounds are documented in docs/rotation.md. Far enough for any
#: rota, near enough that rotation arithmetic (a shift of the longest length added to any of
#: them) never leaves what ``datetime`` can hold.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
WINDOW_TEXT = "1970-01-01 … 2200-01-01 (UTC)"

#: The longest shift of each unit: ten years.
MAX_SHIFT_LENGTH = {"hours": 87_600, "days": 3_650, "weeks": 520}


def shift_length_problem(unit: str, length: object, what: str = "shift length") -> str | None:
    """Why ``length`` is not a shift length of ``unit`` (None when it is one)."""
    most = MAX_SHIFT_LENGTH.get(str(unit))
    if most is None:
        return f"shift unit {unit!r} is not one of hours, days, weeks"
    if isinstance(length, int) and not isinstance(length, bool) and length < 1:
        return f"{what} must be at least 1 (1..{most} {unit}), not {length!r}"
    if isinstance(length, bool) or not isinstance(length, int) or length > most:
        return f"{what} must be 1..{most} {unit}, not {length!r}"
    return None


def instant_problem(moment: datetime, what: str = "the time") -> str | None:
    """Why ``moment`` is outside the accepted window (None when it is inside)."""
    if moment.tzinfo is None:
        return f"{what} has no time zone"
    if not EARLIEST <= moment < LATEST:
        return f"{what} ({shown_instant(moment)}) is outside {WINDOW_TEXT}"
    return None


def check_date(day: date, what: str = "the date") -> date:
    if not EARLIEST.date() <= day < LATEST.date():
        raise OutOfRange(f"{what} ({day.isoformat()}) is outside {WINDOW_TEXT}")
    return day


def shown_instant(moment: datetime) -> str:
    try:
        return moment.astimezone(UTC).isoformat()
    except (OverflowError, ValueError):  # year 1 with a positive offset, year 9999 with a negative
        return moment.isoformat()


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: name too long
        raise UserError(
            f'time zone "{name}" is not an IANA zone name (like Europe/Helsinki)'
        ) from exc


def parse_handoff_time(text: str) -> time:
    """``HH:MM`` (24-hour clock)."""
    try:
        hours, minutes = text.strip().split(":")
        if len(minutes) != 2 or not hours.isdigit() or not minutes.isdigit():
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise UserError(f'handoff time "{text}" is not a time like 09:00') from exc


def parse_weekday(text: str | int | None) -> int | None:
    """``monday``/``mon``/``0`` → 0; None stays None."""
    if text is None or isinstance(text, int):
        if isinstance(text, int) and not 0 <= text <= 6:
            raise UserError(f"weekday {text} is not 0 (Monday) … 6 (Sunday)")
        return text
    word = text.strip().lower()
    if word.isdigit() and 0 <= int(word) <= 6:
        return int(word)
    for index, name in enumerate(WEEKDAYS):
        if len(word) >= 3 and name.startswith(word):
            return index
    raise UserError(f'weekday "{text}" is not a day name like monday')


def resolve_local(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive local wall time, by the module's DST rule.

    Repeated wall time: the first occurrence. Skipped wall time: the first instant at or after
    it, which is the moment the clock jumps over it.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # Skipped: fold=1 reads the wall time with the new offset and lands before the jump;
    # fold=0 reads it with the old offset and lands after. Find the jump between them.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    after_offset = high.astimezone(zone).utcoffset()
    lo, hi = 0, int((high - low).total_seconds())
    while lo < hi:
        mid = (lo + hi) // 2
        if (low + timedelta(seconds=mid)).astimezone(zone).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid + 1
    return low + timedelta(seconds=lo)


def parse_instant(text: str, zone: ZoneInfo, what: str = "time") -> datetime:
    """ISO 8601 from the command line: with an offset (``Z``, ``+02:00``) it is exact; without
    one it is a wall time in ``zone`` (skipped and repeated times by the module's DST rule); a
    bare date is that day's local midnight.
    """
    raw = text.strip()
    try:
        if len(raw) == 10:
            moment = datetime.combine(date.fromisoformat(raw), time(0, 0))
        else:
            moment = datetime.fromisoformat(raw.replace(" ", "T", 1))
    except ValueError as exc:
        raise UserError(
            f'{what} "{text}" is not ISO 8601 (like 2026-03-29T09:00 or 2026-03-29T06:00Z)'
        ) from exc
    return instant_in_window(moment, zone, f'{what} "{text}"')


def instant_in_window(moment: datetime, zone: ZoneInfo, what: str) -> datetime:
    """An aware ``moment`` in UTC, or a naive one read as a wall time in ``zone``; refused
    (``OutOfRange``, naming ``what``) outside the accepted window. Years far outside it are
    refused before any zone arithmetic, which would overflow at year 1 or 9999."""
    if not EARLIEST.year - 1 <= moment.year <= LATEST.year:
        raise OutOfRange(f"{what} is outside {WINDOW_TEXT}")
    exact = resolve_local(moment, zone) if moment.tzinfo is None else moment.astimezone(UTC)
    if not EARLIEST <= exact < LATEST:
        raise OutOfRange(f"{what} is outside {WINDOW_TEXT}")
    return exact
