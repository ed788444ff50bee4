"""The incident bridge end to end, against the stand-in over loopback HTTP with no callback URL:
declare with channel ``bridge``, the dispatcher places the calls (deciders first, paced) and
polls the conference; joins, leaves, rejoins, voicemail, mute, removal and a full conference
reach the roll call and the timeline."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from mim_console.cli import main
from mim_console.config import BridgeSettings, EscalationSettings, Settings, TwilioSettings
from mim_console.domain.bridge import BridgeState, conference_name
from mim_console.domain.incident import State
from mim_console.errors import UserError
from mim_console.notifiers.webhook import KeypressReceiver
from mim_console.screens.rollcall_view import COLS, load_view
from mim_console.services import dispatching, report
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import StandIn, Timing
from tests.conftest import FROZEN_NOW
from tests.incident_seed import mobile, seed
from tests.test_incidents import add_duty_rotation
from tests.test_story import FAST
from tests.twilio_fixtures import settings_of

DELIVERY = [c.key for c in COLS].index("delivery") - 1  # the cells leave out the mark column

QUICK = Timing(
    sms_sent=0.05, sms_delivered=0.1, call_ringing=0.05, call_answered=0.2, bridge_join=0.2
)
SLOW_RULE = EscalationSettings(voice_after_min=30, deputy_after_min=30)  # no timer fires


async def until(check: Callable[[], bool], what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def bridge_standin() -> AsyncIterator[StandIn]:
    s = StandIn(timing=QUICK)
    s.set_calls_per_second(None)
    await s.start()
    yield s
    await s.stop()


def bridge_settings(db_path: Path, standin: StandIn, cps: float = 50.0) -> Settings:
    twilio: TwilioSettings = replace(settings_of(standin), calls_per_second=cps)
    return Settings(
        db_path=db_path,
        twilio=twilio,
        bridge=BridgeSettings(mode="twilio", joined_after_s=0.5),
        escalation={"duty_manager": SLOW_RULE, "mrt": SLOW_RULE, "specialist": SLOW_RULE},
    )


class Running:
    """The in-app dispatcher (routes from the settings, presence polled fast)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.dispatcher = dispatching.for_context(ctx, config=FAST)
        assert self.dispatcher.bridge is not None
        self.dispatcher.bridge.interval = 0.2
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(dispatching.run_with_context(self.ctx, self.dispatcher))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.dispatcher.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 15)


def _events(ctx: Context, code: str, kind: str = "bridge") -> list[str]:
    return [e.text for e in IncidentService(ctx).timeline(code) if e.kind == kind]


def _presence(ctx: Context, code: str, name: str) -> BridgeState | None:
    rc = IncidentService(ctx).roll_call(code)
    seat = next(s for s in rc.seats if s.person.name == name)
    found = rc.bridge.presence.get(seat.participant.id)
    return found.state if found else None


def _state(ctx: Context, code: str, name: str) -> State:
    rc = IncidentService(ctx).roll_call(code)
    return next(s.participant.state for s in rc.seats if s.person.name == name)


async def test_join_leave_rejoin_voicemail_mute_and_remove(
    db_path: Path, bridge_standin: StandIn
) -> None:
    standin = bridge_standin
    ctx = Context(settings=bridge_settings(db_path, standin), actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    for name in ("Sam Spec", "Tina Spec", "Uma Spec"):
        standin.bridge_plan(mobile(name), "no-answer")
    standin.bridge_plan(mobile("Dan Biz"), "voicemail", after=1.5)
    standin.bridge_plan(mobile("Frank Comms"), "join", after=0.1, stay=2.0)
    async with Running(ctx):
        code = svc.declare(
            title="Payments down", severity="SEV1", categories=["cards"], channel="bridge"
        ).code
        name = conference_name(code)
        await until(lambda: _state(ctx, code, "Alice Ops") is State.JOINED, "Alice joined")
        assert _presence(ctx, code, "Alice Ops") is BridgeState.CONNECTED
        assert "Alice Ops on the bridge" in _events(ctx, code)
        view = load_view(ctx, code)
        [row] = [s for s in view.seats if s.name == "Alice Ops"]
        assert row.on_bridge and row.cells[DELIVERY].plain == "● on bridge"
        assert view.bridge and view.counts_line.split(" · ")[0] in (
            "☎ 1 on bridge",
            "☎ 2 on bridge",
        )
        assert any("(on the bridge)" in t for t in _events(ctx, code, "state"))
        # Dan's voicemail box: not a join; it hears a short message and his deputy is paged.
        await until(lambda: _state(ctx, code, "Dan Biz") is State.VOICEMAIL, "Dan's voicemail")
        [dan] = standin.calls(to=mobile("Dan Biz"))
        assert "major incident" in dan.twiml and "<Conference" not in dan.twiml
        await until(
            lambda: any(s.person.name == "Erin Biz" for s in svc.roll_call(code).seats), "deputy"
        )
        assert _presence(ctx, code, "Dan Biz") is BridgeState.VOICEMAIL
        # Frank stays 2 s, leaves, and dials back in himself.
        await until(lambda: _presence(ctx, code, "Frank Comms") is BridgeState.LEFT, "Frank left")
        assert any(t.startswith("Frank Comms left the bridge (after") for t in _events(ctx, code))
        standin.dial_in(mobile("Frank Comms"), name)
        await until(
            lambda: _presence(ctx, code, "Frank Comms") is BridgeState.CONNECTED, "Frank again"
        )
        assert "Frank Comms on the bridge again" in _events(ctx, code)
        # The duty manager mutes Alice, then removes her.
        assert await asyncio.to_thread(svc.set_muted, code, "Alice Ops", True) == "Alice Ops muted"
        [alice] = [p for p in standin.on_bridge(name) if p["number"] == mobile("Alice Ops")]
        assert alice["muted"] is True
        await asyncio.to_thread(svc.remove_from_bridge, code, "Alice Ops")
        await until(lambda: _presence(ctx, code, "Alice Ops") is BridgeState.LEFT, "Alice out")
        assert _state(ctx, code, "Alice Ops") is State.JOINED  # she came; leaving keeps that
        with pytest.raises(UserError, match="not on .*'s bridge"):
            await asyncio.to_thread(svc.set_muted, code, "Alice Ops", False)
        rc = svc.roll_call(code)
        assert rc.bridge.enabled and rc.bridge.on_bridge == 2  # Frank, and Erin for Dan
    figures = json.loads(report.render(ctx, code, "json"))["bridge"]
    assert 0 < figures["first_on_bridge_after_s"] < 10
    assert figures["quorum_on_bridge_after_s"] is not None  # Alice, Erin and Frank at once
    attendance = {a["person"]: a for a in figures["attendance"]}
    assert attendance["Frank Comms"]["joins"] == 2 and attendance["Frank Comms"]["on_bridge"]
    assert attendance["Alice Ops"]["last_left_at"] is not None
    assert "Dan Biz" not in attendance  # a voicemail box is no attendance
    text = report.render(ctx, code, "md")
    assert "### The incident bridge" in text and "(bridge call)" in text
    # Closed: the bridge is no longer watched, so the roll call claims nobody is on it.
    assert load_view(ctx, code).counts_line.split(" · ")[0] == "☎ 2 on bridge"
    svc.close(code, problem_ref="PRB-1", owner="Alice Ops", summary="fixed")
    closed = load_view(ctx, code)
    assert closed.counts_line.split(" · ")[0] == "☎ bridge no longer watched"
    assert not any("on bridge" in s.cells[DELIVERY].plain for s in closed.seats)


async def test_a_call_twilio_does_not_know_is_not_an_outage(
    db_path: Path, bridge_standin: StandIn
) -> None:
    """A bridge call placed through another stand-in (the demo restarted) or purged at Twilio:
    looking it up answers 404. Twilio answered, so the banner must not say UNREACHABLE (it
    flapped every poll), and the call is not asked about again."""
    standin = bridge_standin
    ctx = Context(settings=bridge_settings(db_path, standin), actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    for name in ("Alice Ops", "Dan Biz", "Frank Comms", "Sam Spec", "Tina Spec", "Uma Spec"):
        standin.bridge_plan(mobile(name), "no-answer")
    svc.declare(title="Payments down", severity="SEV1", channel="bridge")
    ghost = "CA" + "f" * 32
    with ctx.store.write() as db:
        db.execute(
            "UPDATE alert SET status = 'in-progress', provider_sid = ?, sent_at = ? WHERE id = "
            "(SELECT MIN(id) FROM alert WHERE channel = 'bridge')",
            [ghost, FROZEN_NOW.isoformat()],
        )
    async with Running(ctx) as running:
        watcher = running.dispatcher.bridge
        assert watcher is not None
        await until(lambda: ghost in watcher.unknown, "the unknown call looked up")
        polls = watcher.polls
        await until(lambda: watcher.polls >= polls + 3, "three more polls")
        assert running.dispatcher.snapshot().reachable is True
    asked = [r for r in standin.request_log() if ghost in r.path]
    assert len(asked) == 1


async def test_quorum_can_require_the_deciders_on_the_bridge(
    db_path: Path, bridge_standin: StandIn
) -> None:
    standin = bridge_standin
    settings = bridge_settings(db_path, standin)
    settings = replace(settings, bridge=replace(settings.bridge, quorum_on_bridge=True))
    ctx = Context(settings=settings, actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    for name in ("Alice Ops", "Dan Biz", "Frank Comms"):
        standin.bridge_plan(mobile(name), "no-answer")
    code = svc.declare(title="Payments down", severity="SEV1", channel="bridge").code
    svc.mark_joined(code, ["Alice Ops", "Dan Biz", "Frank Comms"])  # "1" by SMS, say
    assert not svc.roll_call(code).quorum.reached  # nobody is on the bridge
    standin.bridge_plan(mobile("Alice Ops"), "join", after=0.0)
    async with Running(ctx):
        for name in ("Alice Ops", "Dan Biz", "Frank Comms"):
            standin.dial_in(mobile(name), conference_name(code))
        await until(lambda: svc.roll_call(code).quorum.reached, "quorum on the bridge")
    plain = replace(settings, bridge=replace(settings.bridge, quorum_on_bridge=False))
    assert IncidentService(Context(settings=plain)).roll_call(code).quorum.reached


async def test_calls_go_deciders_first_at_the_calls_per_second_rate(
    db_path: Path, bridge_standin: StandIn
) -> None:
    standin = bridge_standin
    ctx = Context(settings=bridge_settings(db_path, standin, cps=4.0), actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    add_duty_rotation(ctx, ["Carol Ops"])
    with ctx.store.write() as db:  # Alice, IT's seat holder, cannot decide: she goes later
        db.execute("UPDATE person SET decision_authority = 0 WHERE name = 'Alice Ops'")
    svc = IncidentService(ctx)
    async with Running(ctx):
        svc.declare(title="Payments down", severity="SEV1", categories=["cards"], channel="bridge")
        await until(lambda: len(standin.calls()) == 7, "seven calls", within=30)
    order = [r.to for r in standin.calls()]
    expected = ["Carol Ops", "Dan Biz", "Frank Comms", "Alice Ops", "Sam Spec", "Tina Spec"]
    assert order == [mobile(n) for n in [*expected, "Uma Spec"]]
    made = [r.created_at for r in standin.calls()]
    span = (made[-1] - made[0]).total_seconds()
    assert span >= 6 * 0.25 * 0.9  # 4 a second, not faster (requests arrive with some jitter)
    texts = standin.messages(direction="outbound-api")
    assert len(texts) == 7 and max(m.created_at for m in texts) < made[0]  # SMS go first


async def test_a_full_bridge_is_retried_with_the_plain_reason(
    db_path: Path, bridge_standin: StandIn
) -> None:
    standin = bridge_standin
    standin.set_conference_limit(1)
    # One call a second: the first callee is on the bridge before the second call is made.
    ctx = Context(settings=bridge_settings(db_path, standin, cps=1.0), actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    async with Running(ctx):
        svc.declare(title="Payments down", severity="SEV1", channel="bridge")

        def refused() -> list[str]:
            rows = ctx.store.query(
                "SELECT last_error FROM alert WHERE channel = 'bridge' AND last_error_code = 16020"
            )
            return [str(r["last_error"]) for r in rows]

        await until(lambda: bool(refused()), "a 16020 refusal")
    assert "the bridge is full" in refused()[0]
    statuses = {
        r["status"] for r in ctx.store.query("SELECT status FROM alert WHERE channel = 'bridge'")
    }
    assert "failed" not in statuses  # transient: it waits for room


def test_bridge_channel_needs_the_twilio_bridge(context: Context) -> None:
    seed(context.store, FROZEN_NOW)
    with pytest.raises(UserError, match='mode = "twilio"'):
        IncidentService(context).declare(title="x", severity="SEV1", channel="bridge")


def test_cli_declare_with_bridge_and_status_json(tmp_path: Path, db_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[bridge]\nmode = "twilio"\n', encoding="utf-8")
    ctx = Context(settings=Settings(db_path=db_path))
    seed(ctx.store, FROZEN_NOW)
    ctx.close()
    runner = CliRunner()
    env = {"MIM_CONSOLE_CONFIG": str(config)}
    args = ["--db", str(db_path)]
    done = runner.invoke(
        main, [*args, "declare", "-t", "Payments", "--channel", "bridge", "--yes"], env=env
    )
    assert done.exit_code == 0, done.output
    code = done.output.strip().splitlines()[0]
    shown = runner.invoke(main, [*args, "status", code, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    participants = json.loads(shown.output)["participants"]
    assert participants and all(
        p["bridge"] == {"state": None, "since": None, "muted": False} for p in participants
    )
    rows = Context(settings=Settings(db_path=db_path)).store.query(
        "SELECT channel, COUNT(*) AS n FROM alert GROUP BY channel ORDER BY channel"
    )
    assert {r["channel"]: r["n"] for r in rows} == {"bridge": 3, "sms": 3}


async def test_with_a_callback_url_pressing_2_before_the_bridge_counts(
    db_path: Path, bridge_standin: StandIn
) -> None:
    standin = bridge_standin
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    public = f"http://127.0.0.1:{port}/voice"
    settings = bridge_settings(db_path, standin)
    settings = replace(settings, twilio=replace(settings.twilio, callback_url=public))
    ctx = Context(settings=settings, actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)

    def pressed(call_sid: str, digit: str) -> None:
        svc.apply_keypress(call_sid, digit)

    receiver = KeypressReceiver.from_settings(settings.twilio, pressed, port=port)
    await receiver.start()
    standin.script_keypress(mobile("Dan Biz"), "2", after=0.1)
    try:
        async with Running(ctx):
            code = svc.declare(title="Payments down", severity="SEV1", channel="bridge").code
            await until(lambda: _state(ctx, code, "Dan Biz") is State.UNABLE, "Dan unable")
            await until(lambda: _state(ctx, code, "Alice Ops") is State.JOINED, "Alice joined")
    finally:
        await receiver.stop()
    assert _presence(ctx, code, "Dan Biz") is None  # he never reached the bridge
    [attempt] = standin.keypress_log
    assert attempt.status == 200


async def test_roll_call_bridge_keys_show_only_with_the_twilio_bridge(db_path: Path) -> None:
    from mim_console.app import make_app
    from mim_console.screens.rollcall import RollCallScreen
    from tests.ui_data import seed_small

    settings = Settings(db_path=db_path, bridge=BridgeSettings(mode="twilio"))
    ctx = Context(settings=settings, clock=lambda: FROZEN_NOW, actor="duty manager")
    seed_small(ctx.store, FROZEN_NOW)
    code = IncidentService(ctx).declare(title="Bridge keys", severity="SEV1", channel="bridge").code
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        screen = app.screen
        assert isinstance(screen, RollCallScreen)
        roll: RollCallScreen = screen
        await until(lambda: roll.view is not None, "the roll call")
        assert roll.check_action("mute", ()) and roll.check_action("call_me", ())
        assert roll.view is not None and roll.view.counts_line.startswith("☎ 0 on bridge")
        await pilot.press("v")  # nobody is on the bridge yet
        await pilot.pause()
        assert any("is not on the bridge" in n.message for n in app._notifications)
        before = len(ctx.store.query("SELECT id FROM alert WHERE channel = 'bridge'"))
        await pilot.press("o")
        await until(
            lambda: (
                len(ctx.store.query("SELECT id FROM alert WHERE channel = 'bridge'")) == before + 1
            ),
            "the duty manager's bridge call",
        )
    plain = Context(settings=Settings(db_path=db_path), clock=lambda: FROZEN_NOW)
    app = make_app(plain, dispatch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        screen = app.screen
        assert isinstance(screen, RollCallScreen)
        second: RollCallScreen = screen
        await until(lambda: second.view is not None, "the roll call")
        assert not second.check_action("mute", ())  # no Twilio bridge: the keys are hidden
    assert code
