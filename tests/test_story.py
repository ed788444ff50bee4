"""The whole story, end to end, on a real SQLite file and the Twilio stand-in over loopback.

declare -> alerts out -> scripted replies (some join, one unable -> deputy alerted, one silent ->
voice call -> deputy) -> quorum -> release two -> recall one -> spokesperson reports with a
next-update time -> close with a problem reference -> the report has the right figures and
events. Then the same story through the CLI: `mim-console watch` runs the dispatcher in a
subprocess; declare, close and report run as subprocesses, the steps between through click in
process (each subprocess costs a second of start-up). It waits for real escalation timers and
3-second reply polls (about 25 s), so it is marked slow: `pytest -m slow tests/test_story.py`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mim_console.cli import main
from mim_console.config import EscalationSettings, Settings
from mim_console.data.store import Store
from mim_console.domain.backoff import BackoffPolicy
from mim_console.notifiers.dispatcher import Dispatcher, DispatcherConfig
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.services import report
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDER,
    StandIn,
    ThreadedStandIn,
    Timing,
)
from tests.conftest import FROZEN_NOW
from tests.incident_seed import mobile, seed
from tests.slow_gate import slow_only_when_asked  # noqa: F401
from tests.twilio_fixtures import standin_twilio_settings

FAST = DispatcherConfig(
    lease_ttl_s=1.0,
    heartbeat_s=0.2,
    request_timeout_s=3.0,
    tick_s=0.1,
    status_poll_s=0.2,
    status_poll_max_s=0.5,
    inbound_poll_s=0.1,
    drain_s=2.0,
    backoff=BackoffPolicy(base_s=0.05, cap_s=0.4, max_age_min=5),
)
# Seconds, as minutes: nobody silent waits long in a test. Replies come 1.2 s after an SMS: the
# provider stamps inbound messages to the second, and the dispatcher matches a reply only to
# alerts created before that stamp.
REPLY_AFTER_S = 1.2
VOICE_AFTER_S = 3.0
DEPUTY_AFTER_S = 1.5
JOINERS = ("Alice Ops", "Sam Spec", "Tina Spec", "Uma Spec")


def escalation() -> dict[str, EscalationSettings]:
    rule = EscalationSettings(VOICE_AFTER_S / 60, DEPUTY_AFTER_S / 60)
    return {"duty_manager": rule, "mrt": rule, "specialist": rule}


def script(standin: StandIn | ThreadedStandIn) -> None:
    """Who answers what: four join, Dan is unable (Erin deputises), Frank never answers (Gina)."""
    for name in (*JOINERS, "Erin Biz", "Gina Comms"):
        standin.script_reply(mobile(name), "1", after=REPLY_AFTER_S)
    standin.script_reply(mobile("Dan Biz"), "2", after=REPLY_AFTER_S)
    standin.script_reply(mobile("Frank Comms"), None)


def states_of(store: Store, code: str) -> dict[str, str]:
    rows = store.query(
        "SELECT person.name, participant.state FROM participant JOIN person "
        "ON person.id = participant.person_id "
        "JOIN incident ON incident.id = participant.incident_id "
        "WHERE incident.code = ?",
        [code],
    )
    return {r["name"]: r["state"] for r in rows}


def sms_to(standin: StandIn | ThreadedStandIn, name: str) -> list[str]:
    return [m.body for m in standin.messages(direction="outbound-api", to=mobile(name))]


EXPECTED_AT_QUORUM = {
    "Alice Ops": "joined",
    "Dan Biz": "unable",
    "Erin Biz": "joined",
    "Frank Comms": "unreachable",
    "Gina Comms": "joined",
    "Sam Spec": "joined",
    "Tina Spec": "joined",
    "Uma Spec": "joined",
}


def check_report(md: str, html: str, code: str, *, exact_calls: bool = True) -> None:
    assert f"Lessons learnt: {code}" in md
    for line in (
        "| Alerted | 8 |",
        "| Joined | 6 |",
        "| Unable | 1 |",
        "| Unreachable | 1 |",
        "| Released to standby | 2 |",
        "| Problem case | PRB-2026-42 |",
    ):
        assert line in md, line
    if exact_calls:
        assert "| Escalated (voice call) | 1 |" in md
    assert "deputy Erin Biz alerted for Dan Biz (answered unable)" in md
    assert "deputy Gina Comms alerted for Frank Comms" in md
    assert "Frank Comms: voice call" in md
    assert "Root cause: expired certificate" in md
    assert "Cards before invoices" in md
    quorum_rows = [line for line in md.splitlines() if line.startswith("| Time to full quorum")]
    assert quorum_rows and "| - |" not in quorum_rows[0]
    assert "<svg" in html and "quorum " in html and "<script" not in html


# --- in process ---------------------------------------------------------------------------


@pytest.fixture
async def fast_standin() -> AsyncIterator[StandIn]:
    s = StandIn(timing=Timing(sms_sent=0.05, sms_delivered=0.1, call_ringing=0.05))
    await s.start()
    yield s
    await s.stop()


async def until(check: Callable[[], bool], within: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


async def test_the_whole_story(db_path: Path, fast_standin: StandIn) -> None:
    standin = fast_standin
    settings = Settings(
        db_path=db_path,
        twilio=standin_twilio_settings(standin.url),
        escalation=escalation(),
    )
    ctx = Context(settings=settings, actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)

    def tick(now: datetime) -> None:
        svc.tick(now)

    script(standin)
    notifier = TwilioNotifier(settings.twilio, timeout=5)
    dispatcher = Dispatcher(
        ctx.store,
        twilio_routes(notifier),
        config=FAST,
        receiver=svc,
        on_tick=tick,
    )
    task = asyncio.create_task(dispatcher.run())
    try:
        code = svc.declare(
            title="Card payments failing", severity="SEV1", categories=["cards"]
        ).code
        dispatcher.wake()
        # Alerts out: one SMS each, with the code, the reply code and how to answer.
        reply_code = svc.incident(code).reply_code
        await until(lambda: all(sms_to(standin, n) for n in ("Alice Ops", "Frank Comms")))
        first = sms_to(standin, "Alice Ops")[0]
        assert code in first and f"Reply 1 {reply_code}" in first
        # Replies come back; Dan's "2" brings Erin; Frank's silence brings a call, then Gina.
        await until(
            lambda: svc.roll_call(code).quorum.reached,
            within=VOICE_AFTER_S + DEPUTY_AFTER_S + 10,
            what="quorum",
        )  # on failure: see the states and inbound rows printed below
        await until(lambda: states_of(ctx.store, code) == EXPECTED_AT_QUORUM, what="states")
        assert [c.to for c in standin.calls()] == [mobile("Frank Comms")]
        assert sms_to(standin, "Erin Biz") and sms_to(standin, "Gina Comms")

        svc.release(code, ["Tina Spec", "Uma Spec"])
        dispatcher.wake()
        await until(lambda: len(sms_to(standin, "Tina Spec")) == 2, what="standby SMS")
        assert "standby" in sms_to(standin, "Tina Spec")[1]
        standin.script_reply(mobile("Tina Spec"), "1", after=REPLY_AFTER_S)
        svc.recall(code, ["Tina Spec"])
        dispatcher.wake()
        await until(lambda: states_of(ctx.store, code)["Tina Spec"] == "joined", what="rejoin")
        assert "recalled" in sms_to(standin, "Tina Spec")[2]
        assert [s.person.name for s in svc.roll_call(code).standby] == ["Uma Spec"]

        svc.set_spokesperson(code, "Sam Spec")
        inc = svc.status_report(code, "Root cause: expired certificate", next_in_min=30)
        assert inc.next_status_at is not None and not svc.roll_call(code).status_due(ctx.clock())
        svc.directive(code, "Cards before invoices")
        closed = svc.close(code, problem_ref="PRB-2026-42", owner="Alice Ops", all_clear=True)
        assert closed.problem_ref == "PRB-2026-42"
        dispatcher.wake()
        await until(lambda: len(sms_to(standin, "Uma Spec")) == 3, what="all clear")
        assert "all clear" in sms_to(standin, "Uma Spec")[-1]
    except AssertionError:
        print(states_of(ctx.store, code))
        print(ctx.store.query("SELECT * FROM inbound"))
        print(
            ctx.store.query("SELECT id, to_number, channel, purpose, status, last_error FROM alert")
        )
        print([e.text for e in svc.timeline(code)])
        raise
    finally:
        dispatcher.stop()
        await task
        await notifier.aclose()
    check_report(report.render(ctx, code, "md"), report.render(ctx, code, "html"), code)
    ctx.close()


# --- through the CLI ----------------------------------------------------------------------


@pytest.fixture
def cli_standin() -> Iterator[ThreadedStandIn]:
    s = StandIn.start_in_thread(timing=Timing(sms_sent=0.05, sms_delivered=0.1))
    yield s
    s.stop()


@pytest.mark.slow
def test_the_whole_story_through_the_cli(
    tmp_path: Path, db_path: Path, cli_standin: ThreadedStandIn
) -> None:
    standin = cli_standin
    store = Store(db_path)
    seed(store, FROZEN_NOW)
    config = tmp_path / "config.toml"
    # The watch's dispatcher polls replies every few seconds: escalation waits a bit longer here.
    voice, deputy = 8.0 / 60, 2.0 / 60
    config.write_text(
        "".join(
            f"[escalation.{role}]\nvoice_after_min = {voice}\ndeputy_after_min = {deputy}\n"
            for role in ("duty_manager", "mrt", "specialist")
        )
    )
    env = {
        **os.environ,
        "MIM_CONSOLE_DB": str(db_path),
        "MIM_CONSOLE_CONFIG": str(config),
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "MIM_TWILIO_FROM": DEFAULT_SENDER,
        "MIM_TWILIO_API_URL": standin.url,
    }

    def cli(*args: str) -> str:
        """In process, through click: the same commands, without a second of start-up each."""
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == 0, (args, result.output)
        return result.output

    def cli_subprocess(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "mim_console", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {states_of(store, code)}")
            time.sleep(0.1)

    script(standin)
    code = cli_subprocess("declare", "-t", "Card payments failing", "-c", "cards", "--yes").strip()
    assert code.startswith("MI-")
    watch = subprocess.Popen(
        [sys.executable, "-m", "mim_console", "watch", code, "--interval", "0.5"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait(lambda: states_of(store, code) == EXPECTED_AT_QUORUM, 40, "quorum")
        status: dict[str, Any] = json.loads(cli("status", code, "--json"))
        assert status["quorum"]["reached"] is True
        cli("release", code, "Tina Spec", "Uma Spec")
        wait(lambda: len(sms_to(standin, "Tina Spec")) == 2, 15, "standby SMS")
        standin.script_reply(mobile("Tina Spec"), "1", after=REPLY_AFTER_S)
        cli("recall", code, "Tina Spec")
        wait(lambda: states_of(store, code)["Tina Spec"] == "joined", 20, "rejoin")
        cli("spokesperson", code, "Sam Spec")
        out = cli("status-report", code, "Root cause: expired certificate", "--next-in", "30")
        assert "next status at" in out
        cli("directive", code, "Cards before invoices")
        cli_subprocess("close", code, "--problem", "PRB-2026-42", "--owner", "Alice Ops")
    finally:
        watch.send_signal(signal.SIGINT)
        try:
            _, err = watch.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            watch.kill()
            _, err = watch.communicate()
    assert watch.returncode == 0, err
    # Replies are polled every few seconds here: on a loaded machine a slow joiner may get a
    # call too (and still counts when the answer comes). Frank, who never answers, always does.
    assert mobile("Frank Comms") in [c.to for c in standin.calls()]
    html_file = tmp_path / "report.html"
    cli_subprocess("report", code, "--format", "html", "-o", str(html_file))
    md = cli_subprocess("report", code)
    check_report(md, html_file.read_text(encoding="utf-8"), code, exact_calls=False)
    store.close()
