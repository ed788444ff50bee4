"""The modem route's loop on Gammu's dummy driver: the policy, the order, the in-doubt rule,
a crash between claim and mark, a modem that drops out mid-queue. Sends are counted in Gammu's
own debug log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from mim_console.clock import utcnow
from mim_console.config import ModemSettings, Settings
from mim_console.data import modem_queue, outbox
from mim_console.data.lease import Lease
from mim_console.data.outbox import AlertDraft
from mim_console.domain.alerts import Channel, Purpose
from mim_console.domain.backoff import BackoffPolicy
from mim_console.notifiers.modem import GammuModem
from mim_console.notifiers.modem_route import ModemRoute, ModemRouteConfig
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.incident_seed import mobile, seed
from tests.modem_fixtures import DummyModem, dummy_modem

FAST = ModemRouteConfig(idle_s=0.02, inbox_poll_s=0.1, health_every_s=0.5, retry_s=0.2)
HOLDER = "test-holder"
DECIDERS = ["Dan Biz", "Frank Comms", "Alice Ops"]
SPECIALISTS = ["Sam Spec", "Tina Spec", "Uma Spec"]


@pytest.fixture
def dummy(tmp_path: Path) -> DummyModem:
    return dummy_modem(tmp_path / "modem")


@pytest.fixture
def ctx(db_path: Path) -> Iterator[Context]:
    context = Context(settings=Settings(db_path=db_path), actor="duty manager")
    seed(context.store, utcnow())
    lease = Lease(context.store, holder=HOLDER, ttl_s=600)
    assert lease.try_acquire()
    yield context
    context.close()


def declare(ctx: Context) -> str:
    return (
        IncidentService(ctx)
        .declare(title="Card payments failing", severity="SEV1", categories=["payments"])
        .code
    )


class Harness:
    def __init__(self, ctx: Context, dummy: DummyModem, use: str = "fallback") -> None:
        self.silent: float | None = None  # seconds Twilio has given no HTTP answer
        self.settings = ModemSettings(gammurc=dummy.gammurc, use=use, fallback_after_s=60)
        self.modem = GammuModem(
            self.settings, backoff=BackoffPolicy(base_s=0.05, cap_s=0.1, min_s=0.01)
        )
        self.route = ModemRoute(
            ctx.store,
            self.modem,
            self.settings,
            holder=HOLDER,
            lease_held=lambda: True,
            twilio_silent_for=lambda: self.silent,
            config=FAST,
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Harness:
        self.task = asyncio.create_task(self.route.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.route.stop()
        assert self.task is not None
        await self.task


async def until(check: Callable[[], bool], within: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)


def statuses(ctx: Context) -> list[tuple[str, str, str | None]]:
    return [
        (r["to_number"], r["status"], r["route"])
        for r in ctx.store.query("SELECT to_number, status, route FROM alert ORDER BY id")
    ]


async def test_fallback_sends_nothing_while_twilio_answers_then_everything_deciders_first(
    ctx: Context, dummy: DummyModem
) -> None:
    with ctx.store.write() as db:  # queued before the incident: no participant, goes last
        outbox.enqueue(
            db,
            [AlertDraft(mobile("Carol Ops"), Channel.SMS, Purpose.TEST, "Contact check")],
            utcnow(),
        )
    declare(ctx)
    async with Harness(ctx, dummy) as h:
        await asyncio.sleep(0.5)
        assert dummy.recipients() == []  # Twilio answers: nothing by modem
        assert h.route.snapshot().waiting == 0
        h.silent = 59.0
        await asyncio.sleep(0.3)
        assert dummy.recipients() == []
        h.silent = 61.0  # no HTTP answer from Twilio for longer than fallback_after_s
        await until(lambda: len(dummy.recipients()) == 7, what="every alert by modem")
        await asyncio.sleep(0.3)
    sent = dummy.recipients()
    assert sent == [mobile(n) for n in DECIDERS + SPECIALISTS] + [mobile("Carol Ops")]
    assert {(s, r) for _, s, r in statuses(ctx)} == {("sent", "modem")}
    assert h.route.sent == 7


async def test_always_sends_everything_by_modem(ctx: Context, dummy: DummyModem) -> None:
    declare(ctx)
    async with Harness(ctx, dummy, use="always"):
        await until(lambda: len(dummy.recipients()) == 6, what="six alerts")
        await asyncio.sleep(0.2)
    assert sorted(dummy.recipients()) == sorted(mobile(n) for n in DECIDERS + SPECIALISTS)


async def test_never_takes_nothing_even_with_twilio_silent(ctx: Context, dummy: DummyModem) -> None:
    declare(ctx)
    async with Harness(ctx, dummy, use="never") as h:
        h.silent = 600.0
        await asyncio.sleep(0.4)
    assert dummy.recipients() == []


async def test_an_alert_in_doubt_at_twilio_waits_for_send_anyway(
    ctx: Context, dummy: DummyModem
) -> None:
    declare(ctx)
    with ctx.store.write() as db:  # Dan's Twilio create timed out: it may exist at Twilio
        (dan,) = [a for a in outbox.list_alerts(db) if a.to_number == mobile("Dan Biz")]
        outbox.mark_retry(db, dan.id, utcnow(), code=None, error="timed out", uncertain=True)
    async with Harness(ctx, dummy) as h:
        h.silent = 120.0
        await until(lambda: len(dummy.recipients()) == 5, what="all but the one in doubt")
        await asyncio.sleep(0.3)
        assert mobile("Dan Biz") not in dummy.recipients()
        assert h.route.snapshot().in_doubt == 1
        with ctx.store.write() as db:
            chosen = modem_queue.send_anyway(db, utcnow())
        assert [a.id for a in chosen] == [dan.id]
        h.route.wake()
        await until(lambda: len(dummy.recipients()) == 6, what="sent anyway")
    assert dummy.recipients().count(mobile("Dan Biz")) == 1


async def test_a_send_cut_short_is_recorded_and_never_resent(
    ctx: Context, dummy: DummyModem
) -> None:
    code = declare(ctx)
    with ctx.store.write() as db:  # a modem claim committed, then the process died
        claimed = modem_queue.claim_next(db, HOLDER, utcnow(), automatic=True)
    assert claimed is not None
    cut, _ = claimed
    async with Harness(ctx, dummy, use="always"):
        await until(lambda: len(dummy.recipients()) == 5, what="the others")
        await asyncio.sleep(0.3)
    assert cut.to_number not in dummy.recipients()
    row = ctx.store.query("SELECT status, uncertain, last_error FROM alert WHERE id = ?", [cut.id])
    assert row[0]["status"] == "queued" and row[0]["uncertain"] == 1
    assert "may have been sent by the modem" in row[0]["last_error"]
    events = IncidentService(ctx).timeline(code)
    assert any("may have been sent by the modem" in e.text for e in events)


async def test_a_modem_dropping_out_mid_queue_loses_nothing_and_doubles_nothing(
    ctx: Context, dummy: DummyModem
) -> None:
    declare(ctx)
    async with Harness(ctx, dummy, use="always") as h:
        await until(lambda: len(dummy.recipients()) >= 2, what="the first sends")
        await asyncio.to_thread(_pull_the_plug, h.modem)
        await until(lambda: len(dummy.recipients()) == 6, what="the rest after reopening")
        await asyncio.sleep(0.3)
    assert sorted(dummy.recipients()) == sorted(mobile(n) for n in DECIDERS + SPECIALISTS)
    assert {s for _, s, _ in statuses(ctx)} == {"sent"}


def _pull_the_plug(modem: GammuModem) -> None:
    with modem._lock:  # between two messages, as a USB modem would drop
        modem._sm.Terminate()


async def test_health_is_stored_for_readiness(ctx: Context, dummy: DummyModem) -> None:
    async with Harness(ctx, dummy) as h:
        await until(lambda: h.route.snapshot().ok is not None, what="a health check")
    with ctx.store.read() as db:
        status = modem_queue.load_status(db)
    assert status is not None and status.ok and status.holder == HOLDER
    assert status.summary.startswith("Gammu Dummy (IMEI 999999999999999)")


async def test_a_modem_not_there_keeps_the_alerts_for_twilio(ctx: Context, tmp_path: Path) -> None:
    declare(ctx)
    gone = replace(dummy_modem(tmp_path / "m"), gammurc=tmp_path / "absent.rc")
    async with Harness(ctx, gone) as h:
        h.silent = 120.0
        await until(lambda: h.route.snapshot().ok is False, what="the health check")
        await asyncio.sleep(0.3)
        snap = h.route.snapshot()
    assert "absent.rc does not exist" in snap.health
    assert {(s, r) for _, s, r in statuses(ctx)} == {("queued", None)}


def modem_ctx(ctx: Context, dummy: DummyModem, **modem: object) -> Context:
    settings = replace(ctx.settings, modem=ModemSettings(gammurc=dummy.gammurc, **modem))  # type: ignore[arg-type]
    return Context(settings=settings, actor="duty manager", _store=ctx.store)


async def test_send_by_modem_now_whatever_twilio_does_and_anyway_for_the_doubtful(
    ctx: Context, dummy: DummyModem
) -> None:
    from mim_console.services.modem import send_by_modem

    code = declare(ctx)
    with ctx.store.write() as db:
        (dan,) = [a for a in outbox.list_alerts(db) if a.to_number == mobile("Dan Biz")]
        outbox.mark_retry(db, dan.id, utcnow(), code=None, error="timed out", uncertain=True)
    duty = modem_ctx(ctx, dummy)
    async with Harness(ctx, dummy) as h:  # Twilio answers: the fallback is not in force
        handed = send_by_modem(duty, code)
        assert (handed.assigned, handed.anyway, handed.in_doubt_left) == (5, 0, 1)
        h.route.wake()
        await until(lambda: len(dummy.recipients()) == 5, what="the five handed over")
        again = send_by_modem(duty, code, anyway=True)
        assert (again.assigned, again.anyway, again.in_doubt_left) == (0, 1, 0)
        await until(lambda: len(dummy.recipients()) == 6, what="Dan's, anyway")
    events = [e.text for e in IncidentService(ctx).timeline(code)]
    assert any("send anyway by modem, may arrive twice" in t for t in events)


def test_send_by_modem_needs_the_route(ctx: Context, dummy: DummyModem) -> None:
    from mim_console.errors import UserError
    from mim_console.services.modem import send_by_modem

    with pytest.raises(UserError, match="no modem configured"):
        send_by_modem(ctx)
    with pytest.raises(UserError, match='use = "never"'):
        send_by_modem(modem_ctx(ctx, dummy, use="never"))


def test_readiness_shows_the_dispatchers_view_of_the_modem(
    ctx: Context, dummy: DummyModem, tmp_path: Path
) -> None:
    from datetime import timedelta

    from mim_console.services.modem import modem_findings

    duty = modem_ctx(ctx, dummy)
    now = utcnow()
    with ctx.store.write() as db:
        modem_queue.save_status(
            db,
            HOLDER,
            now,
            ok=False,
            summary="the SIM card needs its PIN: enter it",
            per_minute=None,
        )
    (finding,) = modem_findings(duty, now)
    assert not finding.ok and finding.message == "GSM modem: the SIM card needs its PIN: enter it"
    (stale,) = modem_findings(duty, now + timedelta(minutes=6))
    assert not stale.ok and "has not reported the GSM modem's health for 6 min" in stale.message
    missing = modem_ctx(ctx, replace(dummy, gammurc=tmp_path / "nope.rc"))
    (gone,) = modem_findings(missing, now)
    assert not gone.ok and "nope.rc does not exist" in gone.message
    assert modem_findings(ctx, now) == []  # no modem configured: nothing to say


async def test_a_claim_made_as_the_lease_is_lost_is_handed_back_unsent(
    ctx: Context, dummy: DummyModem
) -> None:
    declare(ctx)
    answers = iter([True])  # holds the lease for the turn, has lost it once the claim is in
    h = Harness(ctx, dummy, use="always")
    h.route.lease_held = lambda: next(answers, False)
    async with h:
        await asyncio.sleep(0.3)
    assert dummy.recipients() == []
    rows = ctx.store.query("SELECT status, route, attempts, uncertain FROM alert")
    assert {(r["status"], r["route"], r["attempts"], r["uncertain"]) for r in rows} == {
        ("queued", None, 0, 0)
    }
