"""One time zone per organisation: the ``time_zone`` setting (else the duty rotation's) is the
zone of every time a person reads, said once per table, screen or document; JSON stays UTC.

The machine runs on UTC, then on America/New_York: neither leaks into what is shown.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from mim_console.app import make_app
from mim_console.cli import main
from mim_console.config import Settings
from mim_console.services.context import Context
from mim_console.services.demo import seed
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import FakeClock
from tests.screen_text import screen_lines

HELSINKI = ZoneInfo("Europe/Helsinki")
LABEL = "times in Europe/Helsinki"


@pytest.fixture(params=["UTC", "America/New_York"])
def machine_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def run(db_path: Path, *args: str) -> Result:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        main, ["--db", str(db_path), *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result


def flat(result: Result) -> str:
    return " ".join(result.stdout.split())


def wall(iso: str, pattern: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromisoformat(iso).astimezone(HELSINKI).strftime(pattern)


@pytest.fixture
def incident(db_path: Path, machine_zone: str) -> str:
    run(db_path, "demo", "--seed-only")
    run(db_path, "settings", "set", "time_zone", "Europe/Helsinki")
    code = run(db_path, "declare", "-t", "Card payments failing", "--yes").stdout.split()[0]
    run(db_path, "note", code, "Vendor ticket opened")
    return code


def test_cli_tables_and_documents_are_in_the_organisations_zone(
    db_path: Path, incident: str, machine_zone: str
) -> None:
    code = incident
    found = json.loads(run(db_path, "incidents", "--json").stdout)
    declared = found[0]["declared_at"]
    assert declared.endswith("+00:00")  # JSON: UTC ISO-8601
    helsinki = wall(declared)
    machine = datetime.fromisoformat(declared).astimezone(ZoneInfo(machine_zone))
    assert machine.strftime("%H:%M") != wall(declared, "%H:%M")  # the zones differ now

    for args in (["incidents"], ["status", code], ["timeline", code]):
        out = flat(run(db_path, *args))
        assert out.count(LABEL) == 1, (args, out)
        assert helsinki in out, (args, out)
        assert machine.strftime("%Y-%m-%d %H:%M") not in out, args
        assert " UTC" not in out and "EET" not in out, args

    events = json.loads(run(db_path, "timeline", code, "--json").stdout)
    assert all(e["at"].endswith("+00:00") for e in events)

    duty = flat(run(db_path, "duty"))
    assert duty.count(LABEL) == 1 and "EET" not in duty
    board = json.loads(run(db_path, "duty", "--json").stdout)
    until = board["duty_manager"]["until"]
    assert until.endswith("+00:00")
    assert f"until {wall(until, '%a %Y-%m-%d %H:%M')}" in duty

    sheet = run(db_path, "callsheet", code).stdout
    printed = json.loads(run(db_path, "callsheet", code, "--json").stdout)["generated_at"]
    assert printed.endswith("+00:00")
    assert f"Printed {wall(printed)} ({LABEL})" in sheet
    assert sheet.count("times in") == 1

    for fmt in ("md", "html"):
        report = run(db_path, "report", code, "--format", fmt).stdout
        assert report.count(LABEL) == 1, fmt
        assert wall(declared, "%Y-%m-%d %H:%M:%S") in report, fmt
        assert " UTC" not in report, fmt
    report_json = json.loads(run(db_path, "report", code, "--format", "json").stdout)
    assert report_json["incident"]["declared_at"] == declared


def test_the_setting_wins_over_the_duty_rotations_zone(db_path: Path, machine_zone: str) -> None:
    run(db_path, "demo", "--seed-only")  # the demo's duty rotation is in Helsinki
    run(db_path, "settings", "set", "time_zone", "Asia/Tokyo")
    code = run(db_path, "declare", "-t", "Mail delayed", "--yes").stdout.split()[0]
    declared = json.loads(run(db_path, "incidents", "--json").stdout)[0]["declared_at"]
    tokyo = datetime.fromisoformat(declared).astimezone(ZoneInfo("Asia/Tokyo"))
    out = flat(run(db_path, "status", code))
    assert "times in Asia/Tokyo" in out and tokyo.strftime("%Y-%m-%d %H:%M") in out
    assert "times in Asia/Tokyo" in flat(run(db_path, "duty"))


@pytest.fixture
def on_screen(db_path: Path, machine_zone: str) -> Iterator[tuple[Context, str]]:
    """The demo organisation with the setting, an incident declared at FROZEN_NOW."""
    clock = FakeClock(FROZEN_NOW)
    setup = Context(settings=Settings(db_path=db_path), clock=clock, actor="tester")
    seed(setup)
    code = IncidentService(setup).declare(title="Card payments failing", severity="SEV1").code
    clock.advance(minutes=3)
    IncidentService(setup).note(code, "Vendor ticket opened")
    setup.close()
    run(db_path, "settings", "set", "time_zone", "Europe/Helsinki")
    ctx = Context(settings=Settings(db_path=db_path), clock=clock, actor="tester")
    yield ctx, code
    ctx.close()


async def shown_after(ctx: Context, *keys: str) -> str:
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("", *keys):
            if key:
                await pilot.press(key)
            for _ in range(3):
                await pilot.pause()
                await app.workers.wait_for_complete()
        await pilot.pause()
        return " ".join(" ".join(screen_lines(app)).split())  # a wrapped line reads on


async def test_roll_call_and_timeline_screens_show_the_organisations_wall_clock(
    on_screen: tuple[Context, str], machine_zone: str
) -> None:
    ctx, _ = on_screen
    declared = FROZEN_NOW.astimezone(HELSINKI)  # 08:00 UTC is 10:00 in Helsinki
    machine = FROZEN_NOW.astimezone(ZoneInfo(machine_zone))
    roll_call = await shown_after(ctx, "r")
    assert f"declared {declared:%H:%M}" in roll_call, roll_call
    assert roll_call.count(LABEL) == 1, roll_call
    assert f"declared {machine:%H:%M}" not in roll_call
    timeline = await shown_after(ctx, "t")
    assert timeline.count(LABEL) == 1, timeline
    assert f"{declared:%d.%m %H:%M}" in timeline, timeline
    assert f"{machine:%d.%m %H:%M}" not in timeline


async def test_report_screen_says_its_zone_once(
    on_screen: tuple[Context, str], machine_zone: str
) -> None:
    ctx, _ = on_screen
    declared = FROZEN_NOW.astimezone(HELSINKI)
    report = await shown_after(ctx, "r", "p")
    assert report.count(LABEL) == 1, report
    assert f"Declared │ {declared:%Y-%m-%d %H:%M:%S}" in report, report
