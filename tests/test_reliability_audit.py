"""Audit: the timeline and the alert history are append-only in the database, and every state
change of every participant and every alert is in them, with an actor and a time.

Participants: a random walk of legal and illegal moves (hand marks, SMS replies, voice
keypresses, releases, recalls, escalation ticks, phone calls, close), with a temporary SQLite
trigger recording every change of ``participant.state`` the code makes; the timeline's events
must match those changes one to one, in order. Alerts: a run through the dispatcher and the
stand-in (accepted, delivered, refused, retried after a 500) leaves for every alert an unbroken
chain in ``alert_history`` from ``queued`` to its current status.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mim_console.config import EscalationSettings, Settings
from mim_console.domain.backoff import BackoffPolicy
from mim_console.domain.replies import InboundReply
from mim_console.errors import UserError
from mim_console.notifiers.dispatcher import Dispatcher, DispatcherConfig
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import StandIn, Timing
from tests.conftest import FROZEN_NOW
from tests.incident_seed import PEOPLE, FakeClock, mobile, seed
from tests.slow_gate import slow_only_when_asked  # noqa: F401
from tests.twilio_fixtures import standin_twilio_settings

NAMES = [p[0] for p in PEOPLE]

# --- append-only, enforced by the database itself -----------------------------------------


def test_timeline_and_alert_history_refuse_update_and_delete(db_path: Path) -> None:
    ctx = Context(settings=Settings(db_path=db_path), clock=lambda: FROZEN_NOW, actor="dm")
    seed(ctx.store, FROZEN_NOW)
    IncidentService(ctx).declare(title="Cards down", severity="SEV1", categories=["cards"])
    ctx.close()
    raw = sqlite3.connect(db_path)  # not through the Store: the file itself refuses
    try:
        for table in ("event", "alert_history"):
            before = raw.execute(f"SELECT count(*), max(id) FROM {table}").fetchone()
            assert before[0] > 0
            for sql in (
                f"UPDATE {table} SET at = '2000-01-01T00:00:00+00:00'",
                f"DELETE FROM {table}",
                f"DELETE FROM {table} WHERE id = {before[1]}",
            ):
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    raw.execute(sql)
            assert raw.execute(f"SELECT count(*), max(id) FROM {table}").fetchone() == before
    finally:
        raw.close()


# --- participants: one event per state change -----------------------------------------------

WATCH = [
    "CREATE TEMP TABLE seen (seq INTEGER PRIMARY KEY, participant INTEGER, old TEXT, new TEXT)",
    "CREATE TEMP TRIGGER seen_insert AFTER INSERT ON main.participant "
    "BEGIN INSERT INTO seen (participant, old, new) VALUES (NEW.id, NULL, NEW.state); END",
    "CREATE TEMP TRIGGER seen_update AFTER UPDATE OF state ON main.participant "
    "WHEN NEW.state IS NOT OLD.state "
    "BEGIN INSERT INTO seen (participant, old, new) VALUES (NEW.id, OLD.state, NEW.state); END",
]

ACTIONS = (
    "joined",
    "unable",
    "release",
    "recall",
    "reply 1",
    "reply 2",
    "reply ?",
    "keypress 1",
    "keypress 2",
    "escalate",
    "call joining",
    "call no-answer",
    "tick",
)
steps = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.sampled_from(NAMES), st.integers(0, 4)),
    min_size=1,
    max_size=25,
)


class Walk:
    """One incident, one connection watched by the temporary triggers."""

    def __init__(self, folder: Path) -> None:
        rule = EscalationSettings(voice_after_min=2, deputy_after_min=3)
        settings = Settings(
            db_path=folder / "mim.db",
            escalation={"duty_manager": rule, "mrt": rule, "specialist": rule},
        )
        self.clock = FakeClock(FROZEN_NOW)
        self.ctx = Context(settings=settings, clock=self.clock, actor="dm")
        seed(self.ctx.store, FROZEN_NOW)
        with self.ctx.store.write() as db:
            for statement in WATCH:
                db.execute(statement)
        self.svc = IncidentService(self.ctx)
        self.code = self.svc.declare(title="Cards down", severity="SEV1", categories=["cards"]).code
        self.sms = 0

    def do(self, action: str, name: str, minutes: int) -> None:
        svc, code = self.svc, self.code
        self.clock.advance(minutes=minutes, seconds=1)
        try:
            if action in ("joined", "unable", "release", "recall"):
                {
                    "joined": svc.mark_joined,
                    "unable": svc.mark_unable,
                    "release": svc.release,
                    "recall": svc.recall,
                }[action](code, [name])
            elif action.startswith("reply"):
                self.sms += 1
                message = InboundReply(mobile(name), action[-1], f"SM{self.sms:032d}", self.clock())
                svc.apply_reply(message)
            elif action.startswith("keypress"):
                calls = self.ctx.store.query(
                    "SELECT id FROM alert WHERE channel = 'voice' AND to_number = ?",
                    [mobile(name)],
                )
                for call in calls:
                    with self.ctx.store.write() as db:
                        db.execute(
                            "UPDATE alert SET provider_sid = 'CA' || id WHERE id = ?", [call["id"]]
                        )
                    svc.apply_keypress(f"CA{call['id']}", action[-1])
            elif action == "escalate":
                svc.escalate(code, name)
            elif action.startswith("call"):
                svc.log_call(code, name, action.split()[1])
            elif action == "tick":
                svc.tick(self.clock())
        except UserError:
            pass  # refused: must have changed nothing (checked by the correspondence below)

    def check(self) -> None:
        seen = self.ctx.store.query("SELECT participant, old, new FROM temp.seen ORDER BY seq")
        events = self.ctx.store.query(
            "SELECT kind, actor, at, data FROM event WHERE incident_id IS NOT NULL ORDER BY id"
        )
        moves = []
        for e in events:
            data = json.loads(e["data"])
            if "participant" in data and "to" in data:
                assert e["actor"] and e["at"], e
                moves.append((data["participant"], data.get("from"), data["to"]))
        assert moves == [(s["participant"], s["old"], s["new"]) for s in seen]

    def close(self) -> None:
        self.ctx.close()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(walk=steps, close_at_end=st.booleans())
def test_every_participant_change_is_one_timeline_event(
    walk: list[tuple[str, str, int]], close_at_end: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        w = Walk(Path(folder))
        try:
            for step in walk:
                w.do(*step)
            if close_at_end:
                w.svc.close(w.code, problem_ref="PRB-1", owner="Alice Ops")
            w.check()
        finally:
            w.close()


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    walk=st.lists(
        st.tuples(st.sampled_from(ACTIONS), st.sampled_from(NAMES), st.integers(0, 4)), max_size=80
    )
)
def test_every_participant_change_is_one_timeline_event_long(
    walk: list[tuple[str, str, int]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        w = Walk(Path(folder))
        try:
            for step in walk:
                w.do(*step)
            w.svc.close(w.code, problem_ref="PRB-1", owner="Alice Ops", all_clear=True)
            w.check()
        finally:
            w.close()


def test_a_scripted_walk_covers_every_state(tmp_path: Path) -> None:
    """The same check on a walk that is known to pass through every participant state."""
    w = Walk(tmp_path)
    try:
        for step in [
            ("reply 1", "Alice Ops", 0),
            ("reply 2", "Dan Biz", 0),  # Erin, the deputy, is alerted
            ("tick", "Sam Spec", 3),  # the silent are called
            ("keypress 1", "Frank Comms", 0),
            ("tick", "Sam Spec", 4),  # deputies for the still silent, then unreachable
            ("tick", "Sam Spec", 4),
            ("joined", "Tina Spec", 0),
            ("release", "Tina Spec", 0),
            ("recall", "Tina Spec", 0),
            ("reply 1", "Tina Spec", 0),
            ("call joining", "Uma Spec", 0),
            ("escalate", "Erin Biz", 0),
        ]:
            w.do(*step)
        w.svc.close(w.code, problem_ref="PRB-1", owner="Alice Ops")
        w.check()
        reached = {r["new"] for r in w.ctx.store.query("SELECT new FROM temp.seen")}
        assert {"alerted", "joined", "unable", "escalated", "standby", "recalled"} <= reached
        assert "stood_down" in reached
    finally:
        w.close()


# --- alerts: an unbroken history -------------------------------------------------------------

FAST = DispatcherConfig(
    lease_ttl_s=1.0,
    heartbeat_s=0.2,
    request_timeout_s=3.0,
    tick_s=0.1,
    status_poll_s=0.1,
    status_poll_max_s=0.3,
    inbound_poll_s=0.1,
    drain_s=2.0,
    backoff=BackoffPolicy(base_s=0.05, cap_s=0.2, max_age_min=5),
)


@pytest.fixture
async def quick_standin() -> AsyncIterator[StandIn]:
    s = StandIn(timing=Timing(sms_sent=0.02, sms_delivered=0.05))
    await s.start()
    yield s
    await s.stop()


async def until(check: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_every_alert_status_is_in_its_history(db_path: Path, quick_standin: StandIn) -> None:
    standin = quick_standin
    settings = Settings(db_path=db_path, twilio=standin_twilio_settings(standin.url))
    ctx = Context(settings=settings, actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    standin.fail_number(mobile("Uma Spec"), 21211)  # refused for good
    standin.undeliverable(mobile("Tina Spec"))  # accepted, then undelivered
    standin.fault("500", 2, method="POST", path_contains="Messages")  # two retries
    svc = IncidentService(ctx)
    notifier = TwilioNotifier(settings.twilio, timeout=5)
    dispatcher = Dispatcher(ctx.store, twilio_routes(notifier), config=FAST)
    task = asyncio.create_task(dispatcher.run())
    final = ("delivered", "undelivered", "failed")
    try:
        svc.declare(title="Cards down", severity="SEV1", categories=["cards"])
        await until(
            lambda: all(r["status"] in final for r in ctx.store.query("SELECT status FROM alert"))
        )
    finally:
        dispatcher.stop()
        await task
        await notifier.aclose()
    alerts = ctx.store.query("SELECT id, status FROM alert ORDER BY id")
    history = ctx.store.query("SELECT * FROM alert_history ORDER BY id")
    ctx.close()
    assert {a["status"] for a in alerts} == set(final)
    retried = 0
    for alert in alerts:
        chain = [h for h in history if h["alert_id"] == alert["id"]]
        assert chain[0]["old_status"] is None and chain[0]["new_status"] == "queued"
        for before, after in zip(chain, chain[1:], strict=False):
            assert after["old_status"] == before["new_status"]  # nothing skipped
            assert after["at"] >= before["at"]
        assert chain[-1]["new_status"] == alert["status"]
        assert all(h["actor"] and h["at"] for h in chain)
        assert any(h["actor"] == dispatcher.lease.holder for h in chain)
        retried += sum(1 for h in chain if h["new_status"] == "sending") - 1
    assert retried >= 2  # the two 500s: claimed again, each claim in the history
    failed = [h for h in history if h["new_status"] == "failed"]
    assert failed and failed[0]["error_code"] == 21211
