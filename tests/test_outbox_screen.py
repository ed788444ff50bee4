"""The outbox on screen (O from Duty and the roll call) and `outbox retry|cancel`: a retried
alert reaches the stand-in over HTTP exactly once, a cancelled one never; both are timeline
events and appear in the report; anything already sent is refused."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mim_console.app import make_app
from mim_console.cli import main
from mim_console.config import Settings
from mim_console.data import outbox
from mim_console.domain.twilio_errors import describe
from mim_console.errors import UserError
from mim_console.screens.confirm import ConfirmScreen
from mim_console.screens.duty import DutyScreen
from mim_console.screens.outbox import OutboxScreen
from mim_console.screens.rollcall import RollCallScreen
from mim_console.services import outbox_steer, report
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import ThreadedStandIn
from mim_console.widgets.fittable import FitTable
from tests.conftest import FROZEN_NOW
from tests.test_app import FAST, wait_for
from tests.test_desk_screens import cut_cells
from tests.twilio_fixtures import standin_twilio_settings
from tests.ui_data import seed_small

SENT = "outbound-api"


def _declare(ctx: Context) -> tuple[str, list[outbox.Alert]]:
    seed_small(ctx.store, FROZEN_NOW)
    code = IncidentService(ctx).declare(title="DB down", severity="SEV2").code
    with ctx.store.read() as db:
        alerts = outbox.list_alerts(db)[::-1]
    assert len(alerts) >= 3
    return code, alerts


def _fail(ctx: Context, alert_id: int) -> None:
    with ctx.store.write() as db:
        outbox.mark_failed(db, alert_id, FROZEN_NOW, code=30003, reason="Unreachable handset")


def _wait(ctx: Context, alert_id: int) -> None:
    """Queued, next try in an hour: a backoff the dispatcher would sit out."""
    with ctx.store.write() as db:
        later = FROZEN_NOW + timedelta(hours=1)
        outbox.mark_retry(db, alert_id, later, code=None, error="timed out", uncertain=False)


def _rows(ctx: Context) -> list[outbox.Alert]:
    with ctx.store.read() as db:
        return outbox.list_alerts(db)


def _kinds(ctx: Context, code: str) -> list[tuple[str, str]]:
    return [(e.kind, e.text) for e in IncidentService(ctx).timeline(code) if "alert_" in e.kind]


async def test_retry_a_failed_alert_from_duty_reaches_the_standin_once(
    db_path: Path, threaded_standin: ThreadedStandIn
) -> None:
    settings = Settings(db_path=db_path, twilio=standin_twilio_settings(threaded_standin.url))
    ctx = Context(settings=settings, clock=lambda: FROZEN_NOW, actor="tester")
    code, alerts = _declare(ctx)
    failed = alerts[0]
    _fail(ctx, failed.id)
    app = make_app(ctx, dispatch_config=FAST)
    async with app.run_test(size=(80, 24)) as pilot:
        others = len(alerts) - 1
        await wait_for(lambda: len(threaded_standin.messages(direction=SENT)) == others)
        assert isinstance(app.screen, DutyScreen)
        await pilot.press("O")
        screen = app.screen
        assert isinstance(screen, OutboxScreen)
        await wait_for(lambda: screen.loads > 0)
        assert screen.current() is not None and screen.current().id == failed.id  # failed first
        table = screen.query_one(FitTable)
        assert cut_cells(table) == []
        assert "failed" in str(table.get_row(str(failed.id))[3])
        # Twilio's error in words: cut with "…" at 80 columns, whole in the detail line.
        reason = describe(30003).reason
        detail = str(screen.query_one("#ob-detail").render())
        assert f"{reason} (30003)" in detail and reason not in str(table.get_row(str(failed.id)))
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(lambda: len(threaded_standin.messages(to=failed.to_number)) == 1)
        await asyncio.sleep(0.8)  # several dispatcher turns: never a second one
        assert len(threaded_standin.messages(to=failed.to_number, direction=SENT)) == 1
        assert len(threaded_standin.messages(direction=SENT)) == len(alerts)
        assert outbox_steer.alert(ctx, failed.id).provider_sid is not None
        # Already accepted now: a second retry is refused, nothing is queued.
        await wait_for(lambda: screen.current() is not None and screen.current().group != "failed")
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, OutboxScreen)
    assert [k for k, _ in _kinds(ctx, code)] == ["alert_retried"]
    assert "retried by tester" in _kinds(ctx, code)[0][1]
    assert "; retried by tester" in report.render(ctx, code)
    ctx.close()


async def test_cancel_a_queued_alert_from_the_roll_call_it_is_never_sent(
    db_path: Path, threaded_standin: ThreadedStandIn
) -> None:
    settings = Settings(db_path=db_path, twilio=standin_twilio_settings(threaded_standin.url))
    ctx = Context(settings=settings, clock=lambda: FROZEN_NOW, actor="tester")
    code, alerts = _declare(ctx)
    target = alerts[1]
    name = target.person_name or target.to_number
    app = make_app(ctx, dispatch=False)  # nothing leaves until the dispatcher runs below
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, RollCallScreen))
        await pilot.press("O")
        screen = app.screen
        assert isinstance(screen, OutboxScreen) and screen.incident_ref == code
        await wait_for(lambda: screen.loads > 0)
        assert {a.id for a in screen.alerts} == {a.id for a in alerts}
        screen.query_one(FitTable).move_cursor(row=[a.id for a in screen.alerts].index(target.id))
        await pilot.pause()
        assert f"#{target.id}" in str(screen.query_one("#ob-detail").render())
        await pilot.press("x")
        await pilot.pause()
        assert "never be sent" in str(app.screen.question)  # type: ignore[attr-defined]
        await pilot.press("y")
        await wait_for(lambda: outbox_steer.alert(ctx, target.id).status == "cancelled")
        await wait_for(lambda: any(a.status == "cancelled" for a in screen.alerts))
        assert cut_cells(screen.query_one(FitTable)) == []
    assert _kinds(ctx, code) == [("alert_cancelled", f"alert to {name} cancelled by tester")]
    # The dispatcher sends the rest; the cancelled one never goes. Its clock is the real one,
    # months after the frozen declaration, so every timer is due: the others get their voice
    # call, the person whose alert was cancelled none.
    app = make_app(ctx, dispatch_config=FAST)
    async with app.run_test(size=(80, 24)):
        await wait_for(lambda: len(threaded_standin.messages(direction=SENT)) == len(alerts) - 1)
        await wait_for(lambda: len(_rows(ctx)) == 2 * len(alerts) - 1)
    assert threaded_standin.messages(to=target.to_number) == []
    assert [(a.id, a.status) for a in _rows(ctx) if a.person_id == target.person_id] == [
        (target.id, "cancelled")
    ]
    assert {a.purpose for a in _rows(ctx) if a.id not in {x.id for x in alerts}} == {"escalation"}
    assert "; cancelled by tester" in report.render(ctx, code)
    ctx.close()


def test_retry_and_cancel_refuse_what_was_sent(context: Context) -> None:
    code, alerts = _declare(context)
    sent, undelivered, waiting = alerts[0], alerts[1], alerts[2]
    with context.store.write() as db:
        outbox.mark_accepted(db, sent.id, "SM" + "1" * 32, "delivered", FROZEN_NOW)
        outbox.mark_accepted(db, undelivered.id, "SM" + "2" * 32, "undelivered", FROZEN_NOW)
    _wait(context, waiting.id)
    for step in (outbox_steer.retry, outbox_steer.cancel):
        with pytest.raises(UserError, match="already sent"):
            step(context, sent.id)
    with pytest.raises(UserError, match="already sent"):
        outbox_steer.cancel(context, undelivered.id)
    # Accepted, then undelivered: that attempt is over, so the retry is a new alert.
    words = outbox_steer.retry(context, undelivered.id)
    assert "as alert" in words
    again = outbox_steer.alert(context, max(a.id for a in alerts) + 1)
    assert (again.to_number, again.body, again.status) == (
        undelivered.to_number,
        undelivered.body,
        "queued",
    )
    assert outbox_steer.alert(context, undelivered.id).status == "undelivered"
    # A waiting alert becomes due now: the same row.
    assert outbox_steer.alert(context, waiting.id).next_attempt_at > FROZEN_NOW
    outbox_steer.retry(context, waiting.id)
    assert outbox_steer.alert(context, waiting.id).next_attempt_at <= context.clock()
    with pytest.raises(UserError, match="no alert"):
        outbox_steer.retry(context, 10**9)
    outbox_steer.cancel(context, waiting.id)
    with pytest.raises(UserError, match="was cancelled"):
        outbox_steer.retry(context, waiting.id)
    assert [k for k, _ in _kinds(context, code)] == [
        "alert_retried",
        "alert_retried",
        "alert_cancelled",
    ]
    assert f"retried as alert {again.id} by" in report.render(context, code)


def test_cli_retry_and_cancel(db_path: Path, context: Context) -> None:
    code, alerts = _declare(context)
    failed, queued = alerts[0], alerts[1]
    _fail(context, failed.id)
    runner = CliRunner()
    base = ["--db", str(db_path), "outbox"]
    asked = runner.invoke(main, [*base, "cancel", str(queued.id)], input="n\n")
    assert asked.exit_code == 1 and "not cancel" in asked.output
    assert outbox_steer.alert(context, queued.id).status == "queued"
    done = runner.invoke(main, [*base, "cancel", str(queued.id), "--yes", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["status"] == "cancelled"
    again = runner.invoke(main, [*base, "cancel", str(queued.id), "--yes"])
    assert again.exit_code == 1 and "Traceback" not in again.output
    retried = runner.invoke(main, [*base, "retry", str(failed.id), "--yes"])
    assert retried.exit_code == 0 and "queued again" in retried.output
    assert outbox_steer.alert(context, failed.id).status == "queued"
    missing = runner.invoke(main, [*base, "retry", "999999", "--yes"])
    assert missing.exit_code == 1 and "no alert 999999" in missing.output
    bad = runner.invoke(main, [*base, "retry", "x"])
    assert bad.exit_code == 2
    listing = runner.invoke(main, [*base, "--json"])
    assert listing.exit_code == 0 and json.loads(listing.output)["counts"]["queued"] >= 1
    assert [k for k, _ in _kinds(context, code)] == ["alert_cancelled", "alert_retried"]
