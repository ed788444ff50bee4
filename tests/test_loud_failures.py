"""Loud failures (issue 14): Twilio refusing our account pauses its channels and says so;
an alert refused for good marks its participant failed and escalates at once. Real SQLite,
the stand-in over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from mim_console.app import make_app
from mim_console.cli import main
from mim_console.clock import utcnow
from mim_console.config import Settings, TwilioSettings
from mim_console.data import outbox
from mim_console.data.outbox import AlertDraft
from mim_console.data.store import Store
from mim_console.domain.alerts import Channel, Purpose
from mim_console.domain.backoff import BackoffPolicy
from mim_console.domain.twilio_errors import describe_http, headline
from mim_console.notifiers.dispatcher import Dispatcher, DispatcherConfig
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.screens.rollcall import RollCallScreen
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_SENDER,
    StandIn,
    ThreadedStandIn,
    Timing,
)
from mim_console.widgets.banner import OutboxBanner, OutboxState, describe
from tests.incident_seed import mobile, seed
from tests.screen_text import screen_lines
from tests.ui_data import seed_small

FAST = DispatcherConfig(
    lease_ttl_s=1.0,
    heartbeat_s=0.2,
    request_timeout_s=2.0,
    status_poll_s=0.1,
    status_poll_max_s=0.3,
    inbound_poll_s=0.2,
    drain_s=3.0,
    refusal_recheck_s=0.5,
    backoff=BackoffPolicy(base_s=0.05, cap_s=0.4, max_age_min=5),
)


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    s = StandIn(timing=Timing(sms_sent=0.05, sms_delivered=0.1, call_ringing=0.05))
    await s.start()
    yield s
    await s.stop()


def _settings(standin: StandIn, token: str) -> TwilioSettings:
    return replace(TwilioSettings(**standin.connection()), auth_token=token)


def _queue(store: Store, n: int, channel: Channel = Channel.SMS) -> None:
    body = "alert #{}" if channel is Channel.SMS else "<Response><Say>{}</Say></Response>"
    drafts = [
        AlertDraft(f"+3584000{i:05d}", channel, Purpose.ALERT, body.format(i)) for i in range(n)
    ]
    with store.write() as db:
        outbox.enqueue(db, drafts, utcnow())


def _counts(store: Store) -> dict[str, int]:
    with store.read() as db:
        return outbox.counts(db)


async def _run_until(d: Dispatcher, done: Callable[[], bool], limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; counts {d.snapshot().counts}")
        await asyncio.sleep(0.02)


async def test_wrong_token_pauses_sending_keeps_alerts_and_resumes_when_it_works(
    store: Store, standin: StandIn
) -> None:
    _queue(store, 30)
    _queue(store, 5, Channel.VOICE)
    routes = twilio_routes(TwilioNotifier(_settings(standin, "wrong"), timeout=2))
    d = Dispatcher(store, routes, config=FAST)
    task = asyncio.create_task(d.run())
    try:
        await _run_until(d, lambda: d.snapshot().refusal is not None)
        refusal = d.snapshot().refusal
        assert refusal is not None and refusal.code == 20003
        assert refusal.channels >= {Channel.SMS, Channel.VOICE}
        assert refusal.headline == "Twilio refuses our credentials (20003)"
        await asyncio.sleep(1.6)  # about three re-checks
        # Nothing burned through retries: at most the first fan-out and a re-check each time.
        creates = [r for r in standin.request_log() if r.method == "POST"]
        assert 1 <= len(creates) <= 20 + 5, len(creates)
        before = len(creates)
        await asyncio.sleep(1.0)
        after = len([r for r in standin.request_log() if r.method == "POST"])
        assert 1 <= after - before <= 3  # one alert per re-check (0.5 s), never the queue
        assert _counts(store) == {"queued": 35, "sending": 0, "accepted": 0, "failed": 0}
        # The credentials work again (the account now takes this token): no restart needed.
        standin.add_credentials(DEFAULT_ACCOUNT_SID, "wrong")
        await _run_until(d, lambda: _counts(store)["accepted"] == 35)
        assert d.snapshot().refusal is None
    finally:
        d.stop()
        await task
        await routes.aclose()
    assert len(standin.messages(direction="outbound-api")) == 30


def test_the_banner_says_twilio_refuses_us() -> None:
    state = OutboxState(queued=12, reachable=False, refused=headline(20003))
    words, css = describe(state, sheet_key="c")
    assert words.startswith("✖ Twilio refuses our credentials (20003): alerts kept · c: call sheet")
    assert "12 queued" in words and css == "-bad"


def test_a_20404_is_about_the_account_only_on_a_create_or_the_log() -> None:
    assert describe_http(404, 20404, on_account=True).account_wide
    assert not describe_http(404, 20404).account_wide  # a status fetch: that SID only
    assert not describe_http(400, 21211).account_wide
    assert not describe_http(400, 21408).account_wide  # one region: the others still go
    assert describe_http(400, 21659).account_wide
    assert headline(21659) == "Twilio refuses our sending number (21659)"


# --- alerts refused for good: the participant is failed, the next step at once -----------


async def _declare_and_dispatch(
    db_path: Path, standin: StandIn, until_done: Callable[[Context], bool]
) -> Context:
    settings = Settings(db_path=db_path, twilio=TwilioSettings(**standin.connection()))
    ctx = Context(settings=settings, actor="duty manager")
    seed(ctx.store, utcnow())
    svc = IncidentService(ctx)
    routes = twilio_routes(TwilioNotifier(settings.twilio, timeout=5))
    d = Dispatcher(ctx.store, routes, config=FAST, on_tick=svc.tick, receiver=svc)
    task = asyncio.create_task(d.run())
    try:
        svc.declare(title="Payments down", severity="SEV1")
        await _run_until(d, lambda: until_done(ctx))
    finally:
        d.stop()
        await task
        await routes.aclose()
    return ctx


def _state(ctx: Context, name: str) -> str | None:
    rows = ctx.store.query(
        "SELECT p.state FROM participant p JOIN person x ON x.id = p.person_id WHERE x.name = ?",
        [name],
    )
    return str(rows[0]["state"]) if rows else None


async def test_an_invalid_number_fails_the_participant_and_pages_the_deputy_at_once(
    db_path: Path, standin: StandIn
) -> None:
    standin.fail_number(mobile("Alice Ops"), 21211)

    def deputy_texted(_: Context) -> bool:
        return bool(standin.messages(direction="outbound-api", to=mobile("Bob Ops")))

    ctx = await _declare_and_dispatch(db_path, standin, deputy_texted)
    assert _state(ctx, "Alice Ops") == "failed"
    assert _state(ctx, "Bob Ops") == "alerted"
    texts = [r["text"] for r in ctx.store.query("SELECT text FROM event ORDER BY id")]
    assert "SMS to Alice Ops refused by Twilio: the phone number is not valid (21211)" in texts
    assert any(t.startswith("deputy Bob Ops alerted for Alice Ops") for t in texts)
    # No voice call to a number that does not exist.
    assert not [c for c in standin.request_log() if "Calls" in c.path and c.method == "POST"]
    roll = IncidentService(ctx).roll_call(ctx.store.query("SELECT code FROM incident")[0]["code"])
    ctx.close()
    assert any(s.participant.state.value == "failed" for s in roll.seats)


async def test_an_unsubscribed_number_gets_the_voice_call_at_once(
    db_path: Path, standin: StandIn
) -> None:
    standin.fail_number(mobile("Dan Biz"), 21610, channel="sms")

    def called(_: Context) -> bool:
        return any("Calls" in c.path and c.method == "POST" for c in standin.request_log())

    ctx = await _declare_and_dispatch(db_path, standin, called)
    texts = [r["text"] for r in ctx.store.query("SELECT text FROM event ORDER BY id")]
    ctx.close()
    assert any(t.startswith("SMS to Dan Biz refused by Twilio: the recipient has") for t in texts)
    assert "Dan Biz: voice call (the alert was refused)" in texts


# --- `mim-console dispatch`, `outbox` and `readiness` say so, without --verbose -----------


def test_dispatch_prints_the_refusal_once_within_5_s_then_outbox_and_readiness_show_it(
    db_path: Path, threaded_standin: ThreadedStandIn
) -> None:
    store = Store(db_path)
    _queue(store, 5)
    store.close()
    env = {
        **os.environ,
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": "not-the-token",
        "MIM_TWILIO_FROM": DEFAULT_SENDER,
        "MIM_TWILIO_API_URL": threaded_standin.url,
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mim_console", "--db", str(db_path), "dispatch"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append((time.monotonic() - started, line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 10
        while not any("refuses" in line for _, line in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(3.5)  # an inbound poll or two more with the same answer: no new line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        reader.join(timeout=5)
    said = [(at, line) for at, line in lines if "refuses" in line]
    assert len(said) == 1, lines
    at, line = said[0]
    assert at < 5.0, f"printed after {at:.1f} s"
    assert "Twilio refuses our credentials (20003): alerts kept" in line
    assert proc.returncode == 0

    runner = CliRunner()
    shown = runner.invoke(main, ["--db", str(db_path), "outbox"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "✖ Twilio refuses our credentials (20003): 5 alert(s) kept" in shown.output
    as_json = runner.invoke(main, ["--db", str(db_path), "outbox", "--json"])
    assert json.loads(as_json.stdout)["refused"]["waiting"] == 5
    ready = runner.invoke(main, ["--db", str(db_path), "readiness"], env={"COLUMNS": "250"})
    assert "Twilio refuses our credentials (20003)" in " ".join(ready.output.split())


# --- the console: the banner and the roll call (Textual Pilot, 80×24) ---------------------

APP_FAST = DispatcherConfig(
    heartbeat_s=0.1,
    lease_ttl_s=2.0,
    inbound_poll_s=0.2,
    status_poll_s=0.1,
    tick_s=0.2,
    idle_poll_s=0.5,
    refusal_recheck_s=0.5,
)


async def _console_wait(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the console"
        await asyncio.sleep(0.05)


async def test_the_console_banner_says_twilio_refuses_our_credentials(
    db_path: Path, threaded_standin: ThreadedStandIn
) -> None:
    twilio = replace(TwilioSettings(**threaded_standin.connection()), auth_token="wrong")
    ctx = Context(settings=Settings(db_path=db_path, twilio=twilio), actor="tester")
    seed_small(ctx.store, utcnow())
    IncidentService(ctx).declare(title="Wrong token", severity="SEV2")
    app = make_app(ctx, dispatch_config=APP_FAST)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        banner = app.screen.query_one(OutboxBanner)
        await _console_wait(lambda: "refuses" in str(banner.render()))
        assert str(banner.render()).startswith(
            "✖ Twilio refuses our credentials (20003): alerts kept"
        )
        assert any(line.strip().startswith("✖ Twilio refuses our") for line in screen_lines(app))
        # Fixed at Twilio's end (the account takes this token now): the banner clears itself.
        threaded_standin.add_credentials(twilio.account_sid, "wrong")
        await _console_wait(lambda: "refuses" not in str(banner.render()), seconds=15)

        def all_sent() -> bool:
            rows = ctx.store.query("SELECT COUNT(*) AS n FROM alert WHERE sent_at IS NULL")
            return int(rows[0]["n"]) == 0

        await _console_wait(all_sent)  # the kept alerts go out without a restart
    ctx.close()


async def test_the_roll_call_shows_failed_for_an_invalid_number(
    db_path: Path, threaded_standin: ThreadedStandIn
) -> None:
    threaded_standin.fail_number("+358401234501", 21211)  # Aino Aalto
    twilio = TwilioSettings(**threaded_standin.connection())
    ctx = Context(settings=Settings(db_path=db_path, twilio=twilio), actor="tester")
    seed_small(ctx.store, utcnow())
    code = IncidentService(ctx).declare(title="Bad number", severity="SEV2").code
    app = make_app(ctx, dispatch_config=APP_FAST)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        roll = app.screen
        assert isinstance(roll, RollCallScreen)

        def failed_shown() -> bool:
            return any("Aino Aalto" in line and "✖ failed" in line for line in screen_lines(app))

        await _console_wait(failed_shown)
    texts = [r["text"] for r in ctx.store.query("SELECT text FROM event ORDER BY id")]
    ctx.close()
    assert "SMS to Aino Aalto refused by Twilio: the phone number is not valid (21211)" in texts
    assert any("alerted for Aino Aalto (the alert was refused)" in t for t in texts), texts
    assert code


async def test_with_a_gsm_modem_the_sms_go_by_modem_while_twilio_refuses_our_credentials(
    db_path: Path, standin: StandIn, tmp_path: Path
) -> None:
    """`use = "fallback"`: refused credentials count as Twilio unusable, like no credentials."""
    from mim_console.config import ModemSettings
    from mim_console.services import dispatching
    from tests.modem_fixtures import dummy_modem

    dummy = dummy_modem(tmp_path / "modem")
    settings = Settings(
        db_path=db_path,
        twilio=_settings(standin, "wrong"),
        modem=ModemSettings(gammurc=dummy.gammurc, use="fallback", fallback_after_s=600),
    )
    ctx = Context(settings=settings, actor="duty manager")
    seed(ctx.store, utcnow())
    _queue(ctx.store, 3)
    d = dispatching.for_context(ctx, config=FAST, receiver=IncidentService(ctx))
    task = asyncio.create_task(dispatching.run_with_context(ctx, d))
    try:
        await _run_until(d, lambda: len(dummy.recipients()) == 3, limit_s=20)
        refusal = d.snapshot().refusal
        assert refusal is not None and refusal.whole_account
    finally:
        d.stop()
        await task
    routes = {r["route"] for r in ctx.store.query("SELECT route FROM alert")}
    ctx.close()
    assert routes == {"modem"}
    assert standin.messages(direction="outbound-api") == []


def test_a_console_standing_by_shows_the_holders_refusal_from_the_database(
    store: Store,
) -> None:
    _queue(store, 2)
    with store.write() as db:
        first = outbox.list_alerts(db)[-1]
        outbox.mark_retry(
            db, first.id, utcnow(), code=21659, error="not our number", uncertain=False
        )
    standing_by = Dispatcher(store, None)  # never ran: not the holder
    refusal = standing_by.snapshot().refusal
    assert refusal is not None
    assert refusal.headline == "Twilio refuses our sending number (21659)"
    with store.write() as db:  # sent after all: nothing waits for the refusal any more
        outbox.mark_failed(db, first.id, utcnow(), code=None, reason="withdrawn")
    assert standing_by.snapshot().refusal is None


async def test_a_refused_voice_call_after_a_refused_sms_pages_the_deputy(
    db_path: Path, standin: StandIn
) -> None:
    standin.fail_number(mobile("Dan Biz"), 21610)  # SMS and calls alike

    def deputy_texted(_: Context) -> bool:
        return bool(standin.messages(direction="outbound-api", to=mobile("Erin Biz")))

    ctx = await _declare_and_dispatch(db_path, standin, deputy_texted)
    texts = [r["text"] for r in ctx.store.query("SELECT text FROM event ORDER BY id")]
    state = _state(ctx, "Dan Biz")
    ctx.close()
    assert "Dan Biz: voice call (the alert was refused)" in texts
    assert any(t.startswith("call to Dan Biz refused by Twilio: the recipient has") for t in texts)
    assert any(t.startswith("deputy Erin Biz alerted for Dan Biz") for t in texts)
    assert state == "failed"


async def test_a_refused_inbound_poll_alone_pauses_sending(store: Store, standin: StandIn) -> None:
    """Nothing queued yet: the reply poll's 401 is enough to say so, and to pause."""
    routes = twilio_routes(TwilioNotifier(_settings(standin, "wrong"), timeout=2))
    d = Dispatcher(store, routes, config=FAST)
    task = asyncio.create_task(d.run())
    try:
        await _run_until(d, lambda: d.snapshot().refusal is not None, limit_s=5)
        assert d.snapshot().refusal.channels == {Channel.SMS, Channel.VOICE}  # type: ignore[union-attr]
    finally:
        d.stop()
        await task
        await routes.aclose()
    assert not [r for r in standin.request_log() if r.method == "POST"]


def test_watch_names_the_refusal_instead_of_unreachable() -> None:
    from mim_console.cli.watch import offline_banner
    from mim_console.notifiers.dispatcher import DispatcherSnapshot
    from mim_console.notifiers.reach import Refusal

    refusal = Refusal(20003, "bad token", frozenset({Channel.SMS}), utcnow())
    snapshot = DispatcherSnapshot(
        holder=True,
        holder_id="watch",
        blocked=None,
        counts={"queued": 4, "sending": 0, "accepted": 0, "failed": 0},
        in_flight=0,
        last_success_at=utcnow(),  # answered: reachable, but refused
        last_failure_at=None,
        last_error=None,
        refusal=refusal,
    )
    line = offline_banner(snapshot, "MI-2026-007")
    assert line is not None
    assert line.plain.startswith("✖ Twilio refuses our credentials (20003): 4 alerts kept")
    assert "mim-console callsheet MI-2026-007" in line.plain


def test_failed_moves_on_like_alerted_and_escalates_at_once() -> None:
    from mim_console.domain.incident import (
        ActionKind,
        IllegalTransition,
        Participant,
        Role,
        State,
        can_move,
        check_move,
        escalation_actions,
    )

    for target in ("joined", "unable", "escalated", "voicemail", "stood_down"):
        assert can_move(State.FAILED, State(target))
    for source in (State.ALERTED, State.ESCALATED, State.RECALLED):
        assert can_move(source, State.FAILED)
    with pytest.raises(IllegalTransition, match="only someone who joined can be released"):
        check_move(State.FAILED, State.STANDBY)
    now = utcnow()
    p = Participant(1, 1, 7, Role.MRT, State.FAILED, now, party_id=1, alerted_at=now)
    no_rules: dict[str, object] = {}  # no timers at all: a failure needs none
    [call] = escalation_actions([p], no_rules, now)  # type: ignore[arg-type]
    assert call.kind is ActionKind.VOICE
    [deputy] = escalation_actions([p], no_rules, now, no_calls={1})  # type: ignore[arg-type]
    assert deputy.kind is ActionKind.DEPUTY
    [deputy] = escalation_actions([p], no_rules, now, voice_enabled=False)  # type: ignore[arg-type]
    assert deputy.kind is ActionKind.DEPUTY
    after_call = replace(p, escalation_step=1)
    [deputy] = escalation_actions([after_call], no_rules, now)  # type: ignore[arg-type]
    assert deputy.kind is ActionKind.DEPUTY
    assert escalation_actions([replace(p, escalation_step=2)], no_rules, now) == []  # type: ignore[arg-type]


async def test_a_refused_sending_number_pauses_sms_only_and_a_recheck_resumes_it(
    store: Store, standin: StandIn
) -> None:
    _queue(store, 6)
    _queue(store, 2, Channel.VOICE)  # +358400000000/1: calls are not refused
    for i in range(6):
        standin.fail_number(f"+3584000{i:05d}", 21659, channel="sms")
    routes = twilio_routes(TwilioNotifier(_settings(standin, standin.auth_token), timeout=2))
    d = Dispatcher(store, routes, config=FAST)
    task = asyncio.create_task(d.run())
    try:
        await _run_until(d, lambda: d.snapshot().refusal is not None)
        await _run_until(d, lambda: _counts(store)["accepted"] == 2)  # the calls went on
        refusal = d.snapshot().refusal
        assert refusal is not None and refusal.channels == {Channel.SMS}
        assert refusal.headline == "Twilio refuses our sending number (21659)"
        await asyncio.sleep(1.0)  # inbound polls succeed meanwhile: not proof for the sender
        assert d.snapshot().refusal is not None and _counts(store)["queued"] == 6
        standin.clear_number_errors()  # the number is fixed at Twilio's end
        await _run_until(d, lambda: _counts(store)["accepted"] == 8)  # by a re-check, 0.5 s
        assert d.snapshot().refusal is None
    finally:
        d.stop()
        await task
        await routes.aclose()


def test_the_standin_controls_for_credentials_and_number_rules_over_http(
    threaded_standin: ThreadedStandIn,
) -> None:
    import base64
    import urllib.error
    import urllib.request

    def post(path: str, body: dict[str, object]) -> int:
        request = urllib.request.Request(
            threaded_standin.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    listing = f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json"

    def get_messages(token: str) -> int:
        request = urllib.request.Request(threaded_standin.url + listing)
        pair = base64.b64encode(f"{DEFAULT_ACCOUNT_SID}:{token}".encode()).decode()
        request.add_header("Authorization", f"Basic {pair}")
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    assert get_messages("fixed") == 401
    assert (
        post("/_standin/add_credentials", {"username": DEFAULT_ACCOUNT_SID, "password": "fixed"})
        == 200
    )
    assert get_messages("fixed") == 200
    threaded_standin.fail_number("+358401111111", 21211)
    assert post("/_standin/clear_number_errors", {}) == 200
    assert threaded_standin.state.rules.number_errors == {}


async def test_an_alert_in_doubt_is_kept_for_its_lookup_while_our_credentials_are_refused(
    store: Store, standin: StandIn
) -> None:
    """Claimed before a crash, no SID: the lookup is refused too. It must wait (still to be
    looked up, never failed, never sent blind), then be looked up and sent once."""
    _queue(store, 1)
    with store.write() as db:  # as a crashed holder left it
        db.execute("UPDATE alert SET status = 'sending', claimed_by = 'gone', attempts = 1")
    routes = twilio_routes(TwilioNotifier(_settings(standin, "wrong"), timeout=2))
    d = Dispatcher(store, routes, config=FAST)
    task = asyncio.create_task(d.run())
    try:
        await _run_until(d, lambda: d.snapshot().refusal is not None)
        await _run_until(
            d, lambda: store.query("SELECT status FROM alert")[0]["status"] == "queued"
        )
        row = store.query("SELECT status, uncertain FROM alert")[0]
        assert row["uncertain"] == 1
        standin.add_credentials(DEFAULT_ACCOUNT_SID, "wrong")
        await _run_until(d, lambda: _counts(store)["accepted"] == 1)
    finally:
        d.stop()
        await task
        await routes.aclose()
    assert len(standin.messages(direction="outbound-api")) == 1
