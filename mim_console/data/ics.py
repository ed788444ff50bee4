"""iCalendar (RFC 5545) for rotations, through the ``icalendar`` library.

Export: one VEVENT per shift (base shift or override), UID derived from the rotation id and the
shift's start so a re-export updates rather than duplicates events in a subscribed calendar.
Times are written in UTC: a shift may start inside the hour a DST change repeats, which a
TZID-qualified local time cannot name (RFC 5545 reads it as the first occurrence). The
rotation's zone goes in ``X-WR-TIMEZONE`` so calendar apps show local time.

Import: events of the kind on-call tools publish (PagerDuty, Opsgenie, GoAlert, Grafana OnCall):
the person is found by an ATTENDEE ``mailto:``, an e-mail in DESCRIPTION, then a
name in SUMMARY ("On call: Name", "On-Call - Name - Schedule", "Name") or ATTENDEE's CN.
Parsing never stops at the first bad event: every problem is reported with its line and UID,
and the caller imports nothing unless there are none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Component, Event, vCalAddress

from mim_console.domain.people import Person
from mim_console.domain.rotation import LATEST, Piece, Rotation, instant_problem

PRODID = "-//mim-console//duty rotation//EN"
UID_DOMAIN = "mim-console"
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PREFIX = re.compile(r"^\s*(?:on[\s-]?call|oncall|shift)\s*[:\-–]\s*", re.IGNORECASE)


def shift_uid(rotation_id: int, starts_at: datetime) -> str:
    """Stable: the same rotation and start give the same UID on every export."""
    return f"rotation-{rotation_id}-{starts_at.astimezone(UTC):%Y%m%dT%H%M%SZ}@{UID_DOMAIN}"


def export_rotation(
    rotation: Rotation,
    shifts: Sequence[Piece],
    people: Mapping[int, Person],
    stamp: datetime,
) -> bytes:
    """The rotation's shifts as an .ics file; pieces with nobody on duty are left out."""
    cal = Calendar.new(prodid=PRODID, name=rotation.name)
    cal.add("x-wr-timezone", rotation.timezone)
    cal.add("x-wr-caldesc", f"{rotation.name}: {rotation.describe()}")
    for piece in shifts:
        if piece.person_id is None or piece.starts_at >= piece.ends_at:
            continue
        person = people.get(piece.person_id)
        name = person.name if person else f"person {piece.person_id}"
        summary = f"On call: {name}"
        if piece.override_id is not None:
            summary += " (override)"
        event = Event.new(
            uid=shift_uid(rotation.id, piece.starts_at),
            start=piece.starts_at.astimezone(UTC),
            end=piece.ends_at.astimezone(UTC),
            summary=summary,
            stamp=stamp.astimezone(UTC),
        )
        lines = [f"Rotation: {rotation.name}"]
        if person is not None:
            lines.append(f"Phone: {person.mobile}")
            if person.email:
                lines.append(f"Email: {person.email}")
                attendee = vCalAddress(f"mailto:{person.email}")
                attendee.params["CN"] = person.name
                attendee.params["ROLE"] = "REQ-PARTICIPANT"
                event.add("attendee", attendee)
        event.add("description", "\n".join(lines))
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    data: bytes = cal.to_ical()
    return data


# --- import ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedShift:
    """One event from a feed, not yet matched to a person."""

    uid: str
    line: int
    starts_at: datetime
    ends_at: datetime
    emails: tuple[str, ...]
    names: tuple[str, ...]
    summary: str


@dataclass(frozen=True)
class FeedProblem:
    line: int
    uid: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else ""
        if self.uid:
            where += f" (UID {self.uid})" if where else f"UID {self.uid}"
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class Feed:
    shifts: tuple[FeedShift, ...]
    problems: tuple[FeedProblem, ...]
    skipped: int = 0  # cancelled events


def _event_lines(text: str) -> list[int]:
    """1-based line numbers of each top-level ``BEGIN:VEVENT``, in order."""
    return [
        number
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip().upper() == "BEGIN:VEVENT"
    ]


def _bad_line(text: str, error: str) -> int:
    """Best guess at the line a whole-file parse error is about (0 when unknown)."""
    quoted = re.search(r"'([^']+)'", error)
    if quoted:
        for number, line in enumerate(text.splitlines(), start=1):
            if quoted.group(1) in line:
                return number
    return 0


def _instant(value: object, zone: ZoneInfo) -> datetime:
    """DATE-TIME with zone, UTC, floating (read in ``zone``) or DATE (local midnight)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=zone).astimezone(UTC)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=zone).astimezone(UTC)
    raise ValueError(f"not a date or time: {value!r}")


def _read_calendar(data: bytes) -> tuple[str, Component] | FeedProblem:
    """The file's text and its parsed calendar, or the one problem that stops reading it."""
    if not data.strip():
        return FeedProblem(0, None, "the file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return FeedProblem(line, None, "the file is not UTF-8 text (RFC 5545 requires it)")
    too_long = _overlong_tzid(text)
    if too_long is not None:  # zoneinfo would look it up as a file: "File name too long"
        line, length = too_long
        return FeedProblem(line, None, f"a TZID of {length:,} characters is not a time zone name")
    try:
        cal = Calendar.from_ical(text)
    except (ValueError, OSError) as exc:  # OSError: a TZID the file system cannot look up
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        message = f"the file is not valid iCalendar: {_shorter(str(reason))}"
        return FeedProblem(_bad_line(text, str(exc)), None, message)
    return text, cal


def parse_feed(data: bytes, zone: ZoneInfo) -> Feed:
    """Every event's times and who it names; problems listed, nothing dropped silently.

    ``zone`` reads floating times and all-day dates (the rotation's zone).
    """
    read = _read_calendar(data)
    if isinstance(read, FeedProblem):
        return Feed((), (read,))
    text, cal = read
    if not isinstance(cal, Calendar) or cal.name != "VCALENDAR":
        return Feed((), (FeedProblem(1, None, "the file is not iCalendar (no VCALENDAR)"),))
    lines = _event_lines(text)
    shifts: list[FeedShift] = []
    problems: list[FeedProblem] = []
    skipped = 0
    seen: dict[str, int] = {}
    for index, event in enumerate(cal.walk("VEVENT")):
        line = lines[index] if index < len(lines) else 0
        uid = str(event.get("uid", "")).strip() or None

        def problem(message: str, line: int = line, uid: str | None = uid) -> None:
            problems.append(FeedProblem(line, uid, message))

        if uid is None:
            problem("the event has no UID, so a re-import could not recognise it")
            continue
        if uid in seen:
            problem(f"UID also used by the event at line {seen[uid]}")
            continue
        seen[uid] = line
        if event.errors:
            for prop, message in event.errors:
                # The library names no property for a line it could not split at all.
                where = f"{prop}: " if prop else "a line that is not NAME;PARAMS:VALUE: "
                problem(f"{where}{_shorter(str(message))}")
            continue
        if str(event.get("status", "")).upper() == "CANCELLED":
            skipped += 1
            continue
        if event.get("rrule") is not None:
            problem("repeating events (RRULE) are not supported: export single shifts")
            continue
        start_value = _value(event, "dtstart")
        if start_value is None:
            problem("the event has no DTSTART")
            continue
        unknown_zone = _unknown_tzid(event)
        if unknown_zone:
            problem(
                f'time zone "{_shorter(unknown_zone, 60)}" is neither an IANA name nor defined '
                "in the file"
            )
            continue
        try:
            starts_at = _instant(start_value, zone)
            end_value = _value(event, "dtend")
            duration = _value(event, "duration")
            if end_value is not None:
                ends_at = _instant(end_value, zone)
            elif isinstance(duration, timedelta):
                ends_at = starts_at + duration
            elif isinstance(start_value, date) and not isinstance(start_value, datetime):
                ends_at = _instant(start_value + timedelta(days=1), zone)
            else:
                problem("the event has neither DTEND nor DURATION")
                continue
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            problem(f"unreadable time: {exc}")
            continue
        far = instant_problem(starts_at, "its start") or (
            None if ends_at == LATEST else instant_problem(ends_at, "its end")
        )
        if far:
            problem(far)
            continue
        if ends_at <= starts_at:
            problem(f"it ends ({ends_at.isoformat()}) before it starts ({starts_at.isoformat()})")
            continue
        summary = str(event.get("summary", "")).strip()
        emails, names = _who(event, summary)
        if not emails and not names:
            problem("names nobody: no ATTENDEE, no e-mail in DESCRIPTION, no name in SUMMARY")
            continue
        shifts.append(FeedShift(uid, line, starts_at, ends_at, emails, names, summary))
    if not shifts and not problems:
        problems.append(FeedProblem(0, None, "the file has no events"))
    return Feed(tuple(shifts), tuple(problems), skipped)


MAX_TZID = 200  # the longest IANA name is 32 characters; a file-system name ends near 255
_TZID = re.compile(r"TZID=(\"[^\"]*\"|[^;:\r\n]*)", re.IGNORECASE)


def _overlong_tzid(text: str) -> tuple[int, int] | None:
    """(line, length) of the first TZID parameter too long to be a zone name."""
    for number, line in enumerate(text.splitlines(), start=1):
        if "TZID=" not in line.upper():
            continue
        for match in _TZID.finditer(line):
            if len(match.group(1)) > MAX_TZID:
                return number, len(match.group(1).strip('"'))
    return None


def _shorter(text: str, most: int = 200) -> str:
    return text if len(text) <= most else text[:most] + "…"


def _value(event: Component, key: str) -> Any:
    """A property's decoded value (``.dt`` for times), None if absent."""
    prop = event.get(key)
    return None if prop is None else getattr(prop, "dt", None)


def _unknown_tzid(event: Component) -> str | None:
    """A TZID the library could not resolve leaves a naive time: refuse to guess its zone."""
    for key in ("dtstart", "dtend"):
        prop = event.get(key)
        tzid = getattr(prop, "params", {}).get("TZID") if prop is not None else None
        value = getattr(prop, "dt", None)
        if tzid and isinstance(value, datetime) and value.tzinfo is None:
            return str(tzid)
    return None


def _addresses(event: Component, key: str) -> list[vCalAddress]:
    value = event.get(key)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _who(event: Component, summary: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    emails: list[str] = []
    names: list[str] = []
    for key in ("attendee",):  # ORGANIZER is the publishing tool or the schedule's owner
        for address in _addresses(event, key):
            text = str(address)
            if text.lower().startswith("mailto:"):
                emails.append(text[7:].strip())
            cn = address.params.get("CN") if hasattr(address, "params") else None
            if cn:
                names.append(str(cn).strip())
    emails += _EMAIL.findall(str(event.get("description", "")))
    if summary:
        bare = _PREFIX.sub("", summary)
        bare = re.sub(r"\s*\((?:override|primary|secondary)\)\s*$", "", bare, flags=re.I)
        names.append(bare.strip())
        names += [part.strip() for part in re.split(r"\s+[-–|]\s+", bare) if part.strip()]
    return tuple(dict.fromkeys(e for e in emails if e)), tuple(dict.fromkeys(n for n in names if n))


@dataclass(frozen=True)
class MatchedShift:
    uid: str
    person_id: int
    starts_at: datetime
    ends_at: datetime
    summary: str


def match_people(
    feed: Feed, people: Sequence[Person]
) -> tuple[list[MatchedShift], list[FeedProblem]]:
    """Each shift's person by e-mail first, then by exact name (any case); unknowns reported."""
    by_email: dict[str, Person] = {}
    by_name: dict[str, list[Person]] = {}
    for person in people:
        if person.email:
            by_email[person.email.casefold()] = person
        by_name.setdefault(" ".join(person.name.split()).casefold(), []).append(person)
    matched: list[MatchedShift] = []
    problems: list[FeedProblem] = []
    for shift in feed.shifts:
        found: Person | None = None
        for email in shift.emails:
            found = by_email.get(email.casefold())
            if found:
                break
        ambiguous = ""
        if found is None:
            for name in shift.names:
                candidates = by_name.get(" ".join(name.split()).casefold(), [])
                if len(candidates) == 1:
                    found = candidates[0]
                    break
                if len(candidates) > 1:
                    ambiguous = name
        if found is None:
            if ambiguous:
                message = f'"{ambiguous}" names more than one person: give an e-mail'
            else:
                tried = ", ".join([*shift.emails, *shift.names[:1]])
                message = f"nobody in the directory matches {tried}"
            problems.append(FeedProblem(shift.line, shift.uid, message))
            continue
        matched.append(
            MatchedShift(shift.uid, found.id, shift.starts_at, shift.ends_at, shift.summary)
        )
    return matched, problems
