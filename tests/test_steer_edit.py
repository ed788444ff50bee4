"""Changing a running incident (`incident edit`) and recording service restored (`restored`):
each change is a timeline event, and the report and `stats` show time to restore and time to
close apart."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mim_console.cli import main
from mim_console.config import Settings
from mim_console.data.store import Store
from mim_console.domain.incident import Incident
from mim_console.domain.steering import changes, outcome
from mim_console.errors import UserError
from mim_console.services import report
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.services.report_rows import summary_rows
from mim_console.services.steering import Steering
from tests.conftest import FROZEN_NOW
from tests.incident_seed import FakeClock, seed


@pytest.fixture
def db(db_path: Path) -> Path:
    store = Store(db_path)
    seed(store, FROZEN_NOW)
    store.close()
    return db_path


def run(db: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", str(db), *args])


def declare(db: Path, *extra: str) -> str:
    result = run(db, "declare", "-t", "Network down", "-s", "SEV2", "--yes", *extra)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def events(db: Path, code: str) -> list[dict[str, Any]]:
    result = run(db, "timeline", code, "--json")
    assert result.exit_code == 0, result.output
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def test_edit_records_each_change_and_hints_at_covering_groups(db: Path) -> None:
    code = declare(db, "-c", "network")
    done = run(
        db, "incident", "edit", code, "--severity", "sev1", "--title", "Cards [b]down[/b]",
        "--category", "cards", "--drop-category", "network",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"{code}: severity SEV2 → SEV1" in done.stdout
    assert "title “Network down” → “Cards [b]down[/b]”" in done.stdout  # markup kept literal
    assert "categories + cards; − network" in done.stdout
    words = " ".join(done.stdout.split())  # Rich wraps at the terminal's width
    assert f'`mim-console page {code} --group "Payments"` pages it' in words
    changed = [e for e in events(db, code) if e["kind"] == "changed"]
    assert [(e["data"]["field"], e["data"]["from"], e["data"]["to"]) for e in changed] == [
        ("severity", "SEV2", "SEV1"),
        ("title", "Network down", "Cards [b]down[/b]"),
        ("categories", ["network"], ["cards"]),
    ]
    status = json.loads(run(db, "status", code, "--json").stdout)["incident"]
    assert (status["severity"], status["title"], status["categories"]) == (
        "SEV1",
        "Cards [b]down[/b]",
        ["cards"],
    )
    # The hint's command pages the group (no one of it was on the incident yet).
    paged = run(db, "page", code, "--group", "Payments", "--yes")
    assert paged.exit_code == 0 and paged.stdout.startswith("paged 3 more: Sam Spec")
    # The severity change is in the report's timeline.
    md = run(db, "report", code)
    assert md.exit_code == 0
    assert "severity SEV2 → SEV1" in md.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--severity", "SEV9"), 'severity "SEV9" is not one of SEV1, SEV2, SEV3'),
        (("--title", "   "), "the incident needs a title"),
        (("--title", "x" * 201), "the title is too long (201 characters, at most 200)"),
        (("--description", "d" * 4001), "the description is too long"),
        (("--category", "c" * 101), "is too long"),
        (("--severity", "SEV2"), "nothing to change"),
        ((), "nothing to change"),
    ],
)
def test_edit_refusals_exit_1_and_change_nothing(
    db: Path, args: tuple[str, ...], message: str
) -> None:
    code = declare(db)
    before = events(db, code)
    result = run(db, "incident", "edit", code, *args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert events(db, code) == before


def test_edit_changes_nothing_on_a_closed_incident(db: Path) -> None:
    code = declare(db)
    assert run(db, "close", code).exit_code == 0
    result = run(db, "incident", "edit", code, "--severity", "SEV1")
    assert result.exit_code == 1 and "is closed" in result.stderr


def test_restored_at_appears_in_status_timeline_report_and_stats(db: Path) -> None:
    clock = FakeClock(FROZEN_NOW)
    ctx = Context(settings=Settings(db_path=db), clock=clock, actor="tester")
    inc = IncidentService(ctx).declare(title="Down", severity="SEV2", categories=["payments"])
    clock.advance(minutes=50)
    restored = Steering(ctx).restored(inc.code, FROZEN_NOW + timedelta(minutes=42))
    assert restored.restored_at == FROZEN_NOW + timedelta(minutes=42)
    assert restored.status.value == "restored"
    with pytest.raises(UserError, match="already restored at 2026-03-02 08:42 UTC"):
        Steering(ctx).restored(inc.code)
    clock.advance(minutes=70)  # closed two hours after the declaration
    IncidentService(ctx).close(inc.code)
    ctx.close()

    status = json.loads(run(db, "status", inc.code, "--json").stdout)["incident"]
    assert status["restored_at"] == "2026-03-02T08:42:00+00:00"
    kinds = [(e["kind"], e["text"]) for e in events(db, inc.code)]
    assert ("restored", "service restored at 2026-03-02 08:42 UTC: business as usual") in kinds
    figures = json.loads(run(db, "report", inc.code, "--format", "json").stdout)["figures"]
    assert (figures["time_to_restore_s"], figures["time_to_close_s"]) == (42 * 60.0, 120 * 60.0)
    md = run(db, "report", inc.code).stdout
    assert "| Time to restore | 42 min 00 s |" in md and "| Time to close | 2 h 00 min |" in md
    stats = json.loads(run(db, "stats", "--json").stdout)
    assert (stats["median_restore_s"], stats["median_close_s"]) == (42 * 60.0, 120 * 60.0)
    assert stats["per_incident"][0]["restore_s"] == 42 * 60.0
    table = run(db, "stats").stdout
    assert "median time to restore service │ 42 min 00 s" in table


def test_restored_by_cli_bounds_and_correction(db: Path) -> None:
    code = declare(db)
    for at, message in (
        ("2026-03-02T07:00Z", "before the incident was declared"),
        ("2199-03-02T07:00Z", "is in the future"),
        ("3000-01-01T00:00Z", "outside 1970-01-01 … 2200-01-01"),
        ("yesterday", "not ISO 8601"),
    ):
        result = run(db, "restored", code, "--at", at)
        assert result.exit_code in (1, 2), (at, result.output)
        assert message in result.output, (at, result.output)
        assert "Traceback" not in result.output
    assert json.loads(run(db, "status", code, "--json").stdout)["incident"]["restored_at"] is None
    first = run(db, "restored", code, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["status"] == "restored"
    again = run(db, "restored", code)
    assert again.exit_code == 1 and "already restored" in again.stderr
    declared_at = json.loads(first.stdout)["declared_at"]
    corrected = run(db, "restored", code, "--at", declared_at)
    assert corrected.exit_code == 0, corrected.output
    texts = [e["text"] for e in events(db, code) if e["kind"] == "restored"]
    assert len(texts) == 2 and texts[1].startswith("service restored time corrected:")


def test_a_close_without_a_restore_has_no_time_to_restore(context: Context) -> None:
    seed(context.store, FROZEN_NOW)
    service = IncidentService(context)
    inc = service.declare(title="Down", severity="SEV2", categories=["payments"])
    closed = service.close(inc.code)
    ends = outcome(closed)
    assert ends.to_restore is None and not ends.restore_recorded
    assert ends.to_close == timedelta(0)
    rows = dict(summary_rows(report.build(context, inc.code))["figures"])
    assert rows["Time to restore"] == "not recorded apart from the close"


def test_changes_is_pure_and_leaves_out_what_stays() -> None:
    inc = Incident(1, "MI-2026-001", "A2", "Down", "SEV2", FROZEN_NOW, categories=("a", "B"))
    assert changes(inc, severity="sev2", title=" Down ", categories=["A", "b"]) == []
    found = changes(inc, description="why", categories=["a", "b", "c"])
    assert [c.text for c in found] == ["description: “why”", "categories + c"]


# --- the roll call's E and R, by keys ------------------------------------------------------------


async def test_edit_form_and_restored_key_on_the_roll_call(context: Context) -> None:
    import asyncio

    from textual.widgets import Input, Static

    from mim_console.app import make_app
    from mim_console.screens.confirm import ConfirmScreen
    from mim_console.screens.incident_edit import IncidentEditScreen
    from mim_console.screens.rollcall import RollCallScreen
    from tests.test_app import wait_for
    from tests.ui_data import seed_small

    seed_small(context.store, FROZEN_NOW)
    service = IncidentService(context)
    inc = service.declare(title="DB down", severity="SEV1", categories=["database"])
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(RollCallScreen(inc.code))
        await wait_for(
            lambda: isinstance(app.screen, RollCallScreen) and app.screen.view is not None
        )
        await pilot.press("E")
        await wait_for(lambda: isinstance(app.screen, IncidentEditScreen))
        form = app.screen
        assert isinstance(form, IncidentEditScreen)
        assert form.query_one("#edit-title", Input).value == "DB down"
        await pilot.press("tab")  # the severity
        await pilot.press("enter", "down", "enter")  # SEV1 -> SEV2
        await pilot.press("tab", "tab")  # the categories
        await pilot.press("end", *", network")
        offer = form.query_one("#edit-offer", Static)
        await wait_for(lambda: "Network team (covers network)? 1 new" in str(offer.render()))
        await pilot.press("ctrl+g")
        assert "✔ page Network team" in str(offer.render())
        await pilot.press("ctrl+s")
        await wait_for(lambda: any(e.kind == "paged_more" for e in service.timeline(inc.code)))
        texts = [e.text for e in service.timeline(inc.code) if e.kind in ("changed", "paged_more")]
        assert texts == [
            "severity SEV1 → SEV2",
            "categories + network",
            "paged 1 more: Mikko Ojala (already on the incident: Kaisa Mäkinen)",
        ]
        assert service.incident(inc.code).severity == "SEV2"
        await pilot.press("R")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(lambda: service.incident(inc.code).restored_at is not None)
        await asyncio.sleep(0.1)
    assert service.incident(inc.code).restored_at == FROZEN_NOW
    md = report.render(context, inc.code)
    assert "severity SEV1 → SEV2" in md and "| Time to restore | 0 s |" in md
