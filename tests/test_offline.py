"""The offline story: Twilio cannot be reached, and everything but sending still works.

The API URL points at a closed loopback port: declare, roll call by manual calls, release,
recall, notes, spokesperson, close, report and call sheet all work; every alert stays queued
(tried, never dropped, never marked sent) until the close withdraws the join alerts nobody
should get after the all-clear. Then a stand-in comes up on that very port and the queue (the
all-clear among it) goes out, each alert accepted exactly once (the stand-in's request log).

The CLI part runs in one child process; where the machine allows it (``unshare -rn``), inside
a network namespace with no interface up at all, so nothing can reach anything.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mim_console.config import EscalationSettings, Settings
from mim_console.data.store import Store
from mim_console.domain.backoff import BackoffPolicy
from mim_console.domain.incident import State
from mim_console.notifiers.dispatcher import Dispatcher, DispatcherConfig
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.services import callsheet, report
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDER,
    StandIn,
    Timing,
)
from tests.conftest import FROZEN_NOW
from tests.incident_seed import mobile, seed
from tests.twilio_fixtures import settings_of, standin_twilio_settings

FAST = DispatcherConfig(
    lease_ttl_s=1.0,
    heartbeat_s=0.2,
    request_timeout_s=2.0,
    tick_s=0.1,
    status_poll_s=0.2,
    status_poll_max_s=0.5,
    inbound_poll_s=0.2,
    drain_s=2.0,
    backoff=BackoffPolicy(base_s=0.05, cap_s=0.3, max_age_min=10),
)
# Nobody is escalated by timer during the test: the calls are the duty manager's.
PATIENT = EscalationSettings(voice_after_min=600, deputy_after_min=600)
SENT = ("accepted", "sent", "delivered", "queued-at-provider")


def closed_port() -> int:
    """A loopback port nothing listens on (bound once to find it free, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alerts(store: Store) -> list[dict[str, Any]]:
    return store.query(
        "SELECT id, to_number, channel, purpose, status, attempts, provider_sid, body, "
        "last_error FROM alert ORDER BY id"
    )


def waiting(store: Store) -> list[dict[str, Any]]:
    """Every alert but those a close withdrew: what must go out once Twilio answers."""
    return [a for a in alerts(store) if a["status"] != "failed"]


def accepted_posts(standin: StandIn) -> Counter[tuple[str, str]]:
    """(To, Body) of every send the stand-in accepted: each alert must appear once."""
    return Counter(
        (r.form.get("To", ""), r.form.get("Body", ""))
        for r in standin.request_log()
        if r.method == "POST" and r.path.endswith("Messages.json") and r.status in (200, 201)
    )


async def until(check: Callable[[], bool], within: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


def the_story_by_hand(ctx: Context) -> str:
    """The incident story with nothing sent: every roll-call move is a logged phone call."""
    svc = IncidentService(ctx)
    code = svc.declare(title="Card payments failing", severity="SEV1", categories=["cards"]).code
    for name in ("Alice Ops", "Frank Comms", "Sam Spec", "Tina Spec", "Uma Spec"):
        assert svc.log_call(code, name, "joining") == "joined"
    assert svc.log_call(code, "Dan Biz", "unable", "abroad") == "unable"  # Erin is paged
    assert svc.log_call(code, "Erin Biz", "voicemail") == "escalated"
    assert svc.log_call(code, "Erin Biz", "joining", "called back") == "joined"
    assert svc.roll_call(code).quorum.reached
    svc.release(code, ["Tina Spec", "Uma Spec"])
    svc.recall(code, ["Tina Spec"])
    assert svc.log_call(code, "Tina Spec", "joining") == "joined"
    svc.note(code, "Twilio unreachable: calling by hand from the printed sheet")
    svc.set_spokesperson(code, "Sam Spec")
    svc.status_report(code, "Root cause: expired certificate", next_in_min=30)
    svc.directive(code, "Cards before invoices")
    sheet = callsheet.render_sheet(ctx, code, "txt")
    assert "Erin Biz" in sheet and "[joined]" in sheet and mobile("Erin Biz") in sheet
    svc.close(code, problem_ref="PRB-2026-42", all_clear=True)
    md = report.render(ctx, code, "md")
    assert (
        "| Joined | 6 |" in md
        and "| Escalated (voice call) | 1 |" in md
        and "| Problem case | PRB-2026-42 |" in md
    ), md
    return code


async def test_offline_story_then_the_queue_goes_out_once(db_path: Path) -> None:
    port = closed_port()
    settings = Settings(
        db_path=db_path,
        twilio=standin_twilio_settings(f"http://127.0.0.1:{port}"),
        escalation={"duty_manager": PATIENT, "mrt": PATIENT, "specialist": PATIENT},
    )
    ctx = Context(settings=settings, actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    notifier = TwilioNotifier(settings.twilio, timeout=2)
    dispatcher = Dispatcher(ctx.store, twilio_routes(notifier), config=FAST, receiver=svc)
    task = asyncio.create_task(dispatcher.run())
    standin = StandIn(port=port, timing=Timing(sms_sent=0.05, sms_delivered=0.1))
    try:
        code = await asyncio.to_thread(the_story_by_hand, ctx)
        dispatcher.wake()
        queued = alerts(ctx.store)
        await until(
            lambda: all(a["attempts"] >= 1 for a in waiting(ctx.store)), what="every alert tried"
        )
        assert dispatcher.snapshot().reachable is False
        offline = alerts(ctx.store)
        # Nothing dropped, nothing pretended sent: every alert still waits, with its error,
        # except those the close withdrew (nobody is asked to join after the all-clear).
        assert {a["status"] for a in offline} <= {"queued", "sending", "failed"}
        assert all(a["provider_sid"] is None for a in offline)
        assert any(a["last_error"] for a in offline)
        withdrawn = [a for a in offline if a["status"] == "failed"]
        assert withdrawn and all("closed before it" in a["last_error"] for a in withdrawn)
        assert all(a["purpose"] != "stand_down" for a in withdrawn)
        purposes = Counter(a["purpose"] for a in queued)
        assert purposes["alert"] == 6 and purposes["escalation"] == 1  # Erin, Dan's deputy
        assert purposes["standby"] == 2 and purposes["recall"] == 1
        assert purposes["stand_down"] == 7

        # The connection returns: a stand-in on the very port the console was told about.
        await standin.start()
        dispatcher.wake()
        await until(
            lambda: all(a["status"] in SENT for a in waiting(ctx.store)),
            within=20,
            what="the queue sent",
        )
        sent = waiting(ctx.store)
        assert len(sent) + len(withdrawn) == len(queued)
        assert sum(a["purpose"] == "stand_down" for a in sent) == 7
        posts = accepted_posts(standin)
        assert sorted(posts) == sorted((a["to_number"], a["body"]) for a in sent)
        assert set(posts.values()) == {1}, "each alert accepted exactly once"
        assert len({a["provider_sid"] for a in sent}) == len(sent)
        assert dispatcher.snapshot().reachable is True
        # The all-clear queued after the incident closed offline went out too (the queue goes
        # out concurrently: its order at the provider is not the order of queueing).
        assert any("all clear" in m.body for m in standin.messages(to=mobile("Uma Spec")))
        assert code
    finally:
        dispatcher.stop()
        await task
        await notifier.aclose()
        if standin.is_up:
            await standin.stop()
        ctx.close()


# --- the CLI, in a child process (and with no network at all where allowed) ---------------

CLI_STORY = textwrap.dedent(
    """
    import asyncio, json, sys
    from click.testing import CliRunner
    from mim_console.cli import main

    results = []

    def cli(*args):
        r = CliRunner().invoke(main, list(args))
        results.append({"args": list(args), "code": r.exit_code, "out": r.output})
        if r.exit_code != 0:
            print(json.dumps(results)); sys.exit(3)
        return r.output

    code = cli("declare", "-t", "Card payments failing", "-c", "cards", "--yes").split()[0]
    # A dispatcher runs a moment: it tries, fails to connect, keeps every alert queued.
    from mim_console.config import load_settings
    from mim_console.domain.backoff import BackoffPolicy
    from mim_console.notifiers import dispatcher as d
    from mim_console.notifiers.senders import twilio_routes
    from mim_console.notifiers.twilio import TwilioNotifier
    from mim_console.services.context import Context

    async def try_sending():
        ctx = Context(settings=load_settings())
        notifier = TwilioNotifier(ctx.settings.twilio, timeout=1)
        config = d.DispatcherConfig(lease_ttl_s=1.0, heartbeat_s=0.2, tick_s=0.1,
            request_timeout_s=1.0, drain_s=1.0,
            backoff=BackoffPolicy(base_s=0.05, cap_s=0.2, max_age_min=10))
        dispatcher = d.Dispatcher(ctx.store, twilio_routes(notifier), config=config)
        task = asyncio.create_task(dispatcher.run())
        await asyncio.sleep(2.0)
        dispatcher.stop(); await task; await notifier.aclose()
        snap = dispatcher.snapshot()
        ctx.close()
        return snap.reachable, snap.last_error

    reachable, error = asyncio.run(try_sending())
    for name in ("Alice Ops", "Frank Comms", "Sam Spec", "Tina Spec", "Uma Spec"):
        cli("call", code, name, "--outcome", "joining")
    cli("call", code, "Dan Biz", "--outcome", "unable", "--note", "abroad")
    cli("call", code, "Erin Biz", "--outcome", "no-answer")
    cli("call", code, "Erin Biz", "--outcome", "joining")
    cli("release", code, "Tina Spec", "Uma Spec")
    cli("recall", code, "Tina Spec")
    cli("note", code, "calling by hand")
    cli("spokesperson", code, "Sam Spec")
    cli("status-report", code, "Root cause: expired certificate", "--next-in", "30")
    sheet = cli("callsheet", code)
    cli("close", code, "--problem", "PRB-2026-42", "--all-clear")
    md = cli("report", code)
    outbox = json.loads(cli("outbox", "--json"))
    print(json.dumps({"code": code, "reachable": reachable, "error": error, "sheet": sheet,
                      "report": md, "outbox": outbox, "steps": len(results)}))
    """
)


def _namespace_allowed() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.mark.parametrize("isolation", ["closed-port", "no-network"])
def test_cli_story_offline_then_sent(
    isolation: str, tmp_path: Path, db_path: Path, isolated_env: Path
) -> None:
    prefix: list[str] = []
    if isolation == "no-network":
        if not _namespace_allowed():
            # A machine capability (user namespaces), not a missing file: skip even under CI.
            pytest.skip("`unshare -rn` is not allowed here: no network namespace to test in")
        prefix = ["unshare", "-rn"]
    store = Store(db_path)
    seed(store, FROZEN_NOW)
    store.close()
    port = closed_port()
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(isolated_env),
        "XDG_CONFIG_HOME": str(isolated_env / ".config"),
        "XDG_DATA_HOME": str(isolated_env / ".local" / "share"),
        "MIM_CONSOLE_DB": str(db_path),
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "MIM_TWILIO_FROM": DEFAULT_SENDER,
        "MIM_TWILIO_API_URL": f"http://127.0.0.1:{port}",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    done = subprocess.run(
        [*prefix, sys.executable, "-c", CLI_STORY],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["reachable"] is False and result["error"]
    assert "Erin Biz" in result["sheet"] and "[joined]" in result["sheet"]
    assert "| Problem case | PRB-2026-42 |" in result["report"]
    statuses = Counter(a["status"] for a in result["outbox"]["alerts"])
    # Nothing sent; only the close's withdrawal of join alerts nobody should get any more.
    assert set(statuses) <= {"queued", "failed"}, statuses
    assert all(a["age_s"] >= 0 for a in result["outbox"]["alerts"])
    tried = [a for a in result["outbox"]["alerts"] if a["purpose"] == "alert"]
    assert tried and all(a["attempts"] >= 1 and a["status"] == "failed" for a in tried)
    assert statuses["queued"] >= 7  # the all-clear to everyone, still waiting

    # Back online: a stand-in on the same port, a dispatcher, and the queue goes out once.
    asyncio.run(_send_the_queue(db_path, port))


async def _send_the_queue(db_path: Path, port: int) -> None:
    standin = StandIn(port=port, timing=Timing(sms_sent=0.05, sms_delivered=0.1))
    await standin.start()
    ctx = Context(settings=Settings(db_path=db_path, twilio=settings_of(standin)))
    notifier = TwilioNotifier(ctx.settings.twilio, timeout=2)
    dispatcher = Dispatcher(ctx.store, twilio_routes(notifier), config=FAST)
    task = asyncio.create_task(dispatcher.run())
    try:
        await until(
            lambda: all(a["status"] in SENT for a in waiting(ctx.store)),
            within=20,
            what="the queue sent",
        )
        sent = waiting(ctx.store)
        assert any("all clear" in a["body"] for a in sent)
        posts = accepted_posts(standin)
        assert sorted(posts) == sorted((a["to_number"], a["body"]) for a in sent)
        assert set(posts.values()) == {1}
    finally:
        dispatcher.stop()
        await task
        await notifier.aclose()
        await standin.stop()
        ctx.close()


# --- the console: the banner says so, k writes the call sheet, l logs a call --------------


async def _wait(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the console")
        await asyncio.sleep(0.05)


async def test_console_offline_offers_the_call_sheet_and_logs_calls(db_path: Path) -> None:
    from textual.widgets import DataTable, OptionList

    from mim_console.app import make_app
    from mim_console.screens.call_log import CallLogScreen, CallSheetScreen
    from mim_console.screens.rollcall import RollCallScreen
    from mim_console.widgets.banner import OutboxBanner
    from tests.ui_data import seed_small

    settings = Settings(
        db_path=db_path,
        twilio=standin_twilio_settings(f"http://127.0.0.1:{closed_port()}"),
        escalation={"duty_manager": PATIENT, "mrt": PATIENT, "specialist": PATIENT},
    )
    # The real clock: the dispatcher ages alerts by it (a frozen past would make them expire).
    ctx = Context(settings=settings, actor="tester")
    seed_small(ctx.store, FROZEN_NOW)
    service = IncidentService(ctx)
    code = service.declare(title="Twilio is gone", severity="SEV2", categories=["payments"]).code
    config = DispatcherConfig(
        heartbeat_s=0.1,
        lease_ttl_s=2.0,
        tick_s=0.2,
        request_timeout_s=1.0,
        # Retries as slow as in real life: a retry storm would keep the console busy redrawing.
        backoff=BackoffPolicy(base_s=2.0, cap_s=10.0, max_age_min=10),
    )
    app = make_app(ctx, dispatch_config=config)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.pause()
        banner = app.screen.query_one(OutboxBanner)
        await _wait(lambda: "UNREACHABLE" in str(banner.render()))
        assert "k: call sheet" in str(banner.render())
        # k on Duty: the board's sheet, written into the data dir, shown with waiting alerts.
        await pilot.press("k")
        await _wait(lambda: isinstance(app.screen, CallSheetScreen))
        sheet = app.screen
        assert isinstance(sheet, CallSheetScreen)
        folder = db_path.parent / "callsheets"
        assert [p.parent for p in sheet.paths] == [folder, folder]
        assert all(p.exists() for p in sheet.paths)
        assert "Call sheet: duty board" in sheet.text and "+358401234501" in sheet.text
        waiting = len(alerts(ctx.store))
        assert sheet.waiting[0].startswith(f"{waiting} alerts waiting to be sent")
        assert re.search(r"oldest \d+ s:$", sheet.waiting[0]), sheet.waiting[0]
        assert [cells[1] for _, cells in sheet.rows] == [code] * 3  # the oldest three, a table
        assert all(cells[4].isdigit() for _, cells in sheet.rows)
        await pilot.press("escape")
        # The roll call: l on a row, outcome 1 = joining; the roll call moves like a reply.
        await pilot.press("r")
        await _wait(lambda: isinstance(app.screen, RollCallScreen))
        roll = app.screen
        assert isinstance(roll, RollCallScreen)
        await _wait(lambda: roll.view is not None)
        assert roll.view is not None
        names = [s.name for s in roll.view.seats]
        roll.query_one("#rc-table", DataTable).move_cursor(row=names.index("Aino Aalto"))
        await pilot.press("l")
        await _wait(lambda: isinstance(app.screen, CallLogScreen))
        assert "+358401234501" in str(app.screen.query_one("#call-numbers").render())
        await pilot.press("1")
        await _wait(
            lambda: (
                {s.person.name: s.participant.state for s in service.roll_call(code).seats}[
                    "Aino Aalto"
                ]
                is State.JOINED
            )
        )
        # Another call: arrow to "no answer", a note, Enter from the note field.
        roll.query_one("#rc-table", DataTable).move_cursor(row=names.index("Helmi Heikkinen"))
        await pilot.press("l")
        await _wait(lambda: isinstance(app.screen, CallLogScreen))
        app.screen.query_one(OptionList).highlighted = 3
        await pilot.press("tab", *"rang out", "enter")
        await _wait(lambda: any("rang out" in e.text for e in service.timeline(code)))
        calls = [e.text for e in service.timeline(code) if e.kind == "call"]
        assert calls == [
            "phone call to Aino Aalto: joining -> joined",
            "phone call to Helmi Heikkinen: no answer (rang out) -> escalated",
        ]
        # k on the roll call: this incident's sheet, with the states just logged.
        await pilot.press("k")
        await _wait(lambda: isinstance(app.screen, CallSheetScreen))
        assert isinstance(app.screen, CallSheetScreen)
        assert f"Call sheet {code}" in app.screen.text and "[joined]" in app.screen.text
        assert "[escalated]" in app.screen.text
        # Nothing was sent, nothing dropped.
        assert {a["status"] for a in alerts(ctx.store)} <= {"queued", "sending"}
        # Once closed, l says so instead of opening the dialog.
        await pilot.press("escape")
        service.close(code)
        await _wait(lambda: roll.view is not None and not roll.view.open)
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, RollCallScreen)  # no dialog opened
        assert any("closed" in n.message for n in app._notifications)
    ctx.close()


def test_banner_offers_the_call_sheet_only_where_a_key_writes_it() -> None:
    from mim_console.widgets.banner import OutboxState, describe

    down = OutboxState(queued=3, reachable=False, detail="connection refused")
    words, css = describe(down, "k")
    assert words.startswith("✖ Twilio UNREACHABLE: alerts kept, retrying · k: call sheet")
    assert "3 queued" in words and "(connection refused)" in words and css == "-bad"
    assert "call sheet" not in describe(down)[0]  # e.g. Communications: no key there
    assert "call sheet" not in describe(OutboxState(queued=3, reachable=True), "k")[0]


async def test_a_remapped_call_sheet_key_is_the_one_the_banner_names(db_path: Path) -> None:
    from dataclasses import replace

    from mim_console.app import make_app
    from mim_console.screens.call_log import CallSheetScreen
    from mim_console.widgets.banner import OutboxBanner

    settings = Settings(db_path=db_path, keymap={"duty.call_sheet": "f7"})
    ctx = Context(settings=settings, clock=lambda: FROZEN_NOW, actor="tester")
    seed(ctx.store, FROZEN_NOW)
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        banner = app.screen.query_one(OutboxBanner)
        banner.show_state(replace(banner.state, reachable=False, configured=True))
        assert "f7: call sheet" in str(banner.render()).lower()
        await pilot.press("f7")
        await _wait(lambda: isinstance(app.screen, CallSheetScreen))
        assert isinstance(app.screen, CallSheetScreen)
        assert "Dan Biz" in app.screen.text
        assert app.screen.waiting == ["No alert is waiting to be sent."]
    ctx.close()


def test_watch_says_twilio_is_unreachable_and_what_to_do() -> None:
    from mim_console.cli.watch import offline_banner
    from mim_console.notifiers.dispatcher import DispatcherSnapshot

    def snapshot(**kw: Any) -> DispatcherSnapshot:
        base: dict[str, Any] = {
            "holder": True,
            "holder_id": "watch",
            "blocked": None,
            "counts": {"queued": 5, "sending": 1, "accepted": 0, "failed": 0},
            "in_flight": 0,
            "last_success_at": None,
            "last_failure_at": FROZEN_NOW,
            "last_error": "could not reach Twilio: [bold]refused[/]",
        }
        return DispatcherSnapshot(**{**base, **kw})

    line = offline_banner(snapshot(), "MI-2026-007")
    assert line is not None
    text = line.plain
    assert text.startswith("✖ Twilio UNREACHABLE: 6 alerts kept, retrying")
    assert "[bold]refused[/]" in text  # the provider's words, shown literally
    assert "mim-console callsheet MI-2026-007" in text and "mim-console call MI-2026-007" in text
    assert offline_banner(snapshot(last_success_at=FROZEN_NOW), "MI-2026-007") is None
    assert offline_banner(None, "MI-2026-007") is None
