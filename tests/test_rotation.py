"""Rotation arithmetic: DST rules pinned by examples, the rest by hypothesis properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mim_console.domain.rotation import (
    Override,
    Rotation,
    RotationRole,
    ShiftUnit,
    flatten_overrides,
    parse_handoff_time,
    parse_weekday,
    resolve_local,
)
from mim_console.errors import UserError

HEL = ZoneInfo("Europe/Helsinki")
NY = ZoneInfo("America/New_York")
ZONES = [
    "Europe/Helsinki",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Pacific/Apia",  # skipped a whole day in December 2011
    "America/St_Johns",  # half-hour offset with DST
    "Asia/Kolkata",
    "UTC",
    "Europe/Dublin",  # negative DST in tzdata
]


def rot(**kw: object) -> Rotation:
    base: dict[str, object] = dict(
        id=1,
        name="duty",
        shift_unit=ShiftUnit.DAYS,
        shift_length=1,
        handoff_time=time(9, 0),
        timezone="Europe/Helsinki",
        start_date=date(2026, 1, 5),
        members=(10, 20, 30),
    )
    base.update(kw)
    return Rotation(**base)  # type: ignore[arg-type]


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


def wall(y: int, m: int, d: int, hh: int, mm: int) -> datetime:
    """A naive local wall time."""
    return datetime.combine(date(y, m, d), time(hh, mm))


# -- examples: the DST rules ---------------------------------------------------------------


def test_weekly_monday_0900_helsinki_stays_at_0900_local_across_both_changes() -> None:
    r = rot(shift_unit=ShiftUnit.WEEKS, handoff_weekday=0, start_date=date(2026, 1, 1))
    assert r.anchor == wall(2026, 1, 5, 9, 0)  # the first Monday on or after the start
    for k in range(0, 60):
        local = r.boundary(k).astimezone(HEL)
        assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
    # Around the March change (Sunday 29 March 2026): 07:00 UTC before, 06:00 UTC after.
    march23 = utc(2026, 3, 23, 7, 0)
    march30 = utc(2026, 3, 30, 6, 0)
    assert march30 - march23 == timedelta(days=7, hours=-1)
    assert r.on_duty(march30 - timedelta(seconds=1)) != r.on_duty(march30)
    assert r.on_duty(march23) == r.on_duty(march30 - timedelta(seconds=1))
    # October (Sunday 25 October 2026): the week is an hour longer.
    assert r.piece_at(utc(2026, 10, 20, 12)).ends_at == utc(2026, 10, 26, 7, 0)


def test_daily_0230_new_york_on_the_night_that_skips_it_hands_over_when_clocks_jump() -> None:
    r = rot(timezone="America/New_York", handoff_time=time(2, 30), start_date=date(2026, 3, 1))
    # 8 March 2026: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist.
    jump = utc(2026, 3, 8, 7, 0)  # 03:00 EDT
    index = r.shift_index_at(jump)
    assert index is not None
    assert r.boundary(index) == jump
    assert r.boundary(index - 1) == utc(2026, 3, 7, 7, 30)  # 02:30 EST the day before
    assert r.boundary(index + 1) == utc(2026, 3, 9, 6, 30)  # 02:30 EDT the day after
    assert r.on_duty(jump - timedelta(seconds=1)) == r.member_for(index - 1)
    assert r.on_duty(jump) == r.member_for(index)


def test_daily_0130_new_york_on_the_night_that_repeats_it_hands_over_at_the_first() -> None:
    r = rot(timezone="America/New_York", handoff_time=time(1, 30), start_date=date(2026, 10, 1))
    # 1 November 2026: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    first = utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    second = utc(2026, 11, 1, 6, 30)  # 01:30 EST
    index = r.shift_index_at(first)
    assert index is not None and r.boundary(index) == first
    assert r.shift_index_at(second) == index  # the repeated hour belongs to the new shift
    assert r.boundary(index + 1) == utc(2026, 11, 2, 6, 30)  # a 25-hour shift


def test_helsinki_0330_skipped_and_repeated() -> None:
    r = rot(handoff_time=time(3, 30), start_date=date(2026, 3, 1))
    # 29 March 2026: 03:00 EET jumps to 04:00 EEST; the handoff is at 04:00 EEST = 01:00 UTC.
    assert resolve_local(wall(2026, 3, 29, 3, 30), HEL) == utc(2026, 3, 29, 1, 0)
    assert utc(2026, 3, 29, 1, 0) in {r.boundary(k) for k in range(40)}
    # 25 October 2026: 04:00 EEST falls back to 03:00 EET; first 03:30 is 00:30 UTC.
    assert resolve_local(wall(2026, 10, 25, 3, 30), HEL) == utc(2026, 10, 25, 0, 30)


def test_days_are_calendar_days_not_24_hour_blocks() -> None:
    r = rot(shift_length=2, handoff_time=time(8, 0), start_date=date(2026, 3, 27))
    assert r.boundary(0) == utc(2026, 3, 27, 6, 0)  # 08:00 EET
    assert r.boundary(1) == utc(2026, 3, 29, 5, 0)  # 08:00 EEST: 47 hours later
    assert r.boundary(1).astimezone(HEL).hour == 8


def test_hour_shifts_follow_the_wall_clock() -> None:
    r = rot(shift_unit=ShiftUnit.HOURS, shift_length=12, handoff_time=time(8, 0))
    hours = {r.boundary(k).astimezone(HEL).hour for k in range(0, 800)}
    assert hours == {8, 20}


def test_a_skipped_day_moves_the_daily_handoff_to_the_jump() -> None:
    # Samoa skipped 30 December 2011: 23:59:59 on the 29th (UTC-10) was followed by 00:00 on
    # the 31st (UTC+14), at 10:00 UTC on the 30th.
    r = rot(timezone="Pacific/Apia", handoff_time=time(12, 0), start_date=date(2011, 12, 25))
    index = next(k for k in range(20) if r.handoff_wall(k).date() == date(2011, 12, 30))
    assert r.boundary(index) == utc(2011, 12, 30, 10, 0)
    assert r.boundary(index + 1) == utc(2011, 12, 30, 22, 0)  # 12:00 on the 31st, UTC+14


def test_handoffs_inside_one_skipped_stretch_give_empty_shifts_never_on_duty() -> None:
    r = rot(
        timezone="Pacific/Apia",
        shift_unit=ShiftUnit.HOURS,
        handoff_time=time(0, 0),
        start_date=date(2011, 12, 29),
    )
    jump = utc(2011, 12, 30, 10, 0)
    empty = [k for k in range(24, 48) if r.boundary(k) == r.boundary(k + 1)]
    assert len(empty) == 24 and all(r.boundary(k) == jump for k in empty)
    window = r.pieces(jump - timedelta(hours=2), jump + timedelta(hours=2))
    assert not set(empty) & {p.shift_index for p in window}
    assert sum((p.ends_at - p.starts_at for p in window), timedelta()) == timedelta(hours=4)


def test_before_the_start_nobody_is_on_duty() -> None:
    r = rot()
    assert r.on_duty(r.starts_at - timedelta(seconds=1)) is None
    assert r.on_duty(r.starts_at) == 10
    gaps = r.gaps(r.starts_at - timedelta(days=1), active={10, 20, 30})
    assert [(g.starts_at, g.ends_at) for g in gaps] == [
        (r.starts_at - timedelta(days=1), r.starts_at)
    ]


def test_inactive_members_slots_are_gaps() -> None:
    r = rot()
    gaps = r.gaps(r.starts_at, active={10, 30}, horizon=timedelta(days=6))
    assert [(g.person_id, g.starts_at) for g in gaps] == [
        (20, r.boundary(1)),
        (20, r.boundary(4)),
    ]
    assert all(g.ends_at - g.starts_at == timedelta(days=1) for g in gaps)


def test_an_override_covers_an_inactive_persons_slot() -> None:
    r = rot(overrides=(Override(1, 30, rot().boundary(1), rot().boundary(2)),))
    gaps = r.gaps(r.starts_at, active={10, 30}, horizon=timedelta(days=3))
    assert gaps == []


def test_next_handoffs_include_overrides() -> None:
    base = rot()
    cover = Override(
        7, 99, base.boundary(0) + timedelta(hours=3), base.boundary(0) + timedelta(hours=5)
    )
    r = rot(overrides=(cover,))
    got = r.handoffs(base.boundary(0), 3)
    assert [(h.at, h.from_person, h.to_person) for h in got] == [
        (cover.starts_at, 10, 99),
        (cover.ends_at, 99, 10),
        (base.boundary(1), 10, 20),
    ]


def test_shifts_list_base_shifts_and_overrides() -> None:
    base = rot()
    cover = Override(
        7, 99, base.boundary(1) + timedelta(hours=3), base.boundary(1) + timedelta(hours=5)
    )
    r = rot(overrides=(cover,))
    shown = r.shifts(base.boundary(0), base.boundary(2))
    assert [(p.person_id, p.override_id) for p in shown] == [
        (10, None),
        (20, None),
        (99, 7),
        (20, None),
    ]


def test_parsers_name_the_bad_value() -> None:
    assert parse_handoff_time("09:30") == time(9, 30)
    assert parse_weekday("Mon") == 0 and parse_weekday("sunday") == 6 and parse_weekday("2") == 2
    with pytest.raises(UserError, match='"9.30"'):
        parse_handoff_time("9.30")
    with pytest.raises(UserError, match='"25:00"'):
        parse_handoff_time("25:00")
    with pytest.raises(UserError, match='"funday"'):
        parse_weekday("funday")
    with pytest.raises(UserError, match="Mars/Olympus"):
        rot(timezone="Mars/Olympus")
    with pytest.raises(UserError, match="ends"):
        Override(1, 1, utc(2026, 1, 2), utc(2026, 1, 1))


# -- properties -----------------------------------------------------------------------------

rotations = st.builds(
    lambda zone, unit, length, hh, mm, start, n, weekday: rot(
        timezone=zone,
        shift_unit=unit,
        shift_length=length,
        handoff_time=time(hh, mm),
        start_date=start,
        members=tuple(range(100, 100 + n)),
        handoff_weekday=weekday if unit == ShiftUnit.WEEKS else None,
    ),
    st.sampled_from(ZONES),
    st.sampled_from(list(ShiftUnit)),
    st.integers(1, 4),
    st.integers(0, 23),
    st.sampled_from([0, 15, 30, 45]),
    st.dates(date(2010, 1, 1), date(2035, 1, 1)),
    st.integers(1, 5),
    st.integers(0, 6),
)
offsets = st.integers(0, 3 * 366 * 24 * 3600)  # seconds after the rotation's start
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    return (
        wall.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        == wall
    )


@PROPS
@given(rotations, offsets)
def test_exactly_one_member_on_duty_at_every_instant(r: Rotation, offset: int) -> None:
    at = r.starts_at + timedelta(seconds=offset)
    piece = r.piece_at(at)
    assert piece.starts_at <= at < piece.ends_at
    index = r.shift_index_at(at)
    assert index is not None
    assert r.boundary(index) <= at < r.boundary(index + 1)
    assert piece.person_id == r.members[index % len(r.members)]


@PROPS
@given(rotations, offsets, st.integers(1, 10 * 24 * 3600))
def test_pieces_tile_a_window_without_gap_or_overlap(r: Rotation, offset: int, span: int) -> None:
    start = r.starts_at + timedelta(seconds=offset)
    end = start + timedelta(seconds=span)
    pieces = r.pieces(start, end)
    assert pieces[0].starts_at == start and pieces[-1].ends_at == end
    for left, right in zip(pieces, pieces[1:], strict=False):
        assert left.ends_at == right.starts_at
        assert left.starts_at < left.ends_at
    for piece in pieces:
        assert piece.person_id is not None
        assert r.on_duty(piece.starts_at) == piece.person_id


@PROPS
@given(rotations, st.integers(0, 200))
def test_handoffs_fall_on_the_local_wall_clock_time(r: Rotation, k: int) -> None:
    wall = r.handoff_wall(k)
    instant = r.boundary(k)
    local = instant.astimezone(r.zone).replace(tzinfo=None)
    if _exists(wall, r.zone):
        assert local == wall  # and it is the first occurrence:
        earlier = [
            instant - timedelta(minutes=m)
            for m in (30, 60, 90, 120)
            if (instant - timedelta(minutes=m)).astimezone(r.zone).replace(tzinfo=None) == wall
        ]
        assert earlier == []
    else:
        # Skipped: the first instant whose wall time is past it (the clock's jump).
        assert local > wall
        before = (instant - timedelta(seconds=1)).astimezone(r.zone).replace(tzinfo=None)
        assert before < wall
    if r.shift_unit != ShiftUnit.HOURS and _exists(wall, r.zone):
        assert local.time() == r.handoff_time
        if r.shift_unit == ShiftUnit.WEEKS:
            assert local.weekday() == r.handoff_weekday
    assert r.boundary(k + 1) >= instant


overrides_st = st.lists(
    st.tuples(st.integers(0, 60 * 24 * 3600), st.integers(60, 10 * 24 * 3600), st.integers(1, 3)),
    max_size=12,
)


@PROPS
@given(rotations, overrides_st, st.integers(0, 75 * 24 * 3600))
def test_overrides_win_inside_their_range_and_nowhere_else(
    r: Rotation, raw: list[tuple[int, int, int]], offset: int
) -> None:
    start = r.starts_at
    overrides = tuple(
        Override(
            id=i + 1,
            person_id=900 + who,
            starts_at=start + timedelta(seconds=s),
            ends_at=start + timedelta(seconds=s + length),
        )
        for i, (s, length, who) in enumerate(raw)
    )
    with_overrides = rot(**{**_fields(r), "overrides": overrides})
    at = start + timedelta(seconds=offset)
    covering = [o for o in overrides if o.starts_at <= at < o.ends_at]
    if covering:
        newest = max(covering, key=lambda o: o.id)
        assert with_overrides.on_duty(at) == newest.person_id
    else:
        assert with_overrides.on_duty(at) == r.on_duty(at)
    piece = with_overrides.piece_at(at)
    assert piece.starts_at <= at < piece.ends_at
    # The piece is uniform: its last second has the same holder.
    assert with_overrides.on_duty(piece.ends_at - timedelta(seconds=1)) == piece.person_id


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


@PROPS
@given(overrides_st)
def test_flattened_overrides_are_disjoint_and_sorted(raw: list[tuple[int, int, int]]) -> None:
    t0 = utc(2026, 1, 1)
    overrides = [
        Override(i + 1, who, t0 + timedelta(seconds=s), t0 + timedelta(seconds=s + n))
        for i, (s, n, who) in enumerate(raw)
    ]
    segments = flatten_overrides(overrides)
    for start, end, _ in segments:
        assert start < end
    for left, right in zip(segments, segments[1:], strict=False):
        assert left[1] <= right[0]
    covered = sum(((e - s) for s, e, _ in segments), timedelta())
    assert covered <= sum(((o.ends_at - o.starts_at) for o in overrides), timedelta())


def test_party_rotation_must_name_its_party() -> None:
    with pytest.raises(UserError, match="party"):
        rot(role=RotationRole.PARTY)
    assert rot(role=RotationRole.PARTY, party_id=3).party_id == 3


@PROPS
@given(rotations, overrides_st, st.integers(0, 60 * 24 * 3600), st.integers(1, 6))
def test_next_handoffs_are_real_changes_in_order(
    r: Rotation, raw: list[tuple[int, int, int]], offset: int, count: int
) -> None:
    start = r.starts_at
    overrides = tuple(
        Override(i + 1, 900 + who, start + timedelta(seconds=s), start + timedelta(seconds=s + n))
        for i, (s, n, who) in enumerate(raw)
    )
    rotation = rot(**{**_fields(r), "overrides": overrides})
    at = start + timedelta(seconds=offset)
    handoffs = rotation.handoffs(at, count, within=timedelta(days=120))
    previous = at
    holder = rotation.on_duty(at)
    for handoff in handoffs:
        assert handoff.at > previous
        assert handoff.from_person == holder != handoff.to_person
        assert rotation.on_duty(handoff.at - timedelta(microseconds=1)) == handoff.from_person
        assert rotation.on_duty(handoff.at) == handoff.to_person
        previous, holder = handoff.at, handoff.to_person


@PROPS
@given(rotations, st.integers(0, 400 * 24 * 3600), st.sets(st.integers(100, 104)))
def test_gaps_are_exactly_where_nobody_active_is_on_duty(
    r: Rotation, offset: int, active: set[int]
) -> None:
    at = r.starts_at + timedelta(seconds=offset)
    horizon = timedelta(days=10)
    gaps = r.gaps(at, active, horizon)
    for gap in gaps:
        assert at <= gap.starts_at < gap.ends_at <= at + horizon
        assert r.on_duty(gap.starts_at) not in active
        assert r.on_duty(gap.ends_at - timedelta(microseconds=1)) not in active
    for piece in r.pieces(at, at + horizon):
        inside = any(g.starts_at <= piece.starts_at < g.ends_at for g in gaps)
        assert inside == (piece.person_id not in active)


def _transitions(zone: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """(instant, offset before, offset after) of each UTC-offset change in ``year``."""
    found = []
    day = datetime(year, 1, 1, 12, tzinfo=UTC)
    while day.year == year:
        nxt = day + timedelta(days=1)
        before, after = day.astimezone(zone).utcoffset(), nxt.astimezone(zone).utcoffset()
        assert before is not None and after is not None
        if before != after:
            lo, hi = 0, 86400
            while lo < hi:
                mid = (lo + hi) // 2
                if (day + timedelta(seconds=mid)).astimezone(zone).utcoffset() == after:
                    hi = mid
                else:
                    lo = mid + 1
            found.append((day + timedelta(seconds=lo), before, after))
        day = nxt
    return found


@pytest.mark.parametrize(
    "zone_name",
    ["Europe/Helsinki", "America/New_York", "Australia/Lord_Howe", "Europe/Dublin",
     "America/St_Johns", "America/Santiago"],
)  # fmt: skip
def test_a_daily_handoff_inside_every_skipped_or_repeated_hour_follows_the_rule(
    zone_name: str,
) -> None:
    zone = ZoneInfo(zone_name)
    checked = 0
    for year in range(2024, 2028):
        for instant, before, after in _transitions(zone, year):
            if after > before:  # skipped wall times: [instant+before, instant+after)
                wall = (instant + before).replace(tzinfo=None) + (after - before) / 2
                expected = instant  # the moment the clock jumps
            else:  # repeated wall times: [instant+after, instant+before)
                wall = (instant + after).replace(tzinfo=None) + (before - after) / 2
                expected = (wall - before).replace(tzinfo=UTC)  # the first occurrence
            r = rot(
                timezone=zone_name,
                handoff_time=wall.time(),
                start_date=wall.date() - timedelta(days=3),
            )
            assert r.boundary(3) == expected, (zone_name, instant)
            assert r.boundary(2) < r.boundary(3) < r.boundary(4)
            assert r.on_duty(expected - timedelta(seconds=1)) == r.member_for(2)
            assert r.on_duty(expected) == r.member_for(3)
            checked += 1
    assert checked >= 8  # two changes a year in each of these zones
