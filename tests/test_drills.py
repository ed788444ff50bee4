"""Drills: an exercise incident runs like a real one, but everything it sends says EXERCISE,
every view and report flags it, and its report measures how fast the team assembled."""

from __future__ import annotations

import asyncio
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.css.query import NoMatches
from textual.widgets import DataTable, Static

from mim_console.app import make_app
from mim_console.cli import main
from mim_console.config import BridgeSettings, EscalationSettings, Settings
from mim_console.domain.templates import EXERCISE_PREFIX
from mim_console.notifiers.chat import ChatSender, store_resolver
from mim_console.notifiers.dispatcher import Dispatcher
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.screens.rollcall import RollCallScreen
from mim_console.screens.timeline import TimelineScreen
from mim_console.services import report
from mim_console.services.comms import CommsService
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import StandIn, Timing
from tests.conftest import FROZEN_NOW
from tests.incident_seed import FakeClock, mobile, seed
from tests.test_comms import Hooks
from tests.test_story import FAST
from tests.twilio_fixtures import standin_twilio_settings

REPLY_AFTER_S = 1.2  # replies are stamped to the second: see tests/test_story.py


async def until(check: Callable[[], bool], what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def quick_standin() -> AsyncIterator[StandIn]:
    s = StandIn(timing=Timing(sms_sent=0.05, sms_delivered=0.1, call_ringing=0.05))
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def chat_hooks() -> AsyncIterator[Hooks]:
    server = Hooks()
    await server.start()
    yield server
    await server.runner.cleanup()


def spoken(twiml: str) -> list[str]:
    return [(say.text or "").strip() for say in ET.fromstring(twiml).iter("Say")]


async def test_every_message_of_a_drill_says_exercise(
    db_path: Path, quick_standin: StandIn, chat_hooks: Hooks
) -> None:
    """Alert SMS, voice call, escalation to a deputy, help reply, standby notice, recall,
    stakeholder SMS and chat post, stand-down: all through the stand-in's request log."""
    standin = quick_standin
    rule = EscalationSettings(voice_after_min=2.0 / 60, deputy_after_min=1.5 / 60)
    settings = Settings(
        db_path=db_path,
        twilio=standin_twilio_settings(standin.url),
        bridge=BridgeSettings(number="+358 9 1234 5678", pin="4242"),
        escalation={"duty_manager": rule, "mrt": rule, "specialist": rule},
    )
    ctx = Context(settings=settings, actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    comms = CommsService(ctx)
    comms.add_to_list("Board", "+358 40 7654321", label="Chair")
    comms.add_webhook("ops", "slack", f"{chat_hooks.url}/hooks/ops")
    for name in ("Alice Ops", "Dan Biz", "Frank Comms", "Sam Spec", "Uma Spec"):
        standin.script_reply(mobile(name), "1", after=REPLY_AFTER_S)
    standin.script_reply(mobile("Tina Spec"), "what is this?", after=REPLY_AFTER_S)

    notifier = twilio_routes(
        TwilioNotifier(settings.twilio, timeout=5), ChatSender(resolve=store_resolver(ctx.store))
    )
    dispatcher = Dispatcher(
        ctx.store,
        notifier,
        config=FAST,
        receiver=svc,
        on_tick=lambda now: svc.tick(now),
    )
    task = asyncio.create_task(dispatcher.run())

    def purposes() -> set[str]:
        return {r["purpose"] for r in ctx.store.query("SELECT purpose FROM alert")}

    def all_sent() -> bool:
        rows = ctx.store.query("SELECT status FROM alert")
        return all(r["status"] not in ("queued", "sending") for r in rows)

    try:
        code = svc.declare(
            title="Payments drill", severity="SEV1", categories=["cards"], exercise=True
        ).code
        dispatcher.wake()
        # Tina's "what is this?" earns a help SMS, then silence: a voice call, then a deputy.
        await until(lambda: "help" in purposes(), "the help reply")
        await until(lambda: "escalation" in purposes(), "the voice escalation")
        await until(lambda: svc.roll_call(code).quorum.reached, "quorum")
        svc.release(code, ["Sam Spec"])
        svc.recall(code, ["Sam Spec"])
        draft = comms.draft(code, "stakeholder_update", "Payments are slow; next update 10:00")
        comms.approve(code, "stakeholder_update", draft.version, "Alice Ops")
        comms.publish(code, "stakeholder_update", draft.version, "sms", "Board")
        comms.publish(code, "stakeholder_update", draft.version, "chat")
        svc.close(code, all_clear=True)
        dispatcher.wake()
        await until(lambda: "stand_down" in purposes() and all_sent(), "everything sent")
        await until(lambda: bool(chat_hooks.received), "the chat post")
    finally:
        dispatcher.stop()
        await task
        await notifier.aclose()

    assert purposes() >= {"alert", "escalation", "help", "standby", "recall", "stakeholder"}
    assert "stand_down" in purposes()
    channels = {r["channel"] for r in ctx.store.query("SELECT DISTINCT channel FROM alert")}
    assert channels == {"sms", "voice", "chat"}

    log = standin.request_log()
    sms = [r.form["Body"] for r in log if r.method == "POST" and r.path.endswith("/Messages.json")]
    calls = [r.form["Twiml"] for r in log if r.method == "POST" and r.path.endswith("/Calls.json")]
    assert len(sms) >= 14 and calls, "the drill sent SMS and placed a call"
    for body in sms:
        assert body.startswith(EXERCISE_PREFIX), body
    for twiml in calls:
        said = spoken(twiml)
        # The callee hears EXERCISE first, and again each time the alert is read out.
        assert said and said[0].startswith(EXERCISE_PREFIX), twiml
        readings = [line for line in said if "MI-" in line]
        assert len(readings) == 2 and all(r.startswith(EXERCISE_PREFIX) for r in readings)
    posted = [payload["text"] for _, payload in chat_hooks.received]
    assert posted and all(text.startswith(EXERCISE_PREFIX) for text in posted), posted
    # Nothing left the console by any other road: every outbox row says EXERCISE too.
    for row in ctx.store.query("SELECT channel, body FROM alert"):
        text = spoken(row["body"])[0] if row["channel"] == "voice" else row["body"]
        if row["channel"] == "chat":
            text = json.loads(text)["text"]
        assert text.startswith(EXERCISE_PREFIX), row
    ctx.close()


def test_help_reply_says_exercise_only_when_every_incident_named_is_a_drill(
    db_path: Path,
) -> None:
    """A help SMS naming a real incident must never look like a drill."""
    from mim_console.services.replies import help_sms as _help_body

    clock = FakeClock(FROZEN_NOW)
    ctx = Context(Settings(db_path=db_path), clock=clock, actor="t")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    drill = svc.declare(title="Drill", severity="SEV2", categories=["cards"], exercise=True)
    real = svc.declare(title="Real", severity="SEV1", categories=["cards"])
    with ctx.store.read() as db:
        assert _help_body(db, [drill.reply_code]).startswith(EXERCISE_PREFIX)
        assert not _help_body(db, [real.reply_code]).startswith(EXERCISE_PREFIX)
        mixed = _help_body(db, [drill.reply_code, real.reply_code])
        assert not mixed.startswith(EXERCISE_PREFIX) and real.reply_code in mixed
    ctx.close()


# --- flagged in every view and report -------------------------------------------------------


@pytest.fixture
def drill_world(db_path: Path) -> Iterator[tuple[Context, FakeClock, str, str]]:
    """One drill and one real incident, both with some answers, the drill closed."""
    clock = FakeClock(FROZEN_NOW)
    ctx = Context(Settings(db_path=db_path), clock=clock, actor="tester")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    drill = svc.declare(
        title="Payments drill", severity="SEV2", categories=["cards"], exercise=True
    )
    real = svc.declare(title="Mail down", severity="SEV1")
    clock.advance(minutes=2)
    svc.mark_joined(drill.code, ["Alice Ops"])
    clock.advance(minutes=3)
    svc.mark_joined(drill.code, ["Dan Biz", "Sam Spec"])
    svc.mark_unable(drill.code, ["Tina Spec"])
    clock.advance(minutes=4)
    svc.mark_joined(drill.code, ["Frank Comms"])
    yield ctx, clock, drill.code, real.code
    ctx.close()


def cli(ctx: Context, *args: str) -> str:
    # Wide enough that Rich does not wrap "EXERCISE MI-…" across two lines.
    result = CliRunner().invoke(main, ["--db", str(ctx.db_path), *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_views_flag_the_drill(drill_world: tuple[Context, FakeClock, str, str]) -> None:
    ctx, _, drill, real = drill_world
    listing = cli(ctx, "incidents")
    line = next(x for x in listing.splitlines() if drill in x)
    assert "EXERCISE" in line
    assert "EXERCISE" not in next(x for x in listing.splitlines() if real in x)
    assert json.loads(cli(ctx, "incidents", "--json"))[0]["exercise"] in (True, False)
    flags = {i["code"]: i["exercise"] for i in json.loads(cli(ctx, "incidents", "--json"))}
    assert flags == {drill: True, real: False}
    assert cli(ctx, "status", drill).lstrip().startswith("EXERCISE")
    assert "EXERCISE" not in cli(ctx, "status", real)
    assert json.loads(cli(ctx, "status", drill, "--json"))["incident"]["exercise"] is True
    assert "EXERCISE" in cli(ctx, "timeline", drill).splitlines()[0]
    assert "EXERCISE" not in cli(ctx, "timeline", real).splitlines()[0]


def test_reports_flag_the_drill_and_time_its_assembly(
    drill_world: tuple[Context, FakeClock, str, str],
) -> None:
    ctx, clock, drill, real = drill_world
    IncidentService(ctx).close(drill)
    md = report.render(ctx, drill, "md")
    html = report.render(ctx, drill, "html")
    assert md.startswith("# EXERCISE - Lessons learnt") and "**EXERCISE" in md
    assert "<title>EXERCISE - Lessons learnt" in html and 'class="exercise"' in html
    # First alert at the declaration; Alice 2 min, Dan 5 min, Frank (last party) 9 min.
    assert "| First alert | at 2026-03-02 08:00:00 |" in md
    assert "| Quorum: IT Operations | 2 min 00 s |" in md
    assert "| Quorum: Business | 5 min 00 s |" in md
    assert "| Quorum: Communications | 9 min 00 s |" in md
    assert "| Full quorum | 9 min 00 s |" in md
    never = md.split("### Drill: never answered")[1].split("###")[0]
    assert "Uma Spec" in never and "Tina Spec" not in never and "Alice Ops" not in never
    assert "<h3>Drill: time to assemble from the first alert</h3>" in html
    assert "<td>Full quorum</td><td>9 min 00 s</td>" in html

    data = json.loads(cli(ctx, "report", drill, "--format", "json"))
    assert data["incident"]["exercise"] is True
    d = data["drill"]
    assert d["first_alert_at"] == "2026-03-02T08:00:00+00:00"
    assert d["full_quorum_after_first_alert_s"] == 540.0
    assert {p["party"]: p["after_s"] for p in d["party_quorum_after_first_alert_s"]} == {
        "IT Operations": 120.0,
        "Business": 300.0,
        "Communications": 540.0,
    }
    assert [p["person"] for p in d["never_answered"]] == ["Uma Spec"]

    real_md = report.render(ctx, real, "md")
    assert "EXERCISE" not in real_md and "Drill:" not in real_md
    real_json = json.loads(cli(ctx, "report", real, "--json"))  # --json = --format json
    assert real_json["incident"]["exercise"] is False
    assert real_json["drill"]["full_quorum_after_first_alert_s"] is None


async def test_console_screens_flag_the_drill(
    drill_world: tuple[Context, FakeClock, str, str],
) -> None:
    ctx, _, drill, real = drill_world
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(120, 30)) as pilot:

        async def shows(check: Callable[[], bool]) -> bool:
            for _ in range(100):
                if check():
                    return True
                await pilot.pause(0.05)
            return False

        def duty_rows() -> dict[str, str]:
            try:
                table = app.screen.query_one("#incidents", DataTable)
            except NoMatches:
                return {}
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            return {str(row[0]): str(row[1]) for row in rows}

        assert await shows(lambda: drill in duty_rows())
        titles = duty_rows()
        # The flag opens the title column (28 wide): the code column (12) would cut it off.
        assert titles[drill].startswith("EXERCISE") and titles[drill].endswith("Payments drill")
        assert titles[real] == "Mail down"

        app.push_screen(RollCallScreen(drill))

        def header() -> str:
            try:
                return str(app.screen.query_one("#rc-header", Static).render())
            except NoMatches:  # not composed yet
                return ""

        assert await shows(lambda: drill in header() and "loading" not in header())
        assert header().startswith("EXERCISE")  # first: a long title never hides it

        app.push_screen(TimelineScreen(drill))

        def title() -> str:
            try:
                return str(app.screen.query_one("#tl-title", Static).render())
            except NoMatches:
                return ""

        assert await shows(lambda: "events" in title())
        assert "EXERCISE" in title()
        app.push_screen(TimelineScreen(real))
        assert await shows(lambda: "events" in title() and real in title())
        assert "EXERCISE" not in title()


def test_drill_never_moves_the_real_numbers_property(
    drill_world: tuple[Context, FakeClock, str, str],
) -> None:
    """Closing and adding drills changes `stats --exercises` only, never `stats`."""
    ctx, clock, drill, real = drill_world
    before = json.loads(cli(ctx, "stats", "--json"))
    svc = IncidentService(ctx)
    for minutes in (1, 20, 45):
        clock.advance(hours=1)
        code = svc.declare(title="More drill", severity="SEV3", exercise=True).code
        clock.advance(minutes=minutes)
        svc.mark_joined(code, ["Alice Ops", "Dan Biz", "Frank Comms"])
        svc.close(code)
    assert json.loads(cli(ctx, "stats", "--json")) == before
    drills = json.loads(cli(ctx, "stats", "--exercises", "--json"))
    assert drills["incidents"] == 4 and drills["assembled"] == 4
    assert drills["median_assemble_s"] == pytest.approx(timedelta(minutes=14.5).total_seconds())
    assert isinstance(datetime.fromisoformat(drills["per_incident"][0]["declared_at"]), datetime)
    assert re.fullmatch(r"MI-\d{4}-\d{3}", drills["per_incident"][0]["code"])
