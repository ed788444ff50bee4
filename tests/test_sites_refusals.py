"""On a standby copy every command that writes is refused in the standby's words, before it
changes anything: the writes through the store, and the two that would not go through it
(`dispatch`, which would wait forever for a lease it can never write, and `restore`, which
replaces the whole file)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mim_console.cli import main
from mim_console.clock import utcnow
from mim_console.config import Settings
from mim_console.data import sites, standby
from mim_console.data.standby import REFUSAL
from mim_console.data.store import Store
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import seed


@pytest.fixture
def copy(tmp_path: Path) -> tuple[Path, Path, str]:
    """(a standby copy, the primary's file it was copied from, the incident's code)."""
    primary = tmp_path / "a.db"
    ctx = Context(settings=Settings(db_path=primary), actor="duty manager")
    try:
        seed(ctx.store, FROZEN_NOW)
        code = IncidentService(ctx).declare(title="Cards down", severity="SEV1").code
    finally:
        ctx.close()
    db = tmp_path / "b.db"
    db.write_bytes(primary.read_bytes())
    standby.write_marker(db, url=(tmp_path / "replica").as_uri(), pid=None)
    return db, primary, code


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_write_command_is_refused_in_the_standby_words(
    copy: tuple[Path, Path, str], tmp_path: Path
) -> None:
    db, primary, code = copy
    people = tmp_path / "people.csv"
    people.write_text("name,mobile\nNew One,+358401112233\n", encoding="utf-8")
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    before = digest(db)
    runner = CliRunner()
    for args in (
        ["declare", "-t", "Another", "--yes"],
        ["joined", code, "Dan Biz"],
        ["note", code, "a note"],
        ["close", code],
        ["call", code, "Dan Biz", "--outcome", "joining"],
        ["person", "add", "Nope", "--mobile", "+358401000010"],
        ["import", "people", str(people)],
        ["rota", "create", "R", "--start", "2026-12-01", "--tz", "UTC"],
        ["settings", "set", "organisation", "Elsewhere"],
        ["comms", "draft", code],
        ["restore", str(primary), "--yes"],
    ):
        result = runner.invoke(
            main, ["--db", str(db), *args], env={"MIM_CONSOLE_CONFIG": str(empty)}
        )
        assert result.exit_code == 1, (args, result.output)
        assert f"Error: {REFUSAL}" in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert digest(db) == before
    assert standby.is_standby_copy(db)


def test_dispatch_on_a_standby_copy_refuses_at_once(
    copy: tuple[Path, Path, str], tmp_path: Path
) -> None:
    db, _primary, _code = copy
    before = digest(db)
    done = subprocess.run(
        [sys.executable, "-m", "mim_console", "--db", str(db), "dispatch"],
        env={**os.environ, "MIM_CONSOLE_CONFIG": str(tmp_path / "none.toml")},
        capture_output=True,
        text=True,
        timeout=60,  # it used to run for ever, its lease heartbeat refused every second
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert REFUSAL in done.stderr and "Traceback" not in done.stderr
    assert digest(db) == before


def test_forced_takeover_is_recorded_and_keeps_the_timeline_chain(
    copy: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """Site A beat a moment ago: `takeover` is refused; `--force --reason` after a human
    decision goes through, says who and why in the timeline, and the timeline still verifies
    (the take-over's events are links of the hash chain like any other)."""
    db, _primary, code = copy
    url = (tmp_path / "replica").as_uri()
    writable = Store(tmp_path / "a.db")
    sites.beat(writable, "site-a", "a-holder", url, utcnow())
    writable.close()
    db.write_bytes((tmp_path / "a.db").read_bytes())
    env = {"MIM_CONSOLE_CONFIG": str(tmp_path / "none.toml")}
    runner = CliRunner()
    refused = runner.invoke(main, ["--db", str(db), "takeover"], env=env)
    assert refused.exit_code == 1 and "refused: site-a showed a sign of life" in refused.output
    assert standby.is_standby_copy(db)
    reason = "site A's power lost, confirmed by facilities (J. Virtanen)"
    done = runner.invoke(
        main, ["--db", str(db), "takeover", "--force", "--reason", reason, "--json"], env=env
    )
    assert done.exit_code == 0, done.output
    assert '"forced": true' in done.output
    assert not standby.is_standby_copy(db)
    check = Store(db)
    try:
        rows = check.query("SELECT incident_id, text, data FROM event WHERE kind = 'takeover'")
    finally:
        check.close()
    assert {r["incident_id"] for r in rows} == {None, 1}  # the log and the active incident
    for row in rows:
        assert reason in row["text"] and json.loads(row["data"])["reason"] == reason
        assert json.loads(row["data"])["forced"] is True
    verified = runner.invoke(main, ["--db", str(db), "verify-timeline", code], env=env)
    assert verified.exit_code == 0, verified.output
    assert "timeline intact" in verified.output


async def test_declare_key_on_the_standby_console_is_refused_before_the_form(
    copy: tuple[Path, Path, str],
) -> None:
    """`n` on the standby's Duty screen: refused in the standby's words at once, not after a
    declaration form has been filled in that could never be saved."""
    from mim_console.app import make_app
    from mim_console.screens.duty import DutyScreen

    db, _primary, _code = copy
    before = digest(db)
    ctx = Context(settings=Settings(db_path=db), actor="b")
    app = make_app(ctx)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, DutyScreen)
            await pilot.press("n")
            await pilot.pause()
            assert isinstance(app.screen, DutyScreen)
            assert [REFUSAL] == [str(n.message) for n in app._notifications]
    finally:
        ctx.close()
    assert digest(db) == before
