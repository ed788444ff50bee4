"""Far-future dates and huge numbers (issue 14, items 1 and 8): refused at the edge with the
bound in the message, and a bad row already in the database named in a warning, never a crash.

Every reproduction of the report is run as written; bad rows are put in with a plain
``sqlite3`` connection, as another tool (or an older version) would have left them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from mim_console.cli import main
from mim_console.config import Settings
from mim_console.data import rotations as repo
from mim_console.data.demo import seed_demo
from mim_console.domain.rotation import (
    EARLIEST,
    LATEST,
    MAX_SHIFT_LENGTH,
    Override,
    Rotation,
    ShiftUnit,
    parse_instant,
)
from mim_console.errors import OutOfRange, UserError
from mim_console.services.context import Context
from mim_console.services.duty import load_board
from tests.conftest import FROZEN_NOW

HELSINKI = "Europe/Helsinki"


@pytest.fixture
def demo_db(db_path: Path) -> Iterator[Path]:
    ctx = Context(settings=Settings(db_path=db_path), actor="tester")
    seed_demo(ctx.store, datetime.now(UTC))
    ctx.close()
    yield db_path


def run(db: Path, *args: str, stdin: str = "") -> Result:
    result = CliRunner().invoke(main, ["--db", str(db), *args], input=stdin)
    shown = result.output + (result.stderr if result.stderr_bytes else "")
    assert "Traceback" not in shown, (args, shown)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        repr(result.exception),
    )
    return result


def raw(db: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(sql, params)
    conn.close()


READERS = [
    ("declare", "-t", "Cards down", "--yes"),
    ("duty",),
    ("readiness",),
    ("callsheet",),
    ("rota", "shifts", "Duty managers"),
    ("rota", "handoffs", "Duty managers"),
    ("rota", "gaps", "Duty managers"),
    ("rota", "overrides", "Duty managers", "--all"),
    ("rota", "export", "Duty managers", "-"),
    ("rota", "list"),
    ("rota", "list", "--json"),
    ("duty", "--json"),
]


# --- refused at the edge ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            (
                "rota",
                "override",
                "add",
                "Duty managers",
                "1",
                "--from",
                "2026-12-01T00:00Z",
                "--to",
                "9999-12-31T00:00Z",
            ),
            "outside 1970-01-01 … 2200-01-01",
        ),
        (
            ("rota", "create", "Far", "--tz", HELSINKI, "--start", "9999-12-31", "--party", "2"),
            "--start (9999-12-31) is outside 1970-01-01 … 2200-01-01",
        ),
        (
            ("rota", "create", "Long", "--tz", HELSINKI, "--unit", "days", "--length", "3000000"),
            "--length must be 1..3650 days",
        ),
        (
            ("rota", "create", "Huge", "--tz", HELSINKI, "--length", "100000000000000000000"),
            "--length must be 1..520 weeks",
        ),
        (("outbox", "--limit", "100000000000000000000"), "--limit"),
        (("duty", "--at", "9999-12-31T23:59:59+14:00"), "outside 1970-01-01 … 2200-01-01"),
        (("duty", "--at", "0001-01-01"), "outside 1970-01-01 … 2200-01-01"),
        (
            ("rota", "export", "1", "-", "--from", "0001-01-01", "--to", "9999-12-31"),
            "outside 1970-01-01 … 2200-01-01",
        ),
        (("dispatch", "--lease-ttl", "nan"), "not a number from 0.5 to 300"),
        (("dispatch", "--lease-ttl", "inf"), "0.5<=x<=300"),
        (("watch", "MI-2026-001", "--interval", "nan", "--once"), "not a number from 0.1"),
        (("rota", "handoffs", "1", "--at", "2200-01-01T00:00Z"), "outside"),
        (("rota", "gaps", "1", "--at", "1969-12-31T23:59Z"), "outside"),
    ],
)
def test_reproductions_are_usage_errors_naming_the_bound(
    demo_db: Path, args: tuple[str, ...], said: str
) -> None:
    result = run(demo_db, *args)
    assert result.exit_code == 2, result.output + result.stderr
    assert said in result.stderr, result.stderr


def test_far_future_feed_is_refused_with_its_line(demo_db: Path, tmp_path: Path) -> None:
    feed = tmp_path / "far.ics"
    feed.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
        "BEGIN:VEVENT\r\nUID:ok-1\r\nDTSTART:20261201T080000Z\r\nDTEND:20261201T200000Z\r\n"
        "SUMMARY:On call: Aino Virtanen\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:far-2\r\nDTSTART:20261202T080000Z\r\nDTEND:99991231T235959Z\r\n"
        "SUMMARY:On call: Aino Virtanen\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        encoding="utf-8",
    )
    result = run(demo_db, "rota", "import", "Duty managers", str(feed))
    assert result.exit_code == 1
    assert "nothing was imported" in result.stderr
    assert "line 10 (UID far-2)" in result.stderr and "outside 1970-01-01" in result.stderr
    conn = sqlite3.connect(demo_db)
    assert not conn.execute("SELECT 1 FROM rotation_override WHERE source_uid = 'ok-1'").fetchall()
    conn.close()


def test_window_edges() -> None:
    zone = Rotation(
        1, "R", ShiftUnit.DAYS, 1, time(9), "UTC", date(2026, 1, 1)
    ).zone  # any zone will do
    assert parse_instant("1970-01-01T00:00Z", zone) == EARLIEST
    assert parse_instant("2199-12-31T23:59:59.999999Z", zone) < LATEST
    for text in (
        "2200-01-01T00:00Z",
        "1969-12-31T23:59:59Z",
        "10000-01-01",
        "0001-01-01T00:00+14:00",
    ):
        with pytest.raises(UserError):
            parse_instant(text, zone)
    with pytest.raises(OutOfRange, match=r"must be 1\.\.3650 days"):
        Rotation(1, "R", ShiftUnit.DAYS, 3651, time(9), "UTC", date(2026, 1, 1))
    with pytest.raises(OutOfRange, match="outside"):
        Override(1, 1, datetime(2026, 1, 1, tzinfo=UTC), datetime(2201, 1, 1, tzinfo=UTC))
    Override(1, 1, datetime(2199, 1, 1, tzinfo=UTC), LATEST)  # ending at the window's end


@settings(max_examples=60, deadline=None)
@given(
    unit=st.sampled_from(list(ShiftUnit)),
    data=st.data(),
    start=st.dates(EARLIEST.date(), LATEST.date() - timedelta(days=1)),
    at=st.datetimes(EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None) - timedelta(days=1)),
    zone=st.sampled_from(["UTC", HELSINKI, "Pacific/Apia", "Pacific/Kiritimati", "America/Adak"]),
)
def test_no_overflow_anywhere_in_the_window(
    unit: ShiftUnit, data: st.DataObject, start: date, at: datetime, zone: str
) -> None:
    """Any rule the console accepts, asked anything at any instant it accepts: an answer."""
    length = data.draw(st.integers(1, MAX_SHIFT_LENGTH[unit.value]))
    rotation = Rotation(
        1,
        "R",
        unit,
        length,
        time(9),
        zone,
        start,
        members=(1, 2),
        handoff_weekday=0 if unit == ShiftUnit.WEEKS else None,
        overrides=(Override(7, 3, LATEST - timedelta(days=3), LATEST),),
    )
    moment = at.replace(tzinfo=UTC)
    rotation.on_duty(moment)
    rotation.handoffs(moment, 3, within=timedelta(days=3 * 366))
    rotation.gaps(moment, {1})
    rotation.shifts(moment, min(moment + timedelta(days=20), LATEST))


# --- a bad row already in the database ------------------------------------------------------


BAD_ROWS = {
    "override to 9999": (
        "INSERT INTO rotation_override (rotation_id, person_id, starts_at, ends_at, reason) "
        "VALUES (1, 1, '2026-12-01T00:00:00+00:00', '9999-12-31T00:00:00+00:00', 'x')",
        "override 2 of rotation 1 is ignored",
    ),
    "override not a time": (
        "INSERT INTO rotation_override (rotation_id, person_id, starts_at, ends_at, reason) "
        "VALUES (1, 1, 'soon', 'tomorrow', 'x')",
        "override 2 of rotation 1 is ignored",
    ),
    "start 9999-12-31": (
        "UPDATE rotation SET start_date = '9999-12-31' WHERE id = 1",
        "rotation Duty managers (id 1) is broken: the start date (9999-12-31) is outside",
    ),
    "3,000,000 days": (
        "UPDATE rotation SET shift_unit = 'days', shift_length = 3000000 WHERE id = 1",
        "rotation Duty managers (id 1) is broken: shift length must be 1..3650 days",
    ),
    "length 2**62 hours": (
        "UPDATE rotation SET shift_unit = 'hours', shift_length = 4611686018427387904 WHERE id = 1",
        "rotation Duty managers (id 1) is broken: shift length must be 1..87600 hours",
    ),
    "zone and time garbage": (
        "UPDATE rotation SET timezone = 'Mars/Olympus', handoff_time = '25:99' WHERE id = 1",
        "rotation Duty managers (id 1) is broken",
    ),
}


@pytest.mark.parametrize("bad", sorted(BAD_ROWS))
def test_a_bad_stored_row_is_named_and_nothing_crashes(demo_db: Path, bad: str) -> None:
    sql, named = BAD_ROWS[bad]
    raw(demo_db, sql)
    for args in READERS:
        result = run(demo_db, *args)
        ok = (0, 1) if args[0] == "readiness" else (0,)  # readiness: exit 1 = "not ready"
        assert result.exit_code in ok and result.output.strip(), (args, result.stderr)
        if "--json" not in args and args[:2] != ("rota", "export"):
            said = " ".join((result.stderr + result.output).split())
            if args[:2] != ("rota", "list"):  # the list shows "broken: …" as the rule
                assert named in said, (args, said)
    # declaring worked: the response team was paged despite the broken rotation
    conn = sqlite3.connect(demo_db)
    assert conn.execute("SELECT count(*) FROM alert WHERE purpose = 'alert'").fetchone()[0] > 5


def test_broken_rotation_in_the_board_and_json(demo_db: Path) -> None:
    raw(demo_db, "UPDATE rotation SET start_date = '9999-12-31' WHERE id = 1")
    ctx = Context(settings=Settings(db_path=demo_db))
    board = load_board(ctx.store, datetime.now(UTC))
    assert board.duty_manager.person is None
    assert "broken" in board.duty_manager.note
    assert any("rotation Duty managers (id 1) is broken" in w for w in board.warnings)
    with ctx.store.read() as db:
        rotation = repo.find_rotation(db, "Duty managers")
    assert rotation.broken and rotation.describe().startswith("broken:")
    ctx.close()
    deleted = run(demo_db, "rota", "delete", "Duty managers", "--yes")
    assert deleted.exit_code == 0 and "deleted rotation Duty managers" in deleted.output


async def test_duty_screen_shows_a_broken_rotation(demo_db: Path) -> None:
    """The Duty screen used to say `_load failed: OverflowError`."""
    from mim_console.app import make_app

    raw(
        demo_db,
        "INSERT INTO rotation_override (rotation_id, person_id, starts_at, ends_at, reason) "
        "VALUES (1, 1, '2026-12-01T00:00:00+00:00', '9999-12-31T00:00:00+00:00', 'x')",
    )
    raw(demo_db, "UPDATE rotation SET shift_unit = 'days', shift_length = 3000000 WHERE id = 2")
    ctx = Context(settings=Settings(db_path=demo_db), clock=lambda: FROZEN_NOW)
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = " ".join(str(n.message) for n in app._notifications)
        assert "failed" not in shown and "Overflow" not in shown, shown
    ctx.close()


def test_the_override_form_refuses_times_outside_the_window() -> None:
    from mim_console.screens.override import parse_wall

    assert parse_wall("2026-03-02 09:00", HELSINKI, "from").year == 2026
    for text in ("9999-12-31 23:59", "0001-01-01 00:00", "2200-06-01 00:00"):
        with pytest.raises(OutOfRange, match="outside 1970-01-01"):
            parse_wall(text, "America/New_York", "until")
