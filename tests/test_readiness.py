"""The readiness check over a real SQLite directory: each gap flagged, the demo passes, the CLI.

The crafted organisation has exactly one of each gap the issue lists, so the test can assert the
complete set of failures: nothing missed, nothing invented.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from mim_console.cli import main
from mim_console.clock import to_iso, utcnow
from mim_console.config import BridgeSettings, Settings, TwilioSettings
from mim_console.data import rotations
from mim_console.data.demo import seed_demo
from mim_console.data.directory import Directory
from mim_console.data.store import Store
from mim_console.domain.rotation import RotationRole, ShiftUnit
from mim_console.services.context import Context
from mim_console.services.demo import demo_settings
from mim_console.services.readiness import readiness, template_problems
from tests.conftest import FROZEN_NOW

GOOD_CONFIG = """\
organisation = "Test Org"
declare_criteria = "A customer-facing service is down for 30 minutes"

[bridge]
number = "+358 9 1234 5678"
pin = "4242"
"""


def run(db: Path, *args: str, config: Path | None = None, stdin: str | None = None) -> Result:
    head = ["--db", str(db)] + (["--config", str(config)] if config else [])
    return CliRunner().invoke(main, [*head, *args], input=stdin, env={"COLUMNS": "250"})


def craft(store: Store, now: datetime = FROZEN_NOW) -> dict[str, int]:
    """One of each gap; everyone else is in order. Returns person ids by first name."""
    directory = Directory(store, default_region="FI", clock=lambda: now)
    names = ["Ann", "Bo", "Cy", "Di", "Ed", "Fay", "Gus", "Hal", "Ivy", "Dm1", "Dm2"]
    authority = {"Ann", "Bo", "Ed", "Dm1", "Dm2"}
    ids = {
        name: directory.add_person(
            name, f"+3584010000{i:02d}", decision_authority=name in authority
        ).id
        for i, name in enumerate(names, 1)
    }
    it = directory.add_party("IT")
    directory.set_representatives(it.id, [ids["Ann"], ids["Bo"]])
    legal = directory.add_party("Legal")  # nobody may decide
    directory.set_representatives(legal.id, [ids["Cy"], ids["Di"]])
    sales = directory.add_party("Sales")  # no deputy
    directory.set_representatives(sales.id, [ids["Ed"]])
    network = directory.add_group("Network", ["network"])  # one active member
    directory.set_group_members(network.id, [ids["Fay"], ids["Gus"]])
    db_group = directory.add_group("Database", ["database"])
    directory.set_group_members(db_group.id, [ids["Hal"], ids["Ivy"]])
    directory.deactivate_person(ids["Gus"])
    with store.write() as db:
        rotations.create_rotation(
            db,
            rotations.RotationSpec(
                name="Duty",
                shift_unit=ShiftUnit.DAYS,
                shift_length=1,
                handoff_time=time(9, 0),
                timezone="Europe/Helsinki",
                start_date=date(2026, 2, 1),
            ),
            [ids["Dm1"], ids["Dm2"]],
        )
        fresh = to_iso(now - timedelta(days=10))
        db.execute("UPDATE person SET verified_at = ?", [fresh])
        stale = to_iso(now - timedelta(days=100))
        db.execute("UPDATE person SET verified_at = ? WHERE id = ?", [stale, ids["Hal"]])
        # A Helsinki fixed line, stored before mobiles were checked: SMS cannot reach it.
        db.execute("UPDATE person SET mobile = '+358912345678' WHERE id = ?", [ids["Ivy"]])
        # A template saved by an older version, with a placeholder that does not exist.
        db.execute(
            "INSERT INTO template (name, body, updated_at) VALUES ('alert_sms', ?, ?)",
            ["{incident_code} {titel} {reply_help}", to_iso(now)],
        )
    directory.deactivate_person(ids["Dm2"])  # the rotation now has a gap every other day
    return ids


@pytest.fixture
def crafted(context: Context) -> Iterator[Context]:
    craft(context.store)
    yield context


def failing(ctx: Context) -> set[tuple[str, str]]:
    return {(f.check, f.subject) for f in readiness(ctx).failing}


def test_each_listed_gap_is_flagged_and_nothing_else(crafted: Context) -> None:
    assert failing(crafted) == {
        ("criteria", "declaration criteria"),
        ("party_seat", "Legal"),  # no representative with decision authority
        ("party_seat", "Sales"),  # no deputy
        ("group_size", "Network"),  # fewer than two active members
        ("mobile", "Ivy"),
        ("verified", "Hal"),
        ("rotation_gap", "Duty"),
        ("bridge", "conference bridge"),
        ("templates", "alert_sms"),
        ("templates", "organisation"),
    }
    found = {(f.check, f.subject): f for f in readiness(crafted).failing}
    assert "fixed line" in found[("mobile", "Ivy")].message
    assert "last: 2025-11-22" in found[("verified", "Hal")].message
    assert "unknown placeholder {titel}" in found[("templates", "alert_sms")].message
    assert all(f.fix for f in found.values()), "every failure says how to fix it"


def test_configuring_what_was_missing_clears_those_items(crafted: Context) -> None:
    crafted.settings = Settings(
        db_path=crafted.settings.db_path,
        organisation="Test Org",
        declare_criteria="Customer-facing outage",
        bridge=BridgeSettings(number="+358 9 1234 5678"),
    )
    with crafted.store.write() as db:
        db.execute("DELETE FROM template")
    assert failing(crafted) == {
        ("party_seat", "Legal"),
        ("party_seat", "Sales"),
        ("group_size", "Network"),
        ("mobile", "Ivy"),
        ("verified", "Hal"),
        ("rotation_gap", "Duty"),
    }


def test_stale_verification_follows_the_setting(crafted: Context) -> None:
    crafted.settings = Settings(db_path=crafted.settings.db_path, verify_within_days=5)
    stale = {s for c, s in failing(crafted) if c == "verified"}
    assert stale == {"Ann", "Bo", "Cy", "Di", "Ed", "Fay", "Hal", "Ivy", "Dm1"}  # not Gus, Dm2


def test_empty_database_says_where_to_start(context: Context) -> None:
    checks = failing(context)
    assert ("party_seat", "parties") in checks
    assert ("group_size", "specialist groups") in checks
    assert ("duty_rotation", "duty managers") in checks


def test_the_demo_organisation_passes(store: Store, db_path: Path) -> None:
    seed_demo(store, FROZEN_NOW)
    settings = demo_settings(Settings(db_path=db_path), TwilioSettings())
    ctx = Context(settings=settings, clock=lambda: FROZEN_NOW, _store=store)
    result = readiness(ctx)
    assert result.failing == []
    assert {f.check for f in result.findings} == {
        "criteria",
        "party_seat",
        "group_size",
        "mobile",
        "verified",
        "duty_rotation",
        "rotation_gap",
        "bridge",
        "templates",
        "timeline",
    }


def test_template_rules() -> None:
    settings = Settings(organisation="Org")
    assert template_problems({}, settings) == []  # the built-in texts are complete
    silent = template_problems({"recall": "{incident_code}: come back. {bridge}"}, settings)
    assert [(p.subject, "how to answer" in p.message) for p in silent] == [("recall", True)]
    no_code = template_problems({"test": "{organisation} test for {person_name}"}, settings)
    assert [p.subject for p in no_code] == ["test"]
    unnamed = template_problems({}, Settings())
    assert [p.subject for p in unnamed] == ["organisation"]
    assert "voice" in unnamed[0].message


# --- every fix names something that exists -----------------------------------------------

_COMMAND = re.compile(r"`(mim-console [^`]+)`")


def _all_fixes(ctx: Context) -> list[str]:
    fixes = [f.fix for f in readiness(ctx).failing]
    with ctx.store.write() as db:  # a seat rotation with one member, who may not decide
        party = db.execute("INSERT INTO party (name) VALUES ('Vendor X')").lastrowid
        person = db.execute(
            "INSERT INTO person (name, mobile, created_at, updated_at) "
            "VALUES ('Vic', '+358401000099', '2026-01-01T00:00:00+00:00', "
            "'2026-01-01T00:00:00+00:00')"
        ).lastrowid
        rotations.create_rotation(
            db,
            rotations.RotationSpec(
                name="Vendor X seat",
                shift_unit=ShiftUnit.WEEKS,
                shift_length=1,
                handoff_time=time(9, 0),
                timezone="UTC",
                start_date=date(2026, 1, 5),
                role=RotationRole.PARTY,
                party_id=party,
                handoff_weekday=0,
            ),
            [int(person or 0)],
        )
    fixes += [f.fix for f in readiness(ctx).failing]
    with ctx.store.write() as db:  # and the no-duty-rotation and empty-seat fixes
        db.execute("DELETE FROM rotation")
        db.execute("DELETE FROM party")
        db.execute("DELETE FROM specialist_group")
    fixes += [f.fix for f in readiness(ctx).failing]
    return fixes


def _resolve(words: list[str]) -> click.Command:
    command: click.Command = main
    ctx = click.Context(main)
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        found = command.get_command(ctx, words.pop(0))
        assert found is not None, f"no such command in {words}"
        command = found
    return command


def test_every_fix_names_a_real_command_and_real_options(crafted: Context) -> None:
    fixes = _all_fixes(crafted)
    commands = [m for fix in fixes for m in _COMMAND.findall(fix)]
    assert len(commands) >= 8
    for text in commands:
        words = shlex.split(text)[1:]
        command = _resolve(list(words))
        assert not isinstance(command, click.Group), f"{text!r} stops at a group"
        known = {opt for p in command.params for opt in getattr(p, "opts", [])}
        known |= {opt for p in command.params for opt in getattr(p, "secondary_opts", [])}
        used = {w for w in words if w.startswith("--")}
        assert used <= known, f"{text!r} uses options {used - known} that do not exist"
    config_keys = {k for fix in fixes for k in re.findall(r"set (\w+) = ", fix)}
    assert config_keys <= {"declare_criteria", "organisation"}
    assert config_keys <= set(Settings.__dataclass_fields__)


# --- the CLI ------------------------------------------------------------------------------


def test_cli_exit_1_and_lists_each_fix(store: Store, db_path: Path) -> None:
    craft(store, utcnow())  # the CLI runs on real time
    store.close()
    result = run(db_path, "readiness")
    assert result.exit_code == 1
    assert result.stdout.startswith("Not ready: 10 item(s) to fix")
    assert '✖ party "Sales" has no deputy' in result.stdout
    assert "fix: `mim-console party set-reps Sales PRIMARY DEPUTY…`" in result.stdout
    assert "✔ MRT seats: 2 representatives" in result.stdout  # the one passing seat, IT


def test_cli_json_shape(store: Store, db_path: Path) -> None:
    craft(store, utcnow())
    store.close()
    result = run(db_path, "readiness", "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert set(body) == {"ready", "at", "failing", "passing", "findings"}
    assert body["ready"] is False and body["failing"] == 10
    assert body["passing"] == len(body["findings"]) - 10
    for item in body["findings"]:
        assert set(item) == {"check", "ok", "subject", "message", "fix", "person_id"}
        assert (item["person_id"] is not None) == (
            item["check"] in ("mobile", "verified") and not item["ok"]
        )
        assert isinstance(item["ok"], bool)
        assert item["ok"] or item["fix"]


def test_cli_exit_0_on_the_prepared_demo(store: Store, db_path: Path, tmp_path: Path) -> None:
    seed_demo(store, utcnow())  # the CLI runs on real time
    store.close()
    config = tmp_path / "config.toml"
    config.write_text(GOOD_CONFIG, encoding="utf-8")
    result = run(db_path, "readiness", config=config)
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("Ready: every check passes")
    assert "✔ Verified contacts: all 60 verified in the last 90 days" in result.stdout
    # The first run seeded the organisation's settings into the database (issue 20): a console
    # with no config file now shows the same readiness.
    same = run(db_path, "readiness", "--json")
    assert same.exit_code == 0, same.stdout
    # A database no configured console ever opened has no bridge, criteria or name.
    other = tmp_path / "other.db"
    fresh = Store(other)
    seed_demo(fresh, utcnow())
    fresh.close()
    without = run(other, "readiness", "--json")  # no config: no bridge, criteria, name
    assert without.exit_code == 1
    body = json.loads(without.stdout)
    assert {f["check"] for f in body["findings"] if not f["ok"]} == {
        "criteria",
        "bridge",
        "templates",
    }


def test_markup_in_names_is_shown_literally(context: Context, db_path: Path) -> None:
    directory = Directory(context.store)
    directory.add_party("[bold red]Ops[/]")
    context.close()
    result = run(db_path, "readiness")
    assert "[bold red]Ops[/]" in result.stdout


# --- the console --------------------------------------------------------------------------


async def test_duty_shows_readiness_and_w_lists_every_item(context: Context) -> None:
    from textual.widgets import Static

    from mim_console.app import make_app
    from mim_console.screens.confirm import ConfirmScreen
    from mim_console.screens.duty import DutyScreen
    from mim_console.screens.readiness import ReadinessScreen
    from tests.ui_data import PEOPLE, seed_small

    seed_small(context.store, FROZEN_NOW)
    eve = PEOPLE[4][0]  # "[bold red]Eve[/] \x1b[31mEvil": shown literally
    with context.store.write() as db:
        stale = to_iso(FROZEN_NOW - timedelta(days=200))
        db.execute("UPDATE person SET verified_at = ? WHERE name = ?", [stale, eve])
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DutyScreen)
        line = str(app.screen.query_one("#readiness", Static).render())
        assert line.startswith("⚠ Not ready, 4 to fix (w: all): the criteria")
        await pilot.press("w")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ReadinessScreen)
        listing = str(app.screen.query_one("#rd-list", Static).render())
        assert "✖ Declaration criteria" in listing
        assert "✖ Conference bridge: no conference bridge is configured" in listing
        assert "[bold red]Eve[/] \\x1b[31mEvil: contact not verified" in listing
        assert "✔ MRT seats" in listing
        await pilot.press("v")  # send Eve a contact check: asks first
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        queued = context.store.query(
            "SELECT p.name, a.purpose FROM alert a JOIN person p ON p.id = a.person_id"
        )
        assert queued == [{"name": eve, "purpose": "test"}]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DutyScreen)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('verify_within_days = "90"', "verify_within_days in the config file must be a whole"),
        ("verify_within_days = 0", "not 0"),
        ("declare_criteria = 5", "declare_criteria in the config file must be text in quotes"),
        ("organisation = true", "organisation in the config file must be text"),
    ],
)
def test_wrong_setting_types_are_explained(
    db_path: Path, tmp_path: Path, line: str, message: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(line + "\n", encoding="utf-8")
    result = run(db_path, "readiness", config=config)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output


def test_through_a_real_subprocess(db_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "mim_console", "--db", str(db_path), "readiness", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    body = json.loads(done.stdout)
    assert body["ready"] is False
    assert {"criteria", "party_seat", "group_size", "duty_rotation"} <= {
        f["check"] for f in body["findings"] if not f["ok"]
    }


async def test_duty_says_ready_on_the_demo_and_v_has_nobody_to_check(
    store: Store, db_path: Path
) -> None:
    from textual.widgets import Static

    from mim_console.app import make_app
    from mim_console.screens.readiness import ReadinessScreen

    seed_demo(store, FROZEN_NOW)
    settings = demo_settings(Settings(db_path=db_path), TwilioSettings())
    ctx = Context(settings=settings, clock=lambda: FROZEN_NOW, _store=store)
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        line = app.screen.query_one("#readiness", Static)
        assert str(line.render()) == "✔ Ready: every readiness check passes (w: all)"
        assert line.has_class("ready")
        await pilot.press("w")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ReadinessScreen)
        title = str(app.screen.query_one("#rd-title", Static).render())
        assert title == "Readiness: every check passes"
        listed = str(app.screen.query_one("#rd-list", Static).render())
        assert "✔ Conference bridge: configured" in listed  # the label is not said twice
        assert "✔ MRT seats: Communications: " in listed  # a named subject still is
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, ReadinessScreen)  # nothing to ask: nobody is due
        assert any("nobody's contact check is due" in n.message for n in app._notifications)
    assert store.query("SELECT count(*) AS n FROM alert")[0]["n"] == 0
