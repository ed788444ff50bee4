"""The incident service on a real SQLite file: every action one transaction, refusals change
nothing, escalation timers, replies, spokesperson, close."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mim_console.config import BridgeSettings, Settings
from mim_console.domain import sms
from mim_console.domain.incident import IllegalTransition, IncidentStatus, State
from mim_console.domain.replies import InboundReply, parse_reply
from mim_console.errors import NotFound, UserError
from mim_console.services.comms import CommsService
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import FakeClock, mobile, seed


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FROZEN_NOW)


@pytest.fixture
def ctx(db_path: Path, clock: FakeClock) -> Iterator[Context]:
    settings = Settings(
        db_path=db_path,
        bridge=BridgeSettings(number="+358 9 1234 5678", pin="4242"),
    )
    c = Context(settings=settings, clock=clock, actor="dm")
    seed(c.store, clock.now)
    yield c
    c.close()


@pytest.fixture
def svc(ctx: Context) -> IncidentService:
    return IncidentService(ctx)


def snapshot(ctx: Context) -> dict[str, Any]:
    """Everything an action could touch, to prove a refusal changed nothing."""
    return {
        table: ctx.store.query(f"SELECT * FROM {table} ORDER BY id")
        for table in ("incident", "participant", "event", "alert")
    }


def states(svc: IncidentService, code: str) -> dict[str, str]:
    return {s.person.name: s.participant.state.value for s in svc.roll_call(code).seats}


def declare(svc: IncidentService, **kw: Any) -> str:
    args: dict[str, Any] = {
        "title": "Payments down",
        "severity": "SEV1",
        "categories": ["payments"],
    }
    args.update(kw)
    return svc.declare(**args).code


def reply(ctx: Context, name: str, code: str, meaning: str, body: str = "1") -> InboundReply:
    """An SMS reply from ``name`` about ``code``, as the dispatcher hands it over."""
    assert parse_reply(body).meaning.value == meaning
    return InboundReply(
        sender=mobile(name), body=body, provider_id=f"SM{uuid.uuid4().hex}", received_at=ctx.clock()
    )


def test_declare_pages_party_representatives_and_the_covering_group(
    svc: IncidentService, ctx: Context
) -> None:
    code = declare(svc)
    assert code == "MI-2026-001"
    assert states(svc, code) == {
        "Alice Ops": "alerted",
        "Dan Biz": "alerted",
        "Frank Comms": "alerted",
        "Sam Spec": "alerted",
        "Tina Spec": "alerted",
        "Uma Spec": "alerted",
    }
    alerts = ctx.store.query("SELECT * FROM alert ORDER BY id")
    assert len(alerts) == 6 and {a["purpose"] for a in alerts} == {"alert"}
    inc = svc.incident(code)
    for a in alerts:
        assert a["channel"] == "sms" and a["status"] == "queued"
        assert code in a["body"] and inc.reply_code in a["body"]
        assert "+358 9 1234 5678" in a["body"] and "Payments down" in a["body"]
        assert sms.analyse(a["body"]).segments == 1
    kinds = [e.kind for e in svc.timeline(code)]
    assert kinds[0] == "declared" and kinds.count("alerted") == 6
    assert declare(svc, title="Second") == "MI-2026-002"
    assert svc.incident("MI-2026-002").reply_code != inc.reply_code


def test_declare_with_voice_and_by_hand_group(svc: IncidentService, ctx: Context) -> None:
    code = declare(svc, categories=[], group_refs=["Payments"], channel="both")
    alerts = ctx.store.query("SELECT channel, body FROM alert")
    assert sorted({a["channel"] for a in alerts}) == ["sms", "voice"]
    voice = [a for a in alerts if a["channel"] == "voice"]
    assert len(voice) == 6 and all(a["body"].startswith("<?xml") for a in voice)
    assert "Sam Spec" in states(svc, code)


def test_exercise_flags_every_message(svc: IncidentService, ctx: Context) -> None:
    code = declare(svc, exercise=True)
    assert svc.incident(code).exercise
    svc.mark_joined(code, ["Alice Ops"])
    svc.release(code, ["Alice Ops"])
    svc.close(code, all_clear=True)
    bodies = [a["body"] for a in ctx.store.query("SELECT body FROM alert WHERE channel='sms'")]
    assert bodies and all(b.startswith("EXERCISE") for b in bodies)


def test_declare_refuses_bad_input_and_writes_nothing(svc: IncidentService, ctx: Context) -> None:
    before = snapshot(ctx)
    with pytest.raises(UserError, match="title"):
        svc.declare(title="  ", severity="SEV1")
    with pytest.raises(UserError, match="channel"):
        svc.declare(title="x", severity="SEV1", channel="pigeon")
    with pytest.raises(NotFound):
        svc.declare(title="x", severity="SEV1", group_refs=["No Such Group"])
    assert snapshot(ctx) == before


def test_unable_reply_alerts_the_deputy_at_once(svc: IncidentService, ctx: Context) -> None:
    code = declare(svc)
    assert svc.apply_reply(reply(ctx, "Dan Biz", code, "unable", "2")) == "unable"
    rc = svc.roll_call(code)
    erin = next(s for s in rc.seats if s.person.name == "Erin Biz")
    assert erin.participant.state is State.ALERTED and erin.deputy_for == "Dan Biz"
    alert = ctx.store.query("SELECT * FROM alert WHERE to_number = ?", [mobile("Erin Biz")])
    assert [a["purpose"] for a in alert] == ["escalation"]
    assert any("deputy Erin Biz alerted for Dan Biz" in e.text for e in svc.timeline(code))


def test_escalation_timers_voice_then_deputy_once(
    svc: IncidentService, ctx: Context, clock: FakeClock
) -> None:
    code = declare(svc)
    for name in ("Alice Ops", "Dan Biz", "Sam Spec", "Tina Spec", "Uma Spec"):
        svc.mark_joined(code, [name])
    clock.advance(minutes=4)
    assert svc.tick() == 0
    clock.advance(minutes=1)
    assert svc.tick() == 1
    assert states(svc, code)["Frank Comms"] == "escalated"
    calls = ctx.store.query("SELECT * FROM alert WHERE channel = 'voice'")
    assert [c["to_number"] for c in calls] == [mobile("Frank Comms")]
    assert svc.tick() == 0  # no second call
    clock.advance(minutes=5)
    assert svc.tick() == 1
    s = states(svc, code)
    assert s["Frank Comms"] == "unreachable" and s["Gina Comms"] == "alerted"
    assert svc.tick() == 0
    rc = svc.roll_call(code)
    assert not rc.quorum.reached and rc.quorum.missing == [rc_party(rc, "Communications")]
    svc.apply_reply(reply(ctx, "Gina Comms", code, "joining"))
    assert svc.roll_call(code).quorum.reached


def rc_party(rc: Any, name: str) -> int:
    return int(next(pid for pid, n in rc.party_names.items() if n == name))


def test_no_deputy_left_is_said_plainly(svc: IncidentService, ctx: Context) -> None:
    code = declare(svc, categories=[], group_refs=["Payments"])
    svc.mark_unable(code, ["Sam Spec"])  # Tina and Uma are already paged
    assert any("no deputy left in Payments for Sam Spec" in e.text for e in svc.timeline(code))


def test_release_someone_who_never_joined_changes_nothing(
    svc: IncidentService, ctx: Context
) -> None:
    code = declare(svc)
    svc.mark_joined(code, ["Alice Ops"])
    before = snapshot(ctx)
    with pytest.raises(IllegalTransition, match="only someone who joined can be released"):
        svc.release(code, ["Alice Ops", "Dan Biz"])  # Alice alone would be fine
    assert snapshot(ctx) == before


def test_release_and_recall_round_trip(
    svc: IncidentService, ctx: Context, clock: FakeClock
) -> None:
    code = declare(svc)
    svc.mark_joined(code, ["Sam Spec", "Tina Spec", "Uma Spec"])
    clock.advance(minutes=3)
    svc.release(code, ["Tina Spec", "Uma Spec"])
    rc = svc.roll_call(code)
    assert [s.person.name for s in rc.standby] == ["Tina Spec", "Uma Spec"]
    assert rc.standby[0].participant.standby_since == clock.now
    standby_sms = ctx.store.query("SELECT * FROM alert WHERE purpose = 'standby'")
    assert len(standby_sms) == 2 and "standby" in standby_sms[0]["body"]
    svc.recall(code, ["Tina Spec"])
    assert states(svc, code)["Tina Spec"] == "recalled"
    assert svc.apply_reply(reply(ctx, "Tina Spec", code, "joining")) == "joined"
    svc.recall(code, [], everyone=True)
    assert states(svc, code)["Uma Spec"] == "recalled"
    with pytest.raises(UserError, match="nobody is on standby"):
        svc.recall(code, [], everyone=True)
    with pytest.raises(IllegalTransition, match="only someone on standby can be recalled"):
        svc.recall(code, ["Sam Spec"])


def test_a_reply_is_applied_once(svc: IncidentService, ctx: Context) -> None:
    code = declare(svc)
    rid = reply(ctx, "Alice Ops", code, "joining")
    assert svc.apply_reply(rid) == "joined"
    events = len(svc.timeline(code))
    assert svc.apply_reply(rid) == "nothing to do"
    assert len(svc.timeline(code)) == events
    assert svc.apply_reply(reply(ctx, "Alice Ops", code, "joining", "yes")) == "already joined"


def test_reply_from_someone_on_standby_does_not_rejoin_them(
    svc: IncidentService, ctx: Context
) -> None:
    code = declare(svc)
    svc.mark_joined(code, ["Sam Spec"])
    svc.release(code, ["Sam Spec"])
    assert "recall" in svc.apply_reply(reply(ctx, "Sam Spec", code, "joining"))
    assert states(svc, code)["Sam Spec"] == "standby"


def test_one_spokesperson_at_a_time(svc: IncidentService, ctx: Context) -> None:
    code = declare(svc)
    svc.mark_joined(code, ["Sam Spec", "Tina Spec"])
    svc.set_spokesperson(code, "Sam Spec")
    before = snapshot(ctx)
    with pytest.raises(UserError, match="already has a spokesperson, Sam Spec"):
        svc.set_spokesperson(code, "Tina Spec")
    with pytest.raises(UserError, match="specialist"):
        svc.set_spokesperson(code, "Alice Ops")
    with pytest.raises(UserError, match="not in MI-2026-001"):
        svc.set_spokesperson(code, "Carol Ops")
    assert snapshot(ctx) == before
    assert "was Sam Spec" in svc.set_spokesperson(code, "Tina Spec", replace_current=True)
    assert svc.roll_call(code).spokesperson is not None
    kinds = [e.kind for e in svc.timeline(code)]
    assert kinds.count("spokesperson") == 2


def test_status_report_sets_the_next_status_time(svc: IncidentService, clock: FakeClock) -> None:
    code = declare(svc)
    svc.mark_joined(code, ["Sam Spec"])
    svc.set_spokesperson(code, "sam@example.org")
    inc = svc.status_report(code, "Root cause found in card switch", next_in_min=30)
    assert inc.next_status_at is not None
    assert (inc.next_status_at - clock.now).total_seconds() == 1800
    assert not svc.roll_call(code).status_due(clock.advance(minutes=29))
    assert svc.roll_call(code).status_due(clock.advance(minutes=1))
    report_event = [e for e in svc.timeline(code) if e.kind == "status_report"][0]
    assert report_event.actor == "Sam Spec"
    svc.directive(code, "Prioritise card payments over invoicing")
    assert svc.timeline(code)[-1].kind == "directive"
    with pytest.raises(UserError, match="between"):
        svc.status_report(code, "x", next_in_min=0)


def test_close_stands_everyone_down_and_then_refuses_changes(
    svc: IncidentService, ctx: Context
) -> None:
    code = declare(svc)
    svc.mark_joined(code, ["Alice Ops"])
    svc.restore(code)
    inc = svc.close(code, problem_ref="PRB-1234", owner="Alice Ops", summary="card switch")
    assert inc.status is IncidentStatus.CLOSED and inc.problem_ref == "PRB-1234"
    assert set(states(svc, code).values()) == {"stood_down"}
    assert not ctx.store.query("SELECT * FROM alert WHERE purpose = 'stand_down'")
    case = svc.problem_case(code)
    assert case["problem_ref"] == "PRB-1234" and case["incident"]["code"] == code
    json.dumps(case)
    before = snapshot(ctx)
    for action in (
        lambda: svc.mark_joined(code, ["Alice Ops"]),
        lambda: svc.note(code, "late note"),
        lambda: svc.close(code),
        lambda: svc.set_spokesperson(code, "Sam Spec"),
    ):
        with pytest.raises(UserError, match="is closed"):
            action()
    assert snapshot(ctx) == before
    assert code not in [i.code for i in svc.incidents()]
    assert code in [i.code for i in svc.incidents(include_closed=True)]


def test_all_clear_goes_to_everyone(svc: IncidentService, ctx: Context) -> None:
    code = declare(svc)
    svc.close(code, all_clear=True)
    rows = ctx.store.query("SELECT body FROM alert WHERE purpose = 'stand_down'")
    assert len(rows) == 6 and all("all clear" in r["body"] for r in rows)


def test_close_withdraws_alerts_that_never_went_out(svc: IncidentService, ctx: Context) -> None:
    """Closed while Twilio was unreachable: nobody is asked to join after the all-clear."""
    code = declare(svc)
    sent = ctx.store.query("SELECT id FROM alert ORDER BY id LIMIT 2")
    with ctx.store.write() as db:  # two went out before the outage, the rest are still queued
        db.execute(
            "UPDATE alert SET status = 'accepted', provider_sid = 'SM' || id WHERE id IN (?, ?)",
            [r["id"] for r in sent],
        )
    comms = CommsService(ctx)  # an approved stakeholder update is the MRT's word: it still goes
    comms.add_to_list("Board", "+358 40 7654321")
    draft = comms.draft(code, "stakeholder_update", "Payments are slow")
    svc.mark_joined(code, ["Alice Ops"])  # the approver joined
    comms.approve(code, "stakeholder_update", draft.version, "Alice Ops")
    comms.publish(code, "stakeholder_update", draft.version, "sms", "Board")
    svc.close(code, all_clear=True)
    rows = ctx.store.query("SELECT purpose, status, last_error FROM alert ORDER BY id")
    assert [r["status"] for r in rows if r["purpose"] == "stakeholder"] == ["queued"]
    alerts = [r for r in rows if r["purpose"] == "alert"]
    assert [r["status"] for r in alerts] == ["accepted"] * 2 + ["failed"] * 4
    assert all("closed before it could be sent" in r["last_error"] for r in alerts[2:])
    stand_downs = [r for r in rows if r["purpose"] == "stand_down"]
    assert len(stand_downs) == 6 and {r["status"] for r in stand_downs} == {"queued"}
    closed = [e for e in svc.timeline(code) if e.kind == "closed"]
    assert "4 unsent alert(s) withdrawn" in closed[0].text


def test_unknown_incident_and_person(svc: IncidentService) -> None:
    with pytest.raises(NotFound, match="no incident"):
        svc.roll_call("MI-1999-001")
    code = declare(svc)
    with pytest.raises(NotFound):
        svc.mark_joined(code, ["Nobody Atall"])
    with pytest.raises(UserError, match="not in"):
        svc.mark_joined(code, ["Carol Ops"])


def test_the_timeline_is_append_only(svc: IncidentService, ctx: Context) -> None:
    code = declare(svc)
    svc.note(code, "first call at 08:02")
    with ctx.store.write() as db, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE event SET text = 'rewritten'")
    with ctx.store.write() as db, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM event")
    assert svc.timeline(code)[-1].text == "first call at 08:02"


def test_markup_in_names_is_stored_as_given(svc: IncidentService, ctx: Context) -> None:
    code = declare(svc, title="[bold red]Cards[/] <b>down</b>")
    assert svc.incident(code).title == "[bold red]Cards[/] <b>down</b>"


def add_duty_rotation(ctx: Context, members: list[str]) -> None:
    """A daily duty-manager rotation starting well before the test's clock."""
    from datetime import date, time

    from mim_console.data.rotations import RotationSpec, create_rotation
    from mim_console.domain.rotation import RotationRole, ShiftUnit

    with ctx.store.write() as db:
        ids = [
            int(db.execute("SELECT id FROM person WHERE name = ?", [n]).fetchone()[0])
            for n in members
        ]
        spec = RotationSpec(
            name="Duty managers",
            shift_unit=ShiftUnit.DAYS,
            shift_length=1,
            handoff_time=time(9, 0),
            timezone="Europe/Helsinki",
            start_date=date(2026, 1, 1),
            role=RotationRole.DUTY_MANAGER,
        )
        create_rotation(db, spec, ids)


def test_the_duty_manager_on_duty_is_paged_and_deputised(
    svc: IncidentService, ctx: Context
) -> None:
    add_duty_rotation(ctx, ["Carol Ops", "Bob Ops"])
    code = declare(svc)
    rc = svc.roll_call(code)
    [dm] = [s for s in rc.seats if s.participant.role.value == "duty_manager"]
    on_duty = dm.person.name
    assert on_duty in ("Carol Ops", "Bob Ops")
    svc.mark_unable(code, [on_duty])
    other = "Bob Ops" if on_duty == "Carol Ops" else "Carol Ops"
    seat = next(s for s in svc.roll_call(code).seats if s.person.name == other)
    assert seat.deputy_for == on_duty and seat.participant.role.value == "duty_manager"


ACTIONS = ("joined", "unable", "release", "recall", "escalate", "tick", "reply_join")
NAMES = ("Alice Ops", "Dan Biz", "Frank Comms", "Sam Spec", "Tina Spec")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(ACTIONS), st.sampled_from(NAMES), st.integers(0, 12)),
        min_size=1,
        max_size=14,
    )
)
def test_random_roll_call_actions_keep_every_rule(
    steps: list[tuple[str, str, int]],
) -> None:
    """Whatever the duty manager and the timers do, in any order: each action either applies
    whole or changes nothing; states stay legal; each state change is on the timeline."""
    with tempfile.TemporaryDirectory() as folder:
        clock = FakeClock(FROZEN_NOW)
        settings_ = Settings(db_path=Path(folder) / "mim.db")
        ctx = Context(settings=settings_, clock=clock, actor="dm")
        try:
            seed(ctx.store, clock.now)
            svc = IncidentService(ctx)
            code = declare(svc)
            for action, name, minutes in steps:
                clock.advance(minutes=minutes)
                before = snapshot(ctx)
                try:
                    if action == "joined":
                        svc.mark_joined(code, [name])
                    elif action == "unable":
                        svc.mark_unable(code, [name])
                    elif action == "release":
                        svc.release(code, [name])
                    elif action == "recall":
                        svc.recall(code, [name])
                    elif action == "escalate":
                        svc.escalate(code, name)
                    elif action == "tick":
                        svc.tick()
                    else:
                        svc.apply_reply(reply(ctx, name, code, "joining"))
                except UserError:
                    assert snapshot(ctx) == before
                for p in snapshot(ctx)["participant"]:
                    assert p["state"] in {s.value for s in State}
                    assert (p["state"] == "standby") == (p["standby_since"] is not None)
                    if p["state"] == "joined":
                        assert p["joined_at"] is not None
            # Replaying the timeline's moves gives every participant's current state.
            last: dict[int, str] = {}
            for e in svc.timeline(code):
                if "participant" in e.data and e.data.get("to"):
                    last[int(str(e.data["participant"]))] = str(e.data["to"])
            assert last == {p["id"]: p["state"] for p in snapshot(ctx)["participant"]}
        finally:
            ctx.close()


def test_a_voice_keypress_answers_like_a_reply(
    svc: IncidentService, ctx: Context, clock: FakeClock
) -> None:
    code = declare(svc)
    clock.advance(minutes=5)
    svc.tick()  # everyone silent gets a call
    with ctx.store.write() as db:  # the dispatcher stores the call's SID when Twilio accepts it
        db.execute(
            "UPDATE alert SET provider_sid = 'CA' || id, status = 'in-progress' "
            "WHERE channel = 'voice'"
        )
    call = ctx.store.query(
        "SELECT provider_sid FROM alert WHERE channel = 'voice' AND to_number = ?",
        [mobile("Dan Biz")],
    )[0]["provider_sid"]
    assert svc.apply_keypress(call, "2") == "unable"
    assert states(svc, code)["Erin Biz"] == "alerted"  # the deputy, at once
    assert svc.apply_keypress(call, "2") == "already unable"
    assert svc.apply_keypress(call, "7") == "logged"
    assert svc.apply_keypress("CAnothing", "1") == "unknown call"
    texts = [e.text for e in svc.timeline(code) if e.kind == "reply"]
    assert texts[0] == "voice keypress from Dan Biz: key 2 -> unable"


def test_declare_with_nobody_to_page_says_what_to_do(db_path: Path) -> None:
    ctx = Context(settings=Settings(db_path=db_path), clock=FakeClock(FROZEN_NOW))
    try:
        with pytest.raises(UserError, match="nobody to page.*import people"):
            IncidentService(ctx).declare(title="x", severity="SEV1")
        assert ctx.store.query("SELECT count(*) AS n FROM incident")[0]["n"] == 0
    finally:
        ctx.close()


def test_two_consoles_acting_at_once_lose_nothing(db_path: Path, ctx: Context) -> None:
    """Two processes' worth of connections on one file: every action lands, none is lost."""
    import threading

    code = declare(IncidentService(ctx))
    errors: list[BaseException] = []

    def console(names: list[str]) -> None:
        other = Context(settings=Settings(db_path=db_path), actor="other")
        try:
            svc = IncidentService(other)
            for _ in range(5):
                for name in names:
                    svc.mark_joined(code, [name])
                    svc.note(code, f"{name} on the bridge")
                    svc.release(code, [name])
                    svc.recall(code, [name])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            other.close()

    threads = [
        threading.Thread(target=console, args=(["Alice Ops", "Sam Spec"],)),
        threading.Thread(target=console, args=(["Tina Spec", "Uma Spec"],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    svc = IncidentService(ctx)
    kinds = [e.kind for e in svc.timeline(code)]
    assert kinds.count("note") == 20 and kinds.count("state") == 60
    assert {states(svc, code)[n] for n in ("Alice Ops", "Sam Spec", "Tina Spec")} == {"recalled"}


def test_a_party_rotation_chooses_the_seat_and_its_deputy(
    svc: IncidentService, ctx: Context
) -> None:
    """IT Operations' seat follows its rotation (Carol, Bob), not the fixed order (Alice first);
    the deputy is the rotation's next person, not the fixed order's."""
    from datetime import date, time

    from mim_console.data.rotations import RotationSpec, create_rotation
    from mim_console.domain.rotation import RotationRole, ShiftUnit

    with ctx.store.write() as db:
        ids = {
            n: int(db.execute("SELECT id FROM person WHERE name = ?", [n]).fetchone()[0])
            for n in ("Carol Ops", "Bob Ops")
        }
        party = int(db.execute("SELECT id FROM party WHERE name = 'IT Operations'").fetchone()[0])
        spec = RotationSpec(
            name="IT seat",
            shift_unit=ShiftUnit.WEEKS,
            shift_length=1,
            handoff_time=time(9, 0),
            timezone="Europe/Helsinki",
            start_date=date(2026, 3, 2),  # a Monday: Carol's first week started at 09:00
            role=RotationRole.PARTY,
            party_id=party,
            handoff_weekday=0,
        )
        create_rotation(db, spec, [ids["Carol Ops"], ids["Bob Ops"]])
    code = declare(svc)
    s = states(svc, code)
    assert s["Carol Ops"] == "alerted" and "Alice Ops" not in s
    svc.mark_unable(code, ["Carol Ops"])
    seat = next(x for x in svc.roll_call(code).seats if x.deputy_for == "Carol Ops")
    assert seat.person.name == "Bob Ops"  # fixed order would have wrapped to Alice
