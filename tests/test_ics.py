"""iCalendar: export parses back with the library, feeds import by e-mail or name, or not at all."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from mim_console.data.ics import export_rotation, match_people, parse_feed, shift_uid
from mim_console.domain.people import Person
from mim_console.domain.rotation import Override, Rotation, ShiftUnit

HEL = ZoneInfo("Europe/Helsinki")
STAMP = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PEOPLE = {
    1: Person(1, "Aino Virtanen", "+358401111111", email="aino@example.org"),
    2: Person(2, "[bold red]Eve[/]", "+358402222222", email="eve@example.org"),
    3: Person(3, "Bob Smith", "+358403333333"),
}


def rotation(**kw: object) -> Rotation:
    base: dict[str, object] = dict(
        id=7,
        name="Duty managers",
        shift_unit=ShiftUnit.WEEKS,
        shift_length=1,
        handoff_time=time(9, 0),
        handoff_weekday=0,
        timezone="Europe/Helsinki",
        start_date=date(2026, 3, 2),
        members=(1, 2, 3),
    )
    base.update(kw)
    return Rotation(**base)  # type: ignore[arg-type]


def test_export_parses_back_one_event_per_shift_with_stable_uids() -> None:
    r = rotation(
        overrides=(
            Override(
                5, 3, datetime(2026, 3, 10, 8, tzinfo=UTC), datetime(2026, 3, 10, 20, tzinfo=UTC)
            ),
        )
    )
    start, end = r.starts_at, r.boundary(6)
    shifts = r.shifts(start, end)
    data = export_rotation(r, shifts, PEOPLE, STAMP)
    cal = Calendar.from_ical(data)
    events = cal.events
    assert len(events) == len(shifts) == 6 + 2  # one override splits week 2 in three
    assert [e.start for e in events] == [p.starts_at for p in shifts]
    assert [e.end for e in events] == [p.ends_at for p in shifts]
    uids = [str(e["uid"]) for e in events]
    assert len(set(uids)) == len(uids)
    assert uids[0] == shift_uid(7, r.starts_at)
    assert str(cal["x-wr-timezone"]) == "Europe/Helsinki"
    # 30 March 2026 09:00 is summer time in Helsinki (06:00 UTC): the handoff stayed at 09:00.
    assert any(e.start == datetime(2026, 3, 30, 6, 0, tzinfo=UTC) for e in events)
    summaries = [str(e["summary"]) for e in events]
    assert summaries[0] == "On call: Aino Virtanen"
    assert "On call: [bold red]Eve[/]" in summaries
    assert "On call: Bob Smith (override)" in summaries
    assert str(events[0]["attendee"]) == "mailto:aino@example.org"
    # Exporting again gives the same UIDs: subscribed calendars update, never duplicate.
    again = Calendar.from_ical(export_rotation(r, shifts, PEOPLE, STAMP + timedelta(days=1)))
    assert [str(e["uid"]) for e in again.walk("VEVENT")] == uids


FEED = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//PagerDuty Inc.//On-Call Schedule//EN\r
BEGIN:VEVENT\r
UID:Q1ABC-20260309\r
DTSTART:20260309T070000Z\r
DTEND:20260316T070000Z\r
SUMMARY:On Call - Aino V. - MIM Duty\r
ATTENDEE;CN=Aino V.:mailto:AINO@example.org\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:grafana-2\r
DTSTART;TZID=Europe/Helsinki:20260316T090000\r
DTEND;TZID=Europe/Helsinki:20260323T090000\r
SUMMARY:On call: bob  smith\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:opsgenie-3\r
DTSTART;VALUE=DATE:20260323\r
DTEND;VALUE=DATE:20260324\r
SUMMARY:Primary on-call\r
DESCRIPTION:Contact: eve@example.org\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:cancelled-4\r
STATUS:CANCELLED\r
DTSTART:20260324T070000Z\r
DTEND:20260325T070000Z\r
SUMMARY:On call: Nobody Known\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_feed_of_an_on_call_tool_matches_people_by_email_or_name() -> None:
    feed = parse_feed(FEED, HEL)
    assert feed.problems == ()
    assert feed.skipped == 1
    matched, problems = match_people(feed, list(PEOPLE.values()))
    assert problems == []
    assert [(m.uid, m.person_id) for m in matched] == [
        ("Q1ABC-20260309", 1),
        ("grafana-2", 3),
        ("opsgenie-3", 2),
    ]
    assert matched[1].starts_at == datetime(2026, 3, 16, 7, 0, tzinfo=UTC)
    # An all-day event is local midnight to midnight in the rotation's zone.
    assert matched[2].starts_at == datetime(2026, 3, 22, 22, 0, tzinfo=UTC)
    assert matched[2].ends_at - matched[2].starts_at == timedelta(days=1)


def test_unknown_people_and_bad_events_are_reported_by_line_and_uid() -> None:
    feed_text = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\n"
        "BEGIN:VEVENT\nUID:ok-1\nDTSTART:20260309T070000Z\nDTEND:20260310T070000Z\n"
        "SUMMARY:On call: Aino Virtanen\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:bad-time\nDTSTART:2026XX09T070000Z\nDTEND:20260310T070000Z\n"
        "SUMMARY:On call: Aino Virtanen\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:backwards\nDTSTART:20260310T070000Z\nDTEND:20260309T070000Z\n"
        "SUMMARY:On call: Aino Virtanen\nEND:VEVENT\n"
        "BEGIN:VEVENT\nDTSTART:20260310T070000Z\nDTEND:20260311T070000Z\n"
        "SUMMARY:On call: Aino Virtanen\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:stranger\nDTSTART:20260311T070000Z\nDTEND:20260312T070000Z\n"
        "SUMMARY:On call: Zed Unknown\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:weekly\nDTSTART:20260311T070000Z\nDTEND:20260312T070000Z\n"
        "RRULE:FREQ=WEEKLY\nSUMMARY:On call: Bob Smith\nEND:VEVENT\n"
        "END:VCALENDAR\n"
    )
    feed = parse_feed(feed_text.encode(), HEL)
    messages = [str(p) for p in feed.problems]
    assert messages[0].startswith("line 10 (UID bad-time): DTSTART")
    assert messages[1].startswith("line 16 (UID backwards): it ends")
    assert messages[2].startswith("line 22: the event has no UID")
    assert messages[3].startswith("line 33 (UID weekly): repeating events")
    assert len(messages) == 4
    matched, unknown = match_people(feed, list(PEOPLE.values()))
    assert [m.uid for m in matched] == ["ok-1"]
    assert [str(p) for p in unknown] == [
        "line 27 (UID stranger): nobody in the directory matches Zed Unknown"
    ]


def test_a_file_that_is_not_icalendar_is_one_problem_with_its_line() -> None:
    feed = parse_feed(b"BEGIN:VCALENDAR\nVERSION:2.0\nthis is not a content line\n", HEL)
    assert len(feed.problems) == 1 and feed.shifts == ()
    assert str(feed.problems[0]).startswith("line 3: the file is not valid iCalendar")
    empty = parse_feed(b"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nEND:VCALENDAR\n", HEL)
    assert [str(p) for p in empty.problems] == ["the file has no events"]
    assert [str(p) for p in parse_feed(b" \n", HEL).problems] == ["the file is empty"]
    latin1 = "BEGIN:VCALENDAR\nVERSION:2.0\nSUMMARY:\xc4ino\n".encode("latin-1")
    assert [str(p) for p in parse_feed(latin1, HEL).problems] == [
        "line 3: the file is not UTF-8 text (RFC 5545 requires it)"
    ]


def _one_event(*lines: str) -> bytes:
    body = "\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x", "BEGIN:VEVENT", *lines])
    return (body + "\nEND:VEVENT\nEND:VCALENDAR\n").encode()


def test_times_without_a_known_zone_are_refused_not_guessed() -> None:
    unknown = parse_feed(
        _one_event(
            "UID:u",
            "DTSTART;TZID=Nowhere/Land:20260310T090000",
            "DTEND;TZID=Nowhere/Land:20260311T090000",
            "SUMMARY:On call: Bob Smith",
        ),
        HEL,
    )
    assert [str(p) for p in unknown.problems] == [
        'line 4 (UID u): time zone "Nowhere/Land" is neither an IANA name nor defined in the file'
    ]
    floating = parse_feed(
        _one_event(
            "UID:f", "DTSTART:20260310T090000", "DURATION:PT12H", "SUMMARY:On call: Bob Smith"
        ),
        HEL,
    )
    assert floating.problems == ()
    assert floating.shifts[0].starts_at == datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # 09:00 EET
    assert floating.shifts[0].ends_at == datetime(2026, 3, 10, 19, 0, tzinfo=UTC)
    no_end = parse_feed(_one_event("UID:n", "DTSTART:20260310T090000Z", "SUMMARY:x"), HEL)
    assert [p.message for p in no_end.problems] == ["the event has neither DTEND nor DURATION"]


def test_a_name_shared_by_two_people_asks_for_an_email() -> None:
    twins = [Person(1, "Sam Lee", "+3584011"), Person(2, "Sam Lee", "+3584022")]
    feed = parse_feed(
        b"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\nUID:u\n"
        b"DTSTART:20260310T070000Z\nDTEND:20260311T070000Z\nSUMMARY:On call: Sam Lee\n"
        b"END:VEVENT\nEND:VCALENDAR\n",
        HEL,
    )
    matched, problems = match_people(feed, twins)
    assert matched == [] and "more than one person" in str(problems[0])


ZONES = ["Europe/Helsinki", "America/New_York", "Australia/Lord_Howe", "UTC"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(ZONES),
    st.sampled_from(list(ShiftUnit)),
    st.integers(1, 3),
    st.integers(0, 23),
    st.dates(date(2024, 1, 1), date(2030, 1, 1)),
    st.lists(
        st.tuples(
            st.integers(0, 20 * 24 * 3600), st.integers(60, 5 * 24 * 3600), st.integers(1, 3)
        ),
        max_size=5,
    ),
    st.lists(st.integers(0, 8 * 24 * 3600 - 1), min_size=1, max_size=20),
)
def test_export_then_import_reproduces_who_is_on_duty(
    zone: str,
    unit: ShiftUnit,
    length: int,
    hour: int,
    start: date,
    raw: list[tuple[int, int, int]],
    probes: list[int],
) -> None:
    base = rotation(
        timezone=zone,
        shift_unit=unit,
        shift_length=length,
        handoff_time=time(hour, 0),
        start_date=start,
        handoff_weekday=3 if unit == ShiftUnit.WEEKS else None,
    )
    t0 = base.starts_at
    overrides = tuple(
        Override(i + 1, who, t0 + timedelta(seconds=s), t0 + timedelta(seconds=s + n))
        for i, (s, n, who) in enumerate(raw)
    )
    original = rotation(**{**_fields(base), "overrides": overrides})
    window_end = t0 + timedelta(days=8)
    data = export_rotation(original, original.shifts(t0, window_end), PEOPLE, STAMP)
    feed = parse_feed(data, ZoneInfo(zone))
    matched, problems = match_people(feed, list(PEOPLE.values()))
    assert feed.problems == () and problems == []
    imported = rotation(
        **{
            **_fields(base),
            "members": (),
            "overrides": tuple(
                Override(i + 1, m.person_id, m.starts_at, m.ends_at) for i, m in enumerate(matched)
            ),
        }
    )
    for probe in probes:
        at = t0 + timedelta(seconds=probe)
        assert imported.on_duty(at) == original.on_duty(at)


def _fields(r: Rotation) -> dict[str, object]:
    return dict(
        id=r.id,
        name=r.name,
        shift_unit=r.shift_unit,
        shift_length=r.shift_length,
        handoff_time=r.handoff_time,
        timezone=r.timezone,
        start_date=r.start_date,
        members=r.members,
        handoff_weekday=r.handoff_weekday,
    )
