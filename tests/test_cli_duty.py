"""`mim-console duty` and `rota …` through click's CliRunner on a real SQLite file.

The organisation: a weekly Monday 09:00 Europe/Helsinki duty-manager rotation (Aino, Eve, Bob
from Monday 2 March 2026), Security's seat on a daily 02:30 America/New_York rotation (Bob,
Carol from 1 March 2026), and IT Operations with a fixed order (Dan, who is inactive, then Eve,
then Frank).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from icalendar import Calendar

from mim_console.cli import main
from mim_console.data.directory import Directory
from mim_console.data.store import Store


@pytest.fixture
def org(db_path: Path) -> Iterator[dict[str, int]]:
    store = Store(db_path)
    d = Directory(store)
    ids = {
        "aino": d.add_person("Aino Virtanen", "+358401111111", email="aino@example.org").id,
        "eve": d.add_person("[bold red]Eve[/]", "+358402222222", email="eve@example.org").id,
        "bob": d.add_person("Bob Smith", "+12125550101", email="bob@example.com").id,
        "carol": d.add_person("Carol Jones", "+12125550102", email="carol@example.com").id,
        "dan": d.add_person("Dan Inactive", "+358403333333", active=False).id,
        "frank": d.add_person("Frank Ocean", "+358404444444").id,
    }
    ids["itops"] = d.add_party("IT Operations").id
    d.set_representatives(ids["itops"], [ids["dan"], ids["eve"], ids["frank"]])
    ids["security"] = d.add_party("Security").id
    ids["vendors"] = d.add_party("Vendors").id
    store.close()
    yield ids


def run(db_path: Path, *args: str, ok: bool = True) -> Result:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        main, ["--db", str(db_path), *args], catch_exceptions=False
    )
    if ok:
        assert result.exit_code == 0, result.output
    return result


def as_json(db_path: Path, *args: str) -> Any:
    return json.loads(run(db_path, *args, "--json").stdout)


@pytest.fixture
def rotas(db_path: Path, org: dict[str, int]) -> dict[str, int]:
    run(
        db_path, "rota", "create", "Duty managers", "--unit", "weeks", "--weekday", "monday",
        "--handoff", "09:00", "--tz", "Europe/Helsinki", "--start", "2026-03-02",
        "--member", "aino@example.org", "--member", "eve@example.org", "--member", "Bob Smith",
    )  # fmt: skip
    run(
        db_path, "rota", "create", "Security seat", "--party", "Security", "--unit", "days",
        "--handoff", "02:30", "--tz", "America/New_York", "--start", "2026-03-01",
        "--member", "Bob Smith", "--member", "carol@example.com",
    )  # fmt: skip
    return org


def who(board: Any) -> str | None:
    person = board["duty_manager"]["person"]
    return None if person is None else person["name"]


def seat(board: Any, party: str) -> dict[str, Any]:
    return next(s for s in board["seats"] if s["party"]["name"] == party)


# --- Done when: right people just before and after a DST change and a handoff ----------------


def test_helsinki_weekly_handoff_after_the_march_change(db_path: Path, rotas: Any) -> None:
    # Clocks went forward on Sunday 29 March (03:00 EET → 04:00 EEST, at 01:00 UTC).
    before_dst = as_json(db_path, "duty", "--at", "2026-03-29T00:59:59Z")
    after_dst = as_json(db_path, "duty", "--at", "2026-03-29T01:00:00Z")
    assert who(before_dst) == who(after_dst) == "Aino Virtanen"  # no handoff at a DST change
    # The Monday 09:00 handoff is 06:00 UTC now (it was 07:00 UTC before the change).
    before = as_json(db_path, "duty", "--at", "2026-03-30T05:59:59Z")
    after = as_json(db_path, "duty", "--at", "2026-03-30T06:00:00Z")
    assert who(before) == "Aino Virtanen"
    assert before["duty_manager"]["until"] == "2026-03-30T06:00:00+00:00"
    assert before["next_duty_manager"]["person"]["name"] == "[bold red]Eve[/]"
    assert before["duty_manager"]["deputy"]["name"] == "[bold red]Eve[/]"
    assert who(after) == "[bold red]Eve[/]"
    assert after["duty_manager"]["since"] == "2026-03-30T06:00:00+00:00"
    assert after["duty_manager"]["until"] == "2026-04-06T06:00:00+00:00"
    assert after["next_duty_manager"]["person"]["name"] == "Bob Smith"
    # A local time is read in the duty rotation's zone.
    assert who(as_json(db_path, "duty", "--at", "2026-03-30T08:59")) == "Aino Virtanen"
    assert who(as_json(db_path, "duty", "--at", "2026-03-30T09:00")) == "[bold red]Eve[/]"


def test_helsinki_weekly_handoff_after_the_october_change(db_path: Path, rotas: Any) -> None:
    # 25 October 2026 04:00 EEST → 03:00 EET; Monday the 26th 09:00 EET is 07:00 UTC.
    before = as_json(db_path, "duty", "--at", "2026-10-26T06:59:59Z")
    after = as_json(db_path, "duty", "--at", "2026-10-26T07:00:00Z")
    assert who(before) != who(after)
    assert before["duty_manager"]["until"] == "2026-10-26T07:00:00+00:00"
    assert after["duty_manager"]["since"] == "2026-10-26T07:00:00+00:00"


def test_new_york_daily_0230_handoff_on_the_night_that_skips_it(db_path: Path, rotas: Any) -> None:
    # 8 March 2026: 02:00 EST → 03:00 EDT; 02:30 does not exist, the handoff is at 03:00 EDT.
    before = seat(as_json(db_path, "duty", "--at", "2026-03-08T06:59:59Z"), "Security")
    after = seat(as_json(db_path, "duty", "--at", "2026-03-08T07:00:00Z"), "Security")
    assert before["representative"]["name"] == "Bob Smith"
    assert before["deputy"]["name"] == "Carol Jones"
    assert before["until"] == "2026-03-08T07:00:00+00:00"
    assert before["source"] == "rotation" and before["rotation"] == "Security seat"
    assert after["representative"]["name"] == "Carol Jones"
    assert after["deputy"]["name"] == "Bob Smith"
    assert after["until"] == "2026-03-09T06:30:00+00:00"  # 02:30 EDT the next day


def test_new_york_daily_handoff_after_the_november_change(db_path: Path, rotas: Any) -> None:
    # 1 November 2026: 02:00 EDT → 01:00 EST; the 02:30 handoff is 07:30 UTC (a 25-hour shift).
    before = seat(as_json(db_path, "duty", "--at", "2026-11-01T07:29:59Z"), "Security")
    after = seat(as_json(db_path, "duty", "--at", "2026-11-01T07:30:00Z"), "Security")
    assert before["representative"]["name"] == "Bob Smith"
    assert before["until"] == "2026-11-01T07:30:00+00:00"
    assert after["representative"]["name"] == "Carol Jones"


def test_fixed_seat_skips_inactive_people_and_parties_without_anyone(
    db_path: Path, rotas: Any
) -> None:
    board = as_json(db_path, "duty", "--at", "2026-03-10T12:00:00Z")
    itops = seat(board, "IT Operations")
    assert itops["source"] == "fixed" and itops["rotation"] is None
    assert itops["representative"]["name"] == "[bold red]Eve[/]"
    assert itops["deputy"]["name"] == "Frank Ocean"
    vendors = seat(board, "Vendors")
    assert vendors["representative"] is None
    assert any(w.startswith("Vendors:") for w in board["warnings"])


def test_text_output_shows_names_literally_with_local_times(db_path: Path, rotas: Any) -> None:
    out = " ".join(run(db_path, "duty", "--at", "2026-03-30T06:00:00Z").output.split())
    assert "Duty manager: [bold red]Eve[/] +358402222222" in out
    assert "On duty at Mon 2026-03-30 09:00 (times in Europe/Helsinki)" in out  # said once
    assert "until Mon 2026-04-06 09:00 (in 7d 0h)" in out
    assert "Next: Bob Smith +12125550101, from Mon 2026-04-06 09:00" in out
    assert out.count("Europe/Helsinki") == 1 and "EEST" not in out
    assert "IT Operations" in out and "Security seat" in out


# --- inactive members, overrides -------------------------------------------------------------


def test_inactive_duty_manager_is_covered_by_the_next_active_and_reported_as_a_gap(
    db_path: Path, rotas: dict[str, int]
) -> None:
    store = Store(db_path)
    Directory(store).deactivate_person(rotas["bob"])
    store.close()
    board = as_json(db_path, "duty", "--at", "2026-03-17T12:00:00Z")  # Bob's week
    assert who(board) == "Aino Virtanen"
    assert "Bob Smith is inactive" in board["duty_manager"]["note"]
    gaps = [g for g in board["gaps"] if g["rotation"] == "Duty managers"]
    assert gaps[0]["starts_at"] == "2026-03-17T12:00:00+00:00"
    assert gaps[0]["ends_at"] == "2026-03-23T07:00:00+00:00"
    assert gaps[0]["person_id"] == rotas["bob"]


def test_next_handoffs_and_gaps(db_path: Path, rotas: dict[str, int]) -> None:
    handoffs = as_json(
        db_path, "rota", "handoffs", "Duty managers", "--at", "2026-03-25", "-n", "2"
    )
    assert [(h["at"], h["from"]["name"], h["to"]["name"]) for h in handoffs] == [
        ("2026-03-30T06:00:00+00:00", "Aino Virtanen", "[bold red]Eve[/]"),
        ("2026-04-06T06:00:00+00:00", "[bold red]Eve[/]", "Bob Smith"),
    ]
    assert as_json(db_path, "rota", "gaps", "Duty managers", "--at", "2026-03-02T07:00Z") == []
    store = Store(db_path)
    Directory(store).deactivate_person(rotas["eve"])
    store.close()
    gaps = as_json(db_path, "rota", "gaps", "Duty managers", "--at", "2026-03-02T07:00Z")
    assert [(g["starts_at"], g["ends_at"], g["person"]["name"]) for g in gaps] == [
        ("2026-03-09T07:00:00+00:00", "2026-03-16T07:00:00+00:00", "[bold red]Eve[/]"),
        ("2026-03-30T06:00:00+00:00", "2026-04-01T07:00:00+00:00", "[bold red]Eve[/]"),
    ]
    text = " ".join(
        run(db_path, "rota", "gaps", "Duty managers", "--at", "2026-03-02").output.split()
    )
    assert "the person on duty is inactive" in text


def test_override_wins_inside_its_range_and_can_be_removed(db_path: Path, rotas: Any) -> None:
    added = as_json(
        db_path, "rota", "override", "add", "duty managers", "Frank",
        "--from", "2026-03-10T08:00", "--to", "2026-03-10T20:00", "--reason", "dentist swap",
    )  # fmt: skip
    assert added["starts_at"] == "2026-03-10T06:00:00+00:00"  # 08:00 EET
    assert added["person"]["name"] == "Frank Ocean"
    inside = as_json(db_path, "duty", "--at", "2026-03-10T06:00:00Z")
    assert who(inside) == "Frank Ocean" and inside["duty_manager"]["override"] is True
    assert inside["duty_manager"]["until"] == "2026-03-10T18:00:00+00:00"
    assert inside["next_duty_manager"]["person"]["name"] == "[bold red]Eve[/]"
    assert who(as_json(db_path, "duty", "--at", "2026-03-10T05:59:59Z")) == "[bold red]Eve[/]"
    assert who(as_json(db_path, "duty", "--at", "2026-03-10T18:00:00Z")) == "[bold red]Eve[/]"
    listed = as_json(db_path, "rota", "overrides", "Duty managers", "--all")
    assert [(o["id"], o["reason"]) for o in listed] == [(added["id"], "dentist swap")]
    run(db_path, "rota", "override", "remove", "Duty managers", str(added["id"]))
    assert as_json(db_path, "rota", "overrides", "Duty managers", "--all") == []
    assert who(as_json(db_path, "duty", "--at", "2026-03-10T06:00:00Z")) == "[bold red]Eve[/]"


def test_an_overlapping_override_is_noted_and_the_newer_wins(db_path: Path, rotas: Any) -> None:
    first = as_json(db_path, "rota", "override", "add", "Duty managers", "Frank",
                    "--from", "2026-03-10T08:00", "--to", "2026-03-10T20:00")  # fmt: skip
    result = run(db_path, "rota", "override", "add", "Duty managers", "Bob Smith",
                 "--from", "2026-03-10T12:00", "--to", "2026-03-11T00:00")  # fmt: skip
    assert f"overlaps override {first['id']}" in " ".join(result.output.split())
    assert who(as_json(db_path, "duty", "--at", "2026-03-10T09:00")) == "Frank Ocean"
    assert who(as_json(db_path, "duty", "--at", "2026-03-10T12:00")) == "Bob Smith"


def test_shifts_in_a_range_across_the_dst_change(db_path: Path, rotas: Any) -> None:
    shifts = as_json(
        db_path, "rota", "shifts", "Duty managers",
        "--from", "2026-03-23T07:00:00Z", "--to", "2026-04-13T06:00:00Z",
    )  # fmt: skip
    assert [(s["starts_at"], s["person"]["name"]) for s in shifts] == [
        ("2026-03-23T07:00:00+00:00", "Aino Virtanen"),
        ("2026-03-30T06:00:00+00:00", "[bold red]Eve[/]"),
        ("2026-04-06T06:00:00+00:00", "Bob Smith"),
    ]
    text = run(db_path, "rota", "shifts", "Duty managers", "--from", "2026-03-23", "--to",
               "2026-04-01").output  # fmt: skip
    flat = " ".join(text.split())
    assert "Mon 2026-03-30 09:00 │" in flat and "EEST" not in flat  # the label says the zone
    assert flat.count("(times in Europe/Helsinki)") == 1


def test_members_show_and_set_order(db_path: Path, rotas: Any) -> None:
    got = as_json(db_path, "rota", "members", "Security seat", "carol@example.com", "Bob Smith")
    assert [m["name"] for m in got] == ["Carol Jones", "Bob Smith"]
    assert [m["name"] for m in as_json(db_path, "rota", "members", "Security seat")] == [
        "Carol Jones",
        "Bob Smith",
    ]
    listed = as_json(db_path, "rota", "list")
    assert [r["name"] for r in listed] == ["Duty managers", "Security seat"]
    assert listed[0]["rule"] == "weekly, Monday 09:00 Europe/Helsinki"


# --- iCalendar ------------------------------------------------------------------------------


def test_export_parses_back_and_imports_into_another_rotation_once(
    db_path: Path, rotas: Any, tmp_path: Path
) -> None:
    target = tmp_path / "duty.ics"
    run(
        db_path, "rota", "export", "Duty managers", str(target),
        "--from", "2026-03-02T07:00:00Z", "--to", "2026-04-13T06:00:00Z",
    )  # fmt: skip
    cal = Calendar.from_ical(target.read_bytes())
    events = list(cal.walk("VEVENT"))
    assert len(events) == 6
    assert {str(e["uid"]) for e in events} == {
        str(e["uid"]) for e in Calendar.from_ical(target.read_bytes()).walk("VEVENT")
    }
    run(db_path, "rota", "create", "Vendors seat", "--party", "Vendors", "--unit", "weeks",
        "--tz", "Europe/Helsinki", "--start", "2026-03-02")  # fmt: skip
    first = as_json(db_path, "rota", "import", "Vendors seat", str(target))
    assert (first["added"], first["updated"], first["unchanged"]) == (6, 0, 0)
    again = as_json(db_path, "rota", "import", "Vendors seat", str(target))
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 6)
    assert len(as_json(db_path, "rota", "overrides", "Vendors seat", "--all")) == 6
    for at in ("2026-03-02T07:00:00Z", "2026-03-29T01:00:00Z", "2026-03-30T06:00:00Z"):
        board = as_json(db_path, "duty", "--at", at)
        assert seat(board, "Vendors")["representative"]["name"] == who(board)


def test_export_to_stdout_with_the_default_range(db_path: Path, rotas: Any) -> None:
    data = run(db_path, "rota", "export", "Security seat", "-").stdout_bytes
    events = Calendar.from_ical(data).events
    # Default: 30 days back to 180 days ahead of now, one event per daily shift (or part).
    assert 205 <= len(events) <= 212
    assert all(str(e["summary"]).startswith("On call: ") for e in events)
    assert str(Calendar.from_ical(data)["x-wr-timezone"]) == "America/New_York"


def test_a_bad_feed_imports_nothing_and_names_each_problem(
    db_path: Path, rotas: Any, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.ics"
    feed.write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\n"
        "BEGIN:VEVENT\nUID:good\nDTSTART:20260310T070000Z\nDTEND:20260311T070000Z\n"
        "SUMMARY:On call: Frank Ocean\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:who-is-this\nDTSTART:20260311T070000Z\nDTEND:20260312T070000Z\n"
        "ATTENDEE:mailto:stranger@example.net\nSUMMARY:On call: Stranger\nEND:VEVENT\n"
        "END:VCALENDAR\n"
    )
    result = run(db_path, "rota", "import", "Duty managers", str(feed), ok=False)
    assert result.exit_code == 1
    assert "nothing was imported: 1 problem(s)" in result.output
    assert "line 10 (UID who-is-this): nobody in the directory matches stranger@example.net" in (
        result.output
    )
    assert as_json(db_path, "rota", "overrides", "Duty managers", "--all") == []


def _feed(*events: tuple[str, str, str]) -> str:
    body = "".join(
        f"BEGIN:VEVENT\nUID:{uid}\nDTSTART:{start}\nDTEND:{end}\n"
        "SUMMARY:On call: Frank Ocean\nEND:VEVENT\n"
        for uid, start, end in events
    )
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\n{body}END:VCALENDAR\n"


def test_prune_removes_imported_shifts_the_feed_dropped_and_nothing_else(
    db_path: Path, rotas: Any, tmp_path: Path
) -> None:
    a = ("a", "20260310T070000Z", "20260311T070000Z")
    b = ("b", "20260312T070000Z", "20260313T070000Z")
    c = ("c", "20260314T070000Z", "20260315T070000Z")
    feed = tmp_path / "feed.ics"
    feed.write_text(_feed(a, b, c))
    run(db_path, "rota", "import", "Duty managers", str(feed))
    manual = as_json(db_path, "rota", "override", "add", "Duty managers", "Bob Smith",
                     "--from", "2026-03-12T12:00Z", "--to", "2026-03-12T13:00Z")  # fmt: skip
    feed.write_text(_feed(a, c))
    kept = as_json(db_path, "rota", "import", "Duty managers", str(feed))
    assert (kept["unchanged"], kept["removed"]) == (2, 0)
    assert len(as_json(db_path, "rota", "overrides", "Duty managers", "--all")) == 4
    pruned = as_json(db_path, "rota", "import", "Duty managers", str(feed), "--prune")
    assert (pruned["unchanged"], pruned["removed"]) == (2, 1)
    left = as_json(db_path, "rota", "overrides", "Duty managers", "--all")
    assert sorted(str(o["source_uid"]) for o in left) == ["None", "a", "c"]
    assert manual["id"] in {o["id"] for o in left}


def test_dry_run_counts_without_writing(db_path: Path, rotas: Any, tmp_path: Path) -> None:
    feed = tmp_path / "feed.ics"
    feed.write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\n"
        "BEGIN:VEVENT\nUID:good\nDTSTART:20260310T070000Z\nDTEND:20260311T070000Z\n"
        "SUMMARY:On call: Frank Ocean\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    dry = as_json(db_path, "rota", "import", "Duty managers", str(feed), "--dry-run")
    assert dry["added"] == 1 and dry["imported"] is False
    assert as_json(db_path, "rota", "overrides", "Duty managers", "--all") == []


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("duty", "--at", "next tuesday"), '--at "next tuesday" is not ISO 8601'),
        (
            ("rota", "create", "X", "--tz", "Mars/Olympus", "--start", "2026-03-02"),
            'time zone "Mars/Olympus" is not an IANA zone name',
        ),
        (
            ("rota", "create", "Again", "--tz", "UTC", "--start", "2026-03-02"),
            'there is already a duty-manager rotation ("Duty managers")',
        ),
        (
            ("rota", "create", "S2", "--party", "Security", "--tz", "UTC"),
            'party "Security" already has a rotation ("Security seat")',
        ),
        (("rota", "create", "X", "--tz", "UTC", "--handoff", "9h"), 'handoff time "9h"'),
        (("rota", "shifts", "Nope"), 'no rotation "Nope"; rotations: Duty managers'),
        (
            ("rota", "override", "add", "Duty managers", "Frank", "--from", "2026-03-10T20:00",
             "--to", "2026-03-10T08:00"),
            "must be after --from",
        ),
        (
            ("rota", "override", "add", "Duty managers", "Nobody Here", "--from", "2026-03-10",
             "--to", "2026-03-11"),
            'nobody in the directory matches "Nobody Here"',
        ),
        (("rota", "override", "remove", "Duty managers", "999"), "no override 999"),
        (("rota", "import", "Duty managers", "/nonexistent/feed.ics"), "cannot read"),
    ],
)  # fmt: skip
def test_bad_input_is_explained_and_changes_nothing(
    db_path: Path, rotas: Any, args: tuple[str, ...], message: str
) -> None:
    before = as_json(db_path, "rota", "list")
    result = run(db_path, *args, ok=False)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert as_json(db_path, "rota", "list") == before


def test_before_a_rotation_starts_nobody_is_on_duty_and_the_first_is_next(
    db_path: Path, rotas: Any
) -> None:
    board = as_json(db_path, "duty", "--at", "2024-06-01T12:00:00Z")
    assert board["duty_manager"]["person"] is None
    assert board["duty_manager"]["note"] == "the rotation has not started"
    assert board["duty_manager"]["until"] == "2026-03-02T07:00:00+00:00"
    assert board["next_duty_manager"]["person"]["name"] == "Aino Virtanen"
    assert board["next_duty_manager"]["since"] == "2026-03-02T07:00:00+00:00"


def test_duty_without_any_rotation_says_so(db_path: Path, org: Any) -> None:
    board = as_json(db_path, "duty", "--at", "2026-03-10T12:00:00Z")
    assert board["duty_manager"]["person"] is None
    assert "no duty-manager rotation" in board["duty_manager"]["note"]
    assert "there is no duty-manager rotation" in board["warnings"]


def test_duty_through_a_real_process(db_path: Path, rotas: Any) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mim_console", "--db", str(db_path), "duty", "--json",
         "--at", "2026-03-30T06:00:00Z"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert json.loads(out)["duty_manager"]["person"]["name"] == "[bold red]Eve[/]"


def test_board_feeds_the_readiness_check(db_path: Path, rotas: dict[str, int]) -> None:
    from datetime import UTC, datetime

    from mim_console.domain.readiness import ReadinessInput, check
    from mim_console.services.duty import (
        has_duty_rotation,
        load_board,
        party_rotation_names,
        rotation_gap_lines,
    )

    store = Store(db_path)
    d = Directory(store)
    d.deactivate_person(rotas["carol"])
    at = datetime(2026, 3, 2, 12, tzinfo=UTC)
    board = load_board(store, at)
    gaps = rotation_gap_lines(board)
    assert gaps["Duty managers"] == []
    assert gaps["Security seat"][0] == (
        "2026-03-02 07:00–2026-03-03 02:30 EST: the person on duty is inactive"
    )
    data = ReadinessInput(
        parties=d.parties(),
        groups=[],
        people={p.id: p for p in d.people()},
        duty_rotation_exists=has_duty_rotation(board),
        rotation_gaps=gaps,
        party_rotations=party_rotation_names(board),
    )
    store.close()
    assert data.party_rotations == {rotas["security"]: "Security seat"}
    findings = check(data, at, lambda mobile: None)
    failing = {(f.check, f.subject) for f in findings if not f.ok}
    assert ("rotation_gap", "Security seat") in failing
    assert ("rotation_gap", "Duty managers") not in failing
    assert ("duty_rotation", "duty managers") not in failing
