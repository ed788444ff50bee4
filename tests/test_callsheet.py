"""The call sheet from a real database (board and incident), the CLI that writes it whole or not
at all, and manual phone calls moving the roll call exactly as replies do."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mim_console.cli import main
from mim_console.config import BridgeSettings, EscalationSettings, Settings
from mim_console.data.directory import Directory
from mim_console.domain.callsheet import CallSheet, Section, render
from mim_console.domain.incident import IllegalTransition, State, can_move
from mim_console.errors import UserError
from mim_console.services import callsheet
from mim_console.services.context import Context
from mim_console.services.incidents import CALL_OUTCOMES, IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import FakeClock, mobile, seed

SECOND_PHONE = "+358500000099"


def call_order(sections: tuple[Section, ...]) -> list[str]:
    """Names in the order a caller works through the sheet."""
    return [entry.name for section in sections for entry in section.entries]


def _settings(db_path: Path) -> Settings:
    rule = EscalationSettings(voice_after_min=5, deputy_after_min=5)
    return Settings(
        db_path=db_path,
        organisation="Example Oy",
        bridge=BridgeSettings(number="+358 9 1234 5678", pin="4242", url="https://meet.example"),
        escalation={"duty_manager": rule, "mrt": rule, "specialist": rule},
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FROZEN_NOW)


@pytest.fixture
def ctx(db_path: Path, clock: FakeClock) -> Iterator[Context]:
    c = Context(settings=_settings(db_path), clock=clock, actor="dm")
    seed(c.store, clock.now)
    with c.store.write() as db:  # Bob has a second phone; Carol has left (inactive)
        db.execute("UPDATE person SET phone2 = ? WHERE name = 'Bob Ops'", [SECOND_PHONE])
        db.execute("UPDATE person SET active = 0 WHERE name = 'Carol Ops'")
    yield c
    c.close()


@pytest.fixture
def svc(ctx: Context) -> IncidentService:
    return IncidentService(ctx)


def declare(svc: IncidentService, **kw: Any) -> str:
    return svc.declare(title="Payments down", severity="SEV1", categories=["payments"], **kw).code


def by_heading(sheet: CallSheet) -> dict[str, list[tuple[str, str, str]]]:
    return {s.heading: [(e.name, e.role, e.state) for e in s.entries] for s in sheet.sections}


# --- building the sheet -------------------------------------------------------------------


def test_board_sheet_lists_every_seat_and_group_in_call_order(ctx: Context) -> None:
    sheet = callsheet.build(ctx)
    assert [s.heading for s in sheet.sections] == [
        "Duty manager",
        "MRT - Business",
        "MRT - Communications",
        "MRT - IT Operations",
        "Specialists - Payments",
    ]
    assert call_order(sheet.sections) == [
        callsheet.NOBODY,  # no duty rotation in this organisation: the sheet says so
        "Dan Biz",
        "Erin Biz",
        "Frank Comms",
        "Gina Comms",
        "Alice Ops",
        "Bob Ops",  # Carol is inactive: never on a sheet to call
        "Sam Spec",
        "Tina Spec",
        "Uma Spec",
    ]
    roles = by_heading(sheet)
    assert [r for _, r, _ in roles["MRT - Business"]] == ["primary", "deputy 1"]
    assert [r for _, r, _ in roles["Specialists - Payments"]] == ["call 1", "call 2", "call 3"]
    text = callsheet.render_sheet(ctx, None, "txt")
    for name in ("Alice Ops", "Bob Ops", "Dan Biz", "Uma Spec"):
        assert mobile(name) in text
    assert SECOND_PHONE in text and text.index(mobile("Bob Ops")) < text.index(SECOND_PHONE)
    assert "Example Oy" in text and "4242" in text and "https://meet.example" in text


def test_incident_sheet_puts_deputies_after_and_shows_states(
    ctx: Context, svc: IncidentService
) -> None:
    code = declare(svc)
    svc.log_call(code, "Dan Biz", "unable", "in hospital")  # Erin is paged as his deputy
    svc.log_call(code, "Alice Ops", "joining")
    sheet = callsheet.build(ctx, code)
    sections = by_heading(sheet)
    assert "Duty manager" not in sections  # nobody on duty was paged
    assert sections["MRT - Business"] == [
        ("Dan Biz", "representative", "unable"),
        ("Erin Biz", "deputy for Dan Biz", "alerted"),
    ]
    assert sections["MRT - IT Operations"] == [
        ("Alice Ops", "representative", "joined"),
        ("Bob Ops", "not paged", ""),  # a deputy to phone by hand; Carol is inactive
    ]
    assert [n for n, _, _ in sections["Specialists - Payments"]] == [
        "Sam Spec",
        "Tina Spec",
        "Uma Spec",
    ]
    assert code in sheet.title and not sheet.exercise
    # The script is the voice alert's words for this incident, then how to log the calls.
    assert f"Major incident {code}" in sheet.script and "PIN 4242" in sheet.script
    assert f"mim-console call {code}" in sheet.script


def test_incident_sheet_uses_the_saved_voice_template_and_flags_exercises(
    ctx: Context, svc: IncidentService
) -> None:
    with ctx.store.write() as db:
        db.execute(
            "INSERT INTO template (name, body, updated_at) VALUES ('voice', ?, '2026')",
            ["Hello from {organisation}: {incident_code} needs you."],
        )
    code = declare(svc, exercise=True)
    sheet = callsheet.build(ctx, code)
    assert sheet.exercise
    assert "Hello from Example Oy" in sheet.script and sheet.script.startswith("EXERCISE")
    for fmt in ("txt", "md", "html"):
        assert "EXERCISE" in callsheet.render_sheet(ctx, code, fmt)


def test_format_from_suffix_unless_given() -> None:
    assert callsheet.format_for(None, None) == "txt"
    assert callsheet.format_for(Path("a.HTML"), None) == "html"
    assert callsheet.format_for(Path("a.markdown"), None) == "md"
    assert callsheet.format_for(Path("a.pdf"), None) == "txt"
    assert callsheet.format_for(Path("a.html"), "md") == "md"
    with pytest.raises(UserError, match="txt, md, html"):
        callsheet.format_for(None, "pdf")


def test_save_writes_into_the_data_dir_readable_by_the_owner_only(
    ctx: Context, svc: IncidentService
) -> None:
    code = declare(svc)
    paths = callsheet.save(ctx, code.lower())
    assert [p.suffix for p in paths] == [".txt", ".html"]
    assert all(p.parent == ctx.db_path.parent / "callsheets" for p in paths)
    assert all(code in p.name for p in paths)
    assert "Dan Biz" in paths[0].read_text(encoding="utf-8")
    assert stat.S_IMODE(paths[0].stat().st_mode) == 0o600


def test_saved_sheets_in_the_data_dir_are_pruned_to_the_newest(ctx: Context) -> None:
    folder = ctx.db_path.parent / "callsheets"
    folder.mkdir()
    for n in range(30):
        old = folder / f"callsheet-duty-2026010{n % 10}-0000{n:02d}.txt"
        old.write_text("stale", encoding="utf-8")
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    (folder / "notes.txt").write_text("mine", encoding="utf-8")  # not a sheet: left alone
    paths = callsheet.save(ctx)
    left = sorted(p.name for p in folder.glob("callsheet-*"))
    assert len(left) == callsheet.KEEP_SAVED
    assert all(p.name in left for p in paths)
    assert "callsheet-duty-20260109-000029.txt" in left  # the newest old ones stay
    assert "callsheet-duty-20260100-000000.txt" not in left
    assert (folder / "notes.txt").exists()


def test_a_failed_write_leaves_the_old_file_and_no_scraps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"  # tmp_path also holds the isolated HOME
    folder.mkdir()
    target = folder / "sheet.txt"
    target.write_text("the old sheet\n", encoding="utf-8")

    def broken_disk(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_disk)
    with pytest.raises(UserError, match=r"cannot write .*sheet\.txt: Input/output error"):
        callsheet.write_atomic(target, "the new sheet\n")
    assert target.read_text(encoding="utf-8") == "the old sheet\n"
    assert sorted(p.name for p in folder.iterdir()) == ["sheet.txt"]


# --- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def db(db_path: Path) -> Path:
    c = Context(settings=Settings(db_path=db_path), clock=lambda: FROZEN_NOW)
    seed(c.store, FROZEN_NOW)
    c.close()
    return db_path


def run(db: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", str(db), *args])


def cli_declare(db: Path) -> str:
    result = run(db, "declare", "-t", "Payments down", "-c", "payments", "--yes")
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_cli_prints_text_and_writes_files_by_suffix(db: Path, tmp_path: Path) -> None:
    code = cli_declare(db)
    out = run(db, "callsheet", code)
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith(f"Call sheet {code}")
    assert out.stdout.index("Alice Ops") < out.stdout.index("Sam Spec")
    md = tmp_path / "sheet.md"
    written = run(db, "callsheet", code, "-o", str(md))
    assert written.exit_code == 0 and "(md)" in written.stdout
    assert md.read_text(encoding="utf-8").startswith(f"# Call sheet {code}")
    forced = tmp_path / "sheet.md.html"
    assert run(db, "callsheet", "-o", str(forced), "--format", "txt").exit_code == 0
    assert forced.read_text(encoding="utf-8").startswith("Call sheet: duty board")


def test_cli_json_and_refusals(db: Path, tmp_path: Path) -> None:
    code = cli_declare(db)
    data = json.loads(run(db, "callsheet", code, "--json").stdout)
    assert data["sections"][0]["heading"] == "MRT - Business"
    assert data["sections"][0]["entries"][0] == {
        "name": "Dan Biz",
        "role": "representative",
        "title": "",
        "phones": [mobile("Dan Biz")],
        "state": "alerted",
        "decision_authority": True,
    }
    missing = run(db, "callsheet", code, "-o", str(tmp_path / "nowhere" / "x.txt"))
    assert missing.exit_code == 1 and "is not a folder" in missing.stderr
    assert not (tmp_path / "nowhere").exists()
    unknown = run(db, "callsheet", "MI-1999-999")
    assert unknown.exit_code == 1 and "MI-1999-999" in unknown.stderr
    assert run(db, "callsheet", "--format", "pdf").exit_code == 2


def test_cli_call_logs_and_moves_the_roll_call(db: Path) -> None:
    code = cli_declare(db)
    ok = run(db, "call", code, "Dan Biz", "--outcome", "joining", "--note", "on his way")
    assert ok.exit_code == 0, ok.output
    assert "joining -> joined" in ok.stdout
    status = json.loads(run(db, "status", code, "--json").stdout)
    assert {p["name"]: p["state"] for p in status["participants"]}["Dan Biz"] == "joined"
    timeline = json.loads(run(db, "timeline", code, "--json").stdout)
    call = [e for e in timeline if e["kind"] == "call"]
    assert call and call[-1]["text"] == "phone call to Dan Biz: joining (on his way) -> joined"
    assert run(db, "call", code, "Dan Biz", "--outcome", "maybe").exit_code == 2
    run(db, "release", code, "Dan Biz")
    refused = run(db, "call", code, "Dan Biz", "--outcome", "joining")
    assert refused.exit_code == 1 and "recall them first" in refused.stderr
    stranger = run(db, "call", code, "Bob Ops", "--outcome", "voicemail")
    assert stranger.exit_code == 1 and "not in" in stranger.stderr


# --- manual calls in the service ----------------------------------------------------------


def _events(ctx: Context, kind: str) -> list[dict[str, Any]]:
    return ctx.store.query("SELECT * FROM event WHERE kind = ? ORDER BY id", [kind])


def test_a_joining_call_is_the_reply_path_with_the_duty_manager_as_actor(
    ctx: Context, svc: IncidentService
) -> None:
    code = declare(svc)
    assert svc.log_call(code, "Alice Ops", "Joined") == "joined"  # spelling is forgiven
    assert svc.log_call(code, "Alice Ops", "joining") == "already joined"
    calls = _events(ctx, "call")
    assert [c["actor"] for c in calls] == ["dm", "dm"]
    assert json.loads(calls[0]["data"])["via"] == "phone call"
    moved = _events(ctx, "state")
    assert moved[-1]["text"] == "Alice Ops: alerted -> joined (phone call)"


def test_no_answer_counts_as_the_voice_call_and_the_deputy_follows(
    ctx: Context, svc: IncidentService, clock: FakeClock
) -> None:
    code = declare(svc)
    queued = len(ctx.store.query("SELECT id FROM alert"))
    assert svc.log_call(code, "Frank Comms", "no-answer", "rang out") == "escalated"
    frank = next(s for s in svc.roll_call(code).seats if s.person.name == "Frank Comms")
    assert frank.participant.state is State.ESCALATED and frank.participant.escalation_step == 1
    assert len(ctx.store.query("SELECT id FROM alert")) == queued  # no second call queued
    # Voicemail after that: logged only, the deputy timer already runs.
    assert svc.log_call(code, "Frank Comms", "voicemail") == "logged (escalated)"
    clock.advance(minutes=4)
    svc.tick()
    assert "Gina Comms" not in {s.person.name for s in svc.roll_call(code).seats}
    clock.advance(minutes=1)
    svc.tick()
    seats = {s.person.name: s for s in svc.roll_call(code).seats}
    assert seats["Gina Comms"].deputy_for == "Frank Comms"
    assert seats["Frank Comms"].participant.state is State.UNREACHABLE


def test_refused_calls_change_nothing(ctx: Context, svc: IncidentService) -> None:
    code = declare(svc)
    svc.log_call(code, "Alice Ops", "joining")
    svc.release(code, ["Alice Ops"])
    before = ctx.store.query("SELECT count(*) AS n FROM event")[0]["n"]
    with pytest.raises(UserError, match="recall them first"):
        svc.log_call(code, "Alice Ops", "unable")
    with pytest.raises(UserError, match="not one of joining, unable, voicemail, no-answer"):
        svc.log_call(code, "Alice Ops", "busy")
    with pytest.raises(UserError, match="not in"):
        svc.log_call(code, "Bob Ops", "joining")
    with pytest.raises(UserError, match="call note is 501 characters"):
        svc.log_call(code, "Sam Spec", "voicemail", "x" * 501)
    svc.close(code)
    after_close = ctx.store.query("SELECT count(*) AS n FROM event")[0]["n"]
    with pytest.raises(UserError, match="closed"):
        svc.log_call(code, "Sam Spec", "voicemail")
    assert ctx.store.query("SELECT count(*) AS n FROM event")[0]["n"] == after_close
    assert after_close > before  # only the close wrote


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.sampled_from(CALL_OUTCOMES), min_size=1, max_size=6))
def test_any_run_of_calls_follows_the_legal_moves(outcomes: list[str]) -> None:
    """Each call is either applied (one call event, a legal move or none) or refused whole."""
    with tempfile.TemporaryDirectory() as folder:
        c = Context(settings=_settings(Path(folder) / "mim.db"), clock=lambda: FROZEN_NOW)
        try:
            seed(c.store, FROZEN_NOW)
            service = IncidentService(c)
            code = declare(service)
            for outcome in outcomes:
                before = service.roll_call(code)
                state = next(s for s in before.seats if s.person.name == "Sam Spec").participant
                calls = len(_events(c, "call"))
                try:
                    service.log_call(code, "Sam Spec", outcome)
                except IllegalTransition:
                    target = State.JOINED if outcome == "joining" else State.UNABLE
                    assert not can_move(state.state, target)
                    assert len(_events(c, "call")) == calls
                    continue
                after = next(
                    s for s in service.roll_call(code).seats if s.person.name == "Sam Spec"
                ).participant
                assert len(_events(c, "call")) == calls + 1
                assert after.state is state.state or can_move(state.state, after.state)
                if outcome == "joining":
                    assert after.state is State.JOINED
        finally:
            c.close()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    active=st.lists(st.booleans(), min_size=6, max_size=6),
    reps=st.permutations(range(6)).flatmap(lambda p: st.integers(1, 6).map(lambda n: p[:n])),
    members=st.permutations(range(6)).flatmap(lambda p: st.integers(1, 6).map(lambda n: p[:n])),
)
def test_board_sheet_lists_exactly_the_active_people_in_their_order(
    active: list[bool], reps: list[int], members: list[int]
) -> None:
    """Any seat order and any inactive people: the sheet keeps the order and skips the inactive."""
    with tempfile.TemporaryDirectory() as folder:
        c = Context(settings=_settings(Path(folder) / "mim.db"), clock=lambda: FROZEN_NOW)
        try:
            directory = Directory(c.store, clock=lambda: FROZEN_NOW)
            party = directory.add_party("Finance")
            people = [
                directory.add_person(
                    name=f"Person {n}",
                    mobile=f"+35840000010{n}",
                    phone2=f"+35850000010{n}" if n % 2 else None,
                    party_id=party.id,
                    active=active[n],
                )
                for n in range(6)
            ]
            directory.set_representatives(party.id, [people[i].id for i in reps])
            group = directory.add_group("Network", ["network"])
            directory.set_group_members(group.id, [people[i].id for i in members])
            sheet = callsheet.build(c)
            sections = {s.heading: s.entries for s in sheet.sections}
            seat = [people[i].name for i in reps if active[i]]
            called = [people[i].name for i in members if active[i]]
            assert [e.name for e in sections["MRT - Finance"]] == (seat or [callsheet.NOBODY])
            if seat:
                roles = [e.role for e in sections["MRT - Finance"]]
                assert roles == ["primary", *(f"deputy {n}" for n in range(1, len(seat)))]
            assert [e.name for e in sections["Specialists - Network"]] == (
                called or [callsheet.NOBODY]
            )
            text = render(sheet, "txt")
            for person in people:
                if person.name in seat or person.name in called:
                    assert all(phone in text for phone in person.phones)
                else:
                    assert person.mobile not in text
        finally:
            c.close()


def test_callsheet_through_the_real_entry_point(db: Path, tmp_path: Path) -> None:
    """`python -m mim_console callsheet`: the lazy command table finds the module."""
    out = tmp_path / "sheet.html"
    done = subprocess.run(
        [sys.executable, "-m", "mim_console", "--db", str(db), "callsheet", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "call sheet written" in done.stdout
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_alerts_given_up_on_are_named_to_phone(ctx: Context, svc: IncidentService) -> None:
    from mim_console.screens.call_log import waiting_lines

    code = declare(svc)
    with ctx.store.write() as db:
        rows = db.execute("SELECT id, person_id FROM alert ORDER BY id").fetchall()
        # Dan's alert gave up without ever reaching Twilio; Alice's reached it and failed there.
        dan = next(r[0] for r in rows if r[1] == svc.directory.find_person("Dan Biz").id)
        alice = next(r[0] for r in rows if r[1] == svc.directory.find_person("Alice Ops").id)
        db.execute(
            "UPDATE alert SET status = 'failed', last_error = 'gave up after 30 min' WHERE id = ?",
            [dan],
        )
        db.execute("UPDATE alert SET status = 'failed', provider_sid = 'SMx' WHERE id = ?", [alice])
    gave_up = callsheet.gave_up_alerts(ctx)
    assert [a.person_name for a in gave_up] == ["Dan Biz"]
    waiting = callsheet.waiting_alerts(ctx)
    assert len(waiting) == len(rows) - 2
    lines = waiting_lines(FROZEN_NOW, waiting, gave_up)
    assert lines[0].startswith("✖ 1 alert of open incidents gave up") and "Dan Biz" in lines[0]
    assert lines[1].startswith(f"{len(waiting)} alerts waiting to be sent")
    svc.close(code)
    assert callsheet.gave_up_alerts(ctx) == []  # a closed incident needs nobody phoned
