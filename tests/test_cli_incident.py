"""The incident commands through click: output, --json shapes, refusals exit 1 with nothing
changed, usage errors exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mim_console.cli import main
from mim_console.data.store import Store
from tests.conftest import FROZEN_NOW
from tests.incident_seed import seed


@pytest.fixture
def db(db_path: Path) -> Path:
    store = Store(db_path)
    seed(store, FROZEN_NOW)
    store.close()
    return db_path


def run(db: Path, *args: str, answer: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--db", str(db), *args], input=answer)


def counts(db: Path) -> dict[str, int]:
    store = Store(db)
    try:
        return {
            t: store.query(f"SELECT count(*) AS n FROM {t}")[0]["n"]
            for t in ("incident", "participant", "event", "alert")
        }
    finally:
        store.close()


def declare(db: Path, *extra: str) -> str:
    result = run(db, "declare", "-t", "Payments down", "-c", "payments", "--yes", *extra)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_declare_asks_first_and_prints_the_code(db: Path) -> None:
    refused = run(db, "declare", "-t", "Payments down", "-c", "payments", answer="n\n")
    assert refused.exit_code == 1
    assert "page 6 people by sms" in refused.output
    assert "not declared: nobody was paged (--yes declares without asking)" in refused.stderr
    assert counts(db)["incident"] == 0
    unanswered = run(db, "declare", "-t", "Payments down", "-c", "payments", answer="")
    assert unanswered.exit_code == 1 and "nobody was paged" in unanswered.stderr
    assert counts(db) == {"incident": 0, "participant": 0, "event": 0, "alert": 0}
    accepted = run(db, "declare", "-t", "Payments down", "-c", "payments", answer="y\n")
    assert accepted.exit_code == 0
    assert "Twilio is not configured" in accepted.stderr  # queued, and the user is told
    assert accepted.stdout.strip() == "MI-2026-001"


def test_the_timeline_names_the_actor_from_the_environment(db: Path) -> None:
    """A shared jump-host account is "root" for everyone: MIM_CONSOLE_ACTOR names the person."""
    code = declare(db)
    for actor, shown in (("Alice Ops", "Alice Ops"), ("Eve\x1b[31m\nX", "Eve\\x1b[31m X")):
        result = CliRunner().invoke(
            main, ["--db", str(db), "note", code, "bridge open"], env={"MIM_CONSOLE_ACTOR": actor}
        )
        assert result.exit_code == 0, result.output
        store = Store(db)
        try:
            last = store.query("SELECT actor FROM event ORDER BY id DESC LIMIT 1")[0]["actor"]
        finally:
            store.close()
        assert last == shown


def test_incidents_and_status_json(db: Path) -> None:
    code = declare(db)
    listed = json.loads(run(db, "incidents", "--json").stdout)
    assert [i["code"] for i in listed] == [code]
    assert set(listed[0]) >= {"code", "reply_code", "title", "status", "exercise", "declared_at"}
    assert run(db, "joined", code, "Alice Ops", "sam@example.org").exit_code == 0
    status: dict[str, Any] = json.loads(run(db, "status", code, "--json").stdout)
    assert status["incident"]["code"] == code
    by_name = {p["name"]: p for p in status["participants"]}
    assert by_name["Alice Ops"]["state"] == "joined"
    assert by_name["Sam Spec"]["role"] == "specialist"
    assert status["quorum"]["reached"] is False
    assert {p["name"]: p["quorum"] for p in status["quorum"]["parties"]} == {
        "IT Operations": True,
        "Business": False,
        "Communications": False,
    }
    text = run(db, "status", code)
    assert text.exit_code == 0 and "Alice Ops" in text.output and "not yet" in text.output


def test_roll_call_commands(db: Path) -> None:
    code = declare(db)
    assert run(db, "joined", code, "Sam Spec", "Tina Spec").exit_code == 0
    assert run(db, "release", code, "Tina Spec").exit_code == 0
    out = run(db, "status", code).output
    assert "On standby: Tina Spec since" in out
    assert run(db, "recall", code, "--all").exit_code == 0
    assert run(db, "spokesperson", code, "Sam Spec").exit_code == 0
    r = run(db, "status-report", code, "Card switch rebooted", "--next-in", "30")
    assert r.exit_code == 0 and "next status at" in r.output
    assert run(db, "directive", code, "Cards first").exit_code == 0
    assert run(db, "note", code, "Vendor called").exit_code == 0
    assert run(db, "escalate", code, "Dan Biz").stdout.strip() == "voice call queued"
    assert run(db, "unable", code, "Frank Comms").exit_code == 0
    events = json.loads(run(db, "timeline", code, "--json").stdout)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "declared"
    assert {"spokesperson", "status_report", "directive", "note", "escalation"} <= set(kinds)
    assert set(events[0]) == {"id", "at", "actor", "kind", "person_id", "text", "data"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("release", "{code}", "Alice Ops"), "only someone who joined can be released"),
        (("joined", "MI-1999-001", "Alice Ops"), "no incident"),
        (("joined", "{code}", "Zed Nobody"), ""),
        (("joined", "{code}", "Carol Ops"), "not in"),
        (("recall", "{code}", "Alice Ops"), "only someone on standby"),
        (("spokesperson", "{code}", "Alice Ops"), "specialist"),
        (("note", "{code}", "   "), "empty"),
        (("joined", "{code}", "Alice Ops", "Spec"), "Sam Spec"),  # ambiguous: lists candidates
        (("status-report", "{code}", "x", "--next-in", "-5"), "between"),
    ],
)
def test_refusals_exit_1_and_change_nothing(db: Path, args: tuple[str, ...], message: str) -> None:
    code = declare(db)
    before = counts(db)
    result = run(db, *(a.format(code=code) for a in args))
    assert result.exit_code == 1
    assert "Error:" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert counts(db) == before


def test_two_spokespersons_refused_until_replace(db: Path) -> None:
    code = declare(db)
    run(db, "joined", code, "Sam Spec", "Tina Spec")
    assert run(db, "spokesperson", code, "Sam Spec").exit_code == 0
    second = run(db, "spokesperson", code, "Tina Spec")
    assert second.exit_code == 1 and "already has a spokesperson" in second.output
    assert run(db, "spokesperson", code, "Tina Spec", "--replace").exit_code == 0


def test_usage_errors_exit_2(db: Path) -> None:
    assert run(db, "declare", "-c", "payments").exit_code == 2  # no title
    assert run(db, "declare", "-t", "x", "--channel", "fax", "--yes").exit_code == 2
    assert run(db, "report", "MI-2026-001", "--format", "pdf").exit_code == 2


def test_close_report_and_problem_case(db: Path, tmp_path: Path) -> None:
    code = declare(db, "--exercise")
    run(db, "joined", code, "Alice Ops")
    problem = tmp_path / "problem.json"
    closed = run(
        db,
        "close",
        code,
        "--problem",
        "PRB-9",
        "--owner",
        "Alice Ops",
        "--summary",
        "switch",
        "--all-clear",
        "--problem-json",
        str(problem),
    )
    assert closed.exit_code == 0, closed.output
    case = json.loads(problem.read_text())
    assert case["problem_ref"] == "PRB-9" and case["incident"]["exercise"] is True
    assert json.loads(run(db, "problem-case", code).stdout) == case
    again = run(db, "joined", code, "Alice Ops")
    assert again.exit_code == 1 and "is closed" in again.output
    out = tmp_path / "r.html"
    assert run(db, "report", code, "--format", "html", "-o", str(out)).exit_code == 0
    assert "<svg" in out.read_text() and "EXERCISE" in out.read_text()
    md = run(db, "report", code)
    assert md.exit_code == 0 and md.output.startswith("# EXERCISE")
    assert run(db, "incidents", "--json").stdout.strip() == "[]"
    assert code in run(db, "incidents", "--all").output


def test_watch_once_draws_the_roll_call(db: Path) -> None:
    code = declare(db)
    result = run(db, "watch", code, "--once")
    assert result.exit_code == 0 and code in result.output and "Frank Comms" in result.output


def test_markup_in_names_shows_literally(db: Path) -> None:
    code = run(db, "declare", "-t", "[bold red]Cards[/]", "-c", "payments", "--yes").stdout.strip()
    out = run(db, "status", code).output
    assert "[bold red]Cards[/]" in out
    listed = run(db, "incidents").output  # the table may wrap the title, never render it
    assert "[bold" in listed and "red]Cards[/]" in listed


def test_through_a_real_subprocess(db: Path, tmp_path: Path) -> None:
    """The installed entry point, not click's runner: exit codes and output as a script sees."""
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mim_console", "--db", str(db), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    declared = cli("declare", "-t", "Payments down", "-c", "payments", "--yes")
    assert declared.returncode == 0, declared.stderr
    code = declared.stdout.strip()
    refused = cli("release", code, "Alice Ops")
    assert refused.returncode == 1 and "only someone who joined" in refused.stderr
    assert "Traceback" not in refused.stderr
    out = tmp_path / "r.md"
    made = cli("report", code, "-o", str(out))
    assert made.returncode == 0 and f"Lessons learnt: {code}" in out.read_text()


def test_close_with_an_unwritable_export_changes_nothing(db: Path, tmp_path: Path) -> None:
    code = declare(db)
    before = counts(db)
    result = run(db, "close", code, "--problem-json", str(tmp_path / "nowhere" / "p.json"))
    assert result.exit_code == 1 and "not a folder" in result.output
    assert counts(db) == before
    assert json.loads(run(db, "status", code, "--json").stdout)["incident"]["status"] == "active"
