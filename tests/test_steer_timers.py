"""Timers in sight: every waiting participant's next escalation step and when, the same rule the
tick follows; recalled people are chased like a first alert; escalating by hand names its step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mim_console.cli import main
from mim_console.clock import from_iso
from mim_console.config import EscalationSettings, Settings
from mim_console.data.lease import Lease
from mim_console.data.store import Store
from mim_console.domain.incident import (
    ActionKind,
    Participant,
    Role,
    State,
    escalation_actions,
    move,
    next_step,
)
from mim_console.errors import UserError
from mim_console.services import outbox_steer
from mim_console.services.context import Context
from mim_console.services.dispatching import quit_warning
from mim_console.services.incidents import IncidentService, Seat
from tests.conftest import FROZEN_NOW
from tests.incident_seed import FakeClock, mobile, seed

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=FROZEN_NOW.tzinfo)
RULE = EscalationSettings(voice_after_min=3, deputy_after_min=4)
POLICY = {"mrt": RULE, "specialist": RULE, "duty_manager": RULE}


def part(state: State = State.ALERTED, step: int = 0, at: datetime = T0) -> Participant:
    return Participant(
        1, 1, 10, Role.MRT, state, at, party_id=1, alerted_at=at, escalation_step=step
    )


# --- the pure rule ------------------------------------------------------------------------


def test_next_step_per_state() -> None:
    voice = next_step(part(), RULE, T0)
    assert voice is not None and voice.kind is ActionKind.VOICE
    assert voice.at == T0 + timedelta(minutes=3)
    called = replace(move(part(), State.ESCALATED, T0 + timedelta(minutes=3)), escalation_step=1)
    deputy = next_step(called, RULE, T0)
    assert deputy is not None and deputy.kind is ActionKind.DEPUTY
    assert deputy.at == T0 + timedelta(minutes=7)
    silent = next_step(part(), RULE, T0, voice_enabled=False)
    assert silent is not None and silent.kind is ActionKind.DEPUTY
    assert silent.at == T0 + timedelta(minutes=7)
    unable = next_step(part(State.UNABLE), None, T0 + timedelta(minutes=1))
    assert unable is not None and unable.kind is ActionKind.DEPUTY and unable.at == T0
    assert next_step(part(State.JOINED), RULE, T0) is None
    assert next_step(part(State.STANDBY), RULE, T0) is None
    assert next_step(part(step=2), RULE, T0) is None
    assert next_step(part(), None, T0) is None


def test_a_recall_restarts_the_timers_from_the_recall() -> None:
    joined = move(part(), State.JOINED, T0 + timedelta(minutes=1))
    standby = move(joined, State.STANDBY, T0 + timedelta(minutes=20))
    recalled = move(standby, State.RECALLED, T0 + timedelta(minutes=40))
    step = next_step(recalled, RULE, T0 + timedelta(minutes=40))
    assert step is not None and step.kind is ActionKind.VOICE
    assert step.at == T0 + timedelta(minutes=43)
    assert escalation_actions([recalled], POLICY, T0 + timedelta(minutes=42, seconds=59)) == []
    [action] = escalation_actions([recalled], POLICY, T0 + timedelta(minutes=43))
    assert action.kind is ActionKind.VOICE and action.participant_id == recalled.id


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("step", [0, 1, 2])
@pytest.mark.parametrize("minutes", [0, 2.99, 3, 6.99, 7, 60])
def test_what_is_shown_is_what_is_done(state: State, step: int, minutes: float) -> None:
    p = part(state, step)
    now = T0 + timedelta(minutes=minutes)
    shown = next_step(p, RULE, now)
    done = escalation_actions([p], POLICY, now)
    if shown is None or shown.at > now:
        assert done == []
    else:
        assert [(a.kind, a.reason) for a in done] == [(shown.kind, shown.reason)]


# --- the service, with a frozen clock ------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FROZEN_NOW)


@pytest.fixture
def ctx(db_path: Path, clock: FakeClock) -> Iterator[Context]:
    c = Context(settings=Settings(db_path=db_path, escalation=POLICY), clock=clock, actor="dm")
    seed(c.store, clock.now)
    yield c
    c.close()


@pytest.fixture
def svc(ctx: Context) -> IncidentService:
    return IncidentService(ctx)


def _alerts_to(ctx: Context, name: str) -> list[tuple[str, str]]:
    rows = ctx.store.query(
        "SELECT channel, purpose FROM alert WHERE to_number = ? ORDER BY id", [mobile(name)]
    )
    return [(r["channel"], r["purpose"]) for r in rows]


def _seat(svc: IncidentService, code: str, name: str) -> Seat:
    return next(s for s in svc.roll_call(code).seats if s.person.name == name)


def test_recalled_person_who_never_answers_gets_the_call_then_the_deputy(
    svc: IncidentService, ctx: Context, clock: FakeClock
) -> None:
    code = svc.declare(title="Payments down", severity="SEV1", categories=["payments"]).code
    everyone = [s.person.name for s in svc.roll_call(code).seats]
    svc.mark_joined(code, everyone)
    svc.release(code, ["Alice Ops"])
    clock.advance(minutes=30)
    assert svc.tick() == 0
    recalled_at = clock.now
    svc.recall(code, ["Alice Ops"])
    seat = _seat(svc, code, "Alice Ops")
    assert seat.participant.state is State.RECALLED
    assert seat.next_step is not None and seat.next_step.kind is ActionKind.VOICE
    assert seat.next_step.at == recalled_at + timedelta(minutes=3)
    before = _alerts_to(ctx, "Alice Ops")
    clock.advance(minutes=2, seconds=59)
    assert svc.tick() == 0
    clock.advance(seconds=1)
    assert svc.tick() == 1
    assert _alerts_to(ctx, "Alice Ops")[len(before) :] == [("voice", "escalation")]
    seat = _seat(svc, code, "Alice Ops")
    assert seat.participant.state is State.ESCALATED
    assert seat.next_step is not None and seat.next_step.kind is ActionKind.DEPUTY
    assert seat.next_step.at == recalled_at + timedelta(minutes=7)
    assert _alerts_to(ctx, "Bob Ops") == []
    clock.advance(minutes=3, seconds=59)
    assert svc.tick() == 0
    clock.advance(seconds=1)
    assert svc.tick() == 1
    assert _seat(svc, code, "Alice Ops").participant.state is State.UNREACHABLE
    assert _seat(svc, code, "Alice Ops").next_step is None
    assert _alerts_to(ctx, "Bob Ops") == [("sms", "escalation")]
    assert _seat(svc, code, "Bob Ops").deputy_for == "Alice Ops"
    assert svc.tick() == 0


def test_a_cancelled_alert_stops_its_persons_timers_until_they_are_paged_again(
    svc: IncidentService, ctx: Context, clock: FakeClock
) -> None:
    """The duty manager cancelled it for a reason: no voice call, no deputy by timer; the roll
    call shows no next step. Escalating by hand pages again and the timers resume."""
    code = svc.declare(title="Payments down", severity="SEV1", categories=["payments"]).code
    [alert_id] = [
        int(r["id"])
        for r in ctx.store.query("SELECT id FROM alert WHERE to_number = ?", [mobile("Dan Biz")])
    ]
    assert "no timer escalates them" in outbox_steer.cancel(ctx, alert_id)
    assert _seat(svc, code, "Dan Biz").next_step is None
    assert _seat(svc, code, "Alice Ops").next_step is not None
    clock.advance(minutes=60)
    waiting = len(svc.roll_call(code).seats) - 1
    assert svc.tick() == waiting  # everyone else: the voice call
    assert _alerts_to(ctx, "Dan Biz") == [("sms", "alert")]
    assert _seat(svc, code, "Dan Biz").participant.state is State.ALERTED
    assert svc.tick() == 0
    assert svc.escalate(code, "Dan Biz", ActionKind.VOICE) == "voice call queued"
    seat = _seat(svc, code, "Dan Biz")
    assert seat.next_step is not None and seat.next_step.kind is ActionKind.DEPUTY
    clock.advance(minutes=4)
    assert svc.tick() >= 1
    assert _alerts_to(ctx, "Erin Biz") == [("sms", "escalation")]


def test_escalate_by_hand_names_the_deputy_and_offers_the_other_step(
    svc: IncidentService, ctx: Context
) -> None:
    code = svc.declare(title="Payments down", severity="SEV1", categories=["payments"]).code
    choice = svc.escalate_choice(code, "Dan Biz")
    assert choice.steps == (ActionKind.VOICE, ActionKind.DEPUTY)
    assert choice.deputy == "Erin Biz" and not choice.voice_ignored
    assert _alerts_to(ctx, "Erin Biz") == []  # naming the deputy pages nobody
    assert svc.escalate(code, "Dan Biz") == "voice call queued"
    choice = svc.escalate_choice(code, "Dan Biz")
    assert choice.steps == (ActionKind.DEPUTY, ActionKind.VOICE) and choice.voice_ignored
    assert svc.escalate(code, "Dan Biz", ActionKind.VOICE) == "voice call queued"
    assert [c for c, _ in _alerts_to(ctx, "Dan Biz")].count("voice") == 2
    assert _seat(svc, code, "Dan Biz").participant.state is State.ESCALATED
    assert svc.escalate(code, "Dan Biz", ActionKind.DEPUTY) == "deputy alerted"
    assert _alerts_to(ctx, "Erin Biz") == [("sms", "escalation")]
    with pytest.raises(UserError, match="nothing to escalate"):
        svc.escalate_choice(code, "Dan Biz")
    assert svc.escalate(code, "Sam Spec", ActionKind.DEPUTY) == "deputy alerted"
    assert _seat(svc, code, "Sam Spec").participant.state is State.ALERTED
    svc.mark_joined(code, ["Alice Ops"])
    with pytest.raises(UserError, match="Alice Ops in MI-2026-001 is joined: nothing to escalate"):
        svc.escalate(code, "Alice Ops", ActionKind.VOICE)


# --- status --json --------------------------------------------------------------------------


def _seeded(db_path: Path) -> None:
    store = Store(db_path)
    seed(store, FROZEN_NOW)
    store.close()


def _ok(db_path: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, ["--db", str(db_path), *args])
    assert result.exit_code == 0, result.output
    return result


def test_status_json_shows_next_step_for_every_waiting_participant(db_path: Path) -> None:
    _seeded(db_path)

    def run(*args: str) -> str:
        return _ok(db_path, *args).stdout

    code = run("declare", "-t", "Payments down", "-c", "payments", "--yes").strip()
    run("joined", code, "Alice Ops")
    run("escalate", code, "Dan Biz")
    people = {p["name"]: p for p in json.loads(run("status", code, "--json"))["participants"]}
    assert people["Alice Ops"]["next_step"] is None and people["Alice Ops"]["next_step_at"] is None
    dan = people["Dan Biz"]
    assert dan["state"] == "escalated" and dan["next_step"] == "deputy"
    assert from_iso(dan["next_step_at"]) == from_iso(dan["state_changed_at"]) + timedelta(minutes=5)
    waiting = [p for p in people.values() if p["state"] == "alerted"]
    assert len(waiting) == 4
    for p in waiting:
        assert p["next_step"] == "voice"
        at = p["next_step_at"]
        assert at.endswith("+00:00")
        assert from_iso(at) == from_iso(p["alerted_at"]) + timedelta(minutes=5)


def test_quit_warning_counts_this_consoles_own_dispatcher_as_nobody_else(
    svc: IncidentService, ctx: Context
) -> None:
    assert quit_warning(ctx, None) is None  # nothing open: nothing to lose
    code = svc.declare(title="Payments down", severity="SEV1", categories=["payments"]).code
    mine = Lease(ctx.store, holder="this-console", ttl_s=60)
    assert mine.try_acquire()
    warning = quit_warning(ctx, "this-console")
    assert warning is not None and code in warning and "`mim-console dispatch`" in warning
    assert quit_warning(ctx, "some-other-console") is None  # someone else sends
    mine.release()
    assert quit_warning(ctx, "this-console") is not None
    svc.close(code, all_clear=True)
    assert quit_warning(ctx, None) is None


def test_cli_escalate_step(db_path: Path) -> None:
    _seeded(db_path)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--db", str(db_path), *args])
        return result.exit_code, result.stdout if result.exit_code == 0 else result.output

    code = run("declare", "-t", "Payments down", "-c", "payments", "--yes")[1].strip()
    assert run("escalate", code, "Dan Biz", "--step", "deputy") == (0, "deputy alerted\n")
    assert run("escalate", code, "Sam Spec") == (0, "voice call queued\n")
    again = run("escalate", code, "Sam Spec", "--step", "voice")
    assert again == (0, "voice call queued\n")
    refused = run("escalate", code, "Dan Biz", "--step", "voice")
    assert refused[0] == 1 and "nothing to escalate" in refused[1]
    bad = run("escalate", code, "Sam Spec", "--step", "pigeon")
    assert bad[0] == 2 and "Traceback" not in bad[1]


def test_roll_call_words_for_the_time_left() -> None:
    from mim_console.screens.rollcall_view import until

    assert until(T0, T0 + timedelta(minutes=4, seconds=59)) == "in 4m"
    assert until(T0, T0 + timedelta(seconds=30)) == "in <1m"
    assert until(T0, T0) == "due"
    assert until(T0, T0 - timedelta(minutes=30)) == "due"
    assert until(T0, T0 + timedelta(minutes=75)) == "in 1h15m"


def test_cli_release_says_on_stderr_when_it_drops_a_partys_quorum(db_path: Path) -> None:
    _seeded(db_path)
    code = _ok(db_path, "declare", "-t", "Payments down", "-c", "payments", "--yes").stdout
    code = code.strip()
    _ok(db_path, "joined", code, "Alice Ops", "Sam Spec")
    kept = _ok(db_path, "release", code, "Sam Spec")
    assert kept.stdout.strip() == "release: Sam Spec" and kept.stderr == ""
    dropped = _ok(db_path, "release", code, "Alice Ops")
    assert dropped.stdout.strip() == "release: Alice Ops"
    assert dropped.stderr.strip() == "warning: this dropped the quorum of IT Operations"
