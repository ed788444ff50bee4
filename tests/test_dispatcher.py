"""The dispatcher against the real stand-in over loopback HTTP and a real SQLite file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from mim_console.clock import to_iso, utcnow
from mim_console.config import Settings, TwilioSettings
from mim_console.data import outbox
from mim_console.data.outbox import AlertDraft
from mim_console.data.store import Store
from mim_console.domain.alerts import Channel, Purpose
from mim_console.domain.backoff import BackoffPolicy
from mim_console.notifiers.dispatcher import (
    Dispatcher,
    DispatcherConfig,
    DispatcherSnapshot,
)
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.services.context import Context
from mim_console.services.dispatching import for_context, start_in_thread
from mim_console.standin import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDER,
    StandIn,
    Timing,
)
from tests.slow_gate import slow_only_when_asked  # noqa: F401

FAST = DispatcherConfig(
    max_in_flight=20,
    lease_ttl_s=1.0,
    heartbeat_s=0.2,
    request_timeout_s=2.0,
    status_poll_s=0.1,
    status_poll_max_s=0.3,
    inbound_poll_s=0.1,
    drain_s=3.0,
    backoff=BackoffPolicy(base_s=0.05, cap_s=0.4, max_age_min=5),
)


def twilio_settings(standin: StandIn) -> TwilioSettings:
    return TwilioSettings(
        account_sid=DEFAULT_ACCOUNT_SID,
        auth_token=DEFAULT_AUTH_TOKEN,
        sender=DEFAULT_SENDER,
        api_url=standin.url,
    )


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    s = StandIn(timing=Timing(sms_sent=0.05, sms_delivered=0.15, call_ringing=0.05))
    await s.start()
    yield s
    await s.stop()


def make(
    store: Store, standin: StandIn, config: DispatcherConfig = FAST, **kwargs: object
) -> Dispatcher:
    notifier = TwilioNotifier(twilio_settings(standin), timeout=5)
    return Dispatcher(store, twilio_routes(notifier), config=config, **kwargs)  # type: ignore[arg-type]


def queue(store: Store, n: int, prefix: str = "alert", channel: Channel = Channel.SMS) -> list[int]:
    drafts = [
        AlertDraft(
            f"+3584000{i:05d}",
            channel,
            Purpose.ALERT,
            f"{prefix} #{i}" if channel == "sms" else "<Response><Say>alert</Say></Response>",
        )
        for i in range(n)
    ]
    with store.write() as db:
        return outbox.enqueue(db, drafts, utcnow())


async def run_until(d: Dispatcher, done: Callable[[], bool], limit_s: float = 15.0) -> None:
    task = asyncio.create_task(d.run())
    deadline = time.monotonic() + limit_s
    try:
        while not done():
            if task.done():
                task.result()
                raise AssertionError("dispatcher stopped early")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; counts {d.snapshot().counts}")
            await asyncio.sleep(0.02)
    finally:
        d.stop()
        await task
        if d.routes is not None:
            await d.routes.aclose()


def counts(store: Store) -> dict[str, int]:
    with store.read() as db:
        return outbox.counts(db)


def all_settled(store: Store, n: int) -> Callable[[], bool]:
    return lambda: counts(store)["accepted"] + counts(store)["failed"] == n


def assert_each_sent_once(store: Store, standin: StandIn, n: int, prefix: str = "alert") -> None:
    bodies = [m.body for m in standin.messages(direction="outbound-api")]
    expected = {f"{prefix} #{i}" for i in range(n)}
    assert sorted(b for b in bodies if b in expected) == sorted(expected)
    rows = store.query("SELECT provider_sid, status FROM alert WHERE purpose = 'alert'")
    assert all(r["provider_sid"] for r in rows)
    assert len({r["provider_sid"] for r in rows}) == n


async def test_fan_out_sends_each_alert_once(store: Store, standin: StandIn) -> None:
    queue(store, 60)
    d = make(store, standin)
    await run_until(d, lambda: counts(store)["accepted"] == 60)
    assert_each_sent_once(store, standin, 60)
    creates = [r for r in standin.request_log() if r.method == "POST"]
    assert len(creates) == 60
    assert d.snapshot().reachable is True


async def test_concurrency_is_bounded(store: Store, standin: StandIn) -> None:
    standin.set_latency(0.1)
    queue(store, 30)
    d = make(store, standin, replace(FAST, max_in_flight=5))
    peak = 0

    def done() -> bool:
        nonlocal peak
        peak = max(peak, d.in_flight)
        return counts(store)["accepted"] == 30

    started = time.monotonic()
    await run_until(d, done)
    assert 1 < peak <= 5
    assert time.monotonic() - started >= 30 / 5 * 0.1  # it really was limited


async def test_voice_calls_are_placed(store: Store, standin: StandIn) -> None:
    queue(store, 3, channel=Channel.VOICE)
    d = make(store, standin)
    await run_until(d, lambda: counts(store)["accepted"] == 3)
    assert len(standin.calls()) == 3


async def test_429_with_retry_after_is_honoured(store: Store, standin: StandIn) -> None:
    standin.fault("429", count=10, retry_after=0.4, method="POST")
    queue(store, 20)
    d = make(store, standin)
    started = time.monotonic()
    await run_until(d, lambda: counts(store)["accepted"] == 20)
    assert time.monotonic() - started >= 0.4
    assert_each_sent_once(store, standin, 20)
    retried = store.query("SELECT COUNT(*) AS n FROM alert WHERE attempts > 1")[0]["n"]
    assert retried == 10


async def test_500s_and_dropped_answers_end_accepted_once(store: Store, standin: StandIn) -> None:
    standin.fault("500", count=5, method="POST")
    standin.fault("drop", count=4, accepted=True, method="POST")  # created, answer lost
    standin.fault("drop", count=2, accepted=False, method="POST")
    queue(store, 25)
    d = make(store, standin)
    await run_until(d, lambda: counts(store)["accepted"] == 25)
    assert_each_sent_once(store, standin, 25)


async def test_timeout_after_acceptance_is_adopted_not_resent(
    store: Store, standin: StandIn
) -> None:
    standin.fault("timeout", count=3, hold=3.0, accepted=True, method="POST")
    queue(store, 6)
    d = make(store, standin, replace(FAST, request_timeout_s=0.4))
    await run_until(d, lambda: counts(store)["accepted"] == 6)
    assert_each_sent_once(store, standin, 6)
    assert len(standin.messages(direction="outbound-api")) == 6


async def test_standin_down_then_up(store: Store, standin: StandIn) -> None:
    queue(store, 15)
    await standin.go_down(for_seconds=1.5)
    d = make(store, standin)
    await run_until(d, lambda: counts(store)["accepted"] == 15, limit_s=20)
    assert_each_sent_once(store, standin, 15)
    assert d.snapshot().last_failure_at is not None


@pytest.mark.slow
async def test_standin_down_for_30_seconds(store: Store, standin: StandIn) -> None:
    queue(store, 50)
    await standin.go_down(for_seconds=30)
    config = replace(FAST, backoff=BackoffPolicy(base_s=0.5, cap_s=4, max_age_min=5))
    d = make(store, standin, config)
    await run_until(d, lambda: counts(store)["accepted"] == 50, limit_s=60)
    assert_each_sent_once(store, standin, 50)


async def test_permanent_errors_are_recorded_without_retry(store: Store, standin: StandIn) -> None:
    standin.fail_number("+358400000001", 21211)
    standin.fail_number("+358400000002", 21610)
    queue(store, 4)
    d = make(store, standin)
    await run_until(d, all_settled(store, 4))
    rows = {
        r["to_number"]: r
        for r in store.query(
            "SELECT to_number, status, attempts, last_error_code, last_error FROM alert"
        )
    }
    for number, code in (("+358400000001", 21211), ("+358400000002", 21610)):
        assert rows[number]["status"] == "failed"
        assert rows[number]["attempts"] == 1
        assert rows[number]["last_error_code"] == code
        assert rows[number]["last_error"]
    creates = [r for r in standin.request_log() if r.method == "POST"]
    assert len(creates) == 4


async def test_gives_up_after_the_maximum_age_when_twilio_keeps_refusing(
    store: Store, standin: StandIn
) -> None:
    standin.fault("503", count=1000)
    queue(store, 2)
    config = replace(FAST, backoff=BackoffPolicy(base_s=0.1, cap_s=0.2, max_age_min=0.01))
    d = make(store, standin, config)
    await run_until(d, lambda: counts(store)["failed"] == 2)
    rows = store.query("SELECT last_error FROM alert")
    assert all("gave up" in r["last_error"] for r in rows)


async def test_alerts_wait_out_an_outage_longer_than_the_maximum_age(
    store: Store, standin: StandIn
) -> None:
    """Twilio unreachable: nothing is dropped, however long; all go out once it answers."""
    await standin.go_down()
    queue(store, 3)
    config = replace(FAST, backoff=BackoffPolicy(base_s=0.1, cap_s=0.2, max_age_min=0.005))
    d = make(store, standin, config)
    seen_during_outage: dict[str, int] = {}

    async def outage_then_back() -> None:
        await asyncio.sleep(1.5)  # five times the maximum age (0.3 s)
        seen_during_outage.update(counts(store))
        await standin.come_up()

    back = asyncio.create_task(outage_then_back())
    await run_until(d, lambda: counts(store)["accepted"] == 3)
    await back
    assert seen_during_outage["failed"] == 0 and seen_during_outage["accepted"] == 0
    creates = [r for r in standin.request_log() if r.method == "POST"]
    assert len(creates) == 3


async def test_claimed_but_unrecorded_alert_is_adopted(store: Store, standin: StandIn) -> None:
    """A crash after the request left but before the SID was stored."""
    [alert_id] = queue(store, 1)
    notifier = TwilioNotifier(twilio_settings(standin))
    await notifier.send_sms("+358400000000", "alert #0")
    await notifier.aclose()
    with store.write() as db:
        db.execute(
            "UPDATE alert SET status = 'sending', claimed_at = ?, claimed_by = 'dead', "
            "attempts = 1 WHERE id = ?",
            [to_iso(utcnow()), alert_id],
        )
    d = make(store, standin)
    await run_until(d, lambda: counts(store)["accepted"] == 1)
    assert len(standin.messages(direction="outbound-api")) == 1
    sid = store.query("SELECT provider_sid FROM alert")[0]["provider_sid"]
    assert sid == standin.messages(direction="outbound-api")[0].sid


async def test_claimed_but_never_sent_alert_is_sent(store: Store, standin: StandIn) -> None:
    """A crash after the claim but before the request left."""
    [alert_id] = queue(store, 1)
    with store.write() as db:
        db.execute(
            "UPDATE alert SET status = 'sending', claimed_at = ? WHERE id = ?",
            [to_iso(utcnow()), alert_id],
        )
    d = make(store, standin)
    await run_until(d, lambda: counts(store)["accepted"] == 1)
    assert len(standin.messages(direction="outbound-api")) == 1


async def test_alerts_in_doubt_found_while_a_reconcile_runs_are_settled_after_it(
    store: Store, standin: StandIn
) -> None:
    """The lease lost and taken back while the last reconcile still looks things up: the
    second list is settled after the first (it used to be dropped, leaving alerts `sending`
    for good: a flaky two-dispatcher test under load)."""
    first, second = queue(store, 2)
    standin.set_latency(0.3)

    def claimed_by(alert_id: int, holder: str) -> None:
        with store.write() as db:
            db.execute(
                "UPDATE alert SET status = 'sending', claimed_at = ?, claimed_by = ?, "
                "attempts = 1 WHERE id = ?",
                [to_iso(utcnow()), holder, alert_id],
            )

    claimed_by(first, "gone-1")
    d = make(store, standin)
    try:
        assert d.lease.try_acquire()
        d.out.start_reconcile()
        running = d.out.reconciling
        assert running is not None and not running.done()
        claimed_by(second, "gone-2")  # another holder came and went meanwhile
        d.out.start_reconcile()
        assert d.out.reconciling is running
        await asyncio.wait_for(running, 10)
        rows = {r["id"]: r["status"] for r in store.query("SELECT id, status FROM alert")}
        assert rows == {first: "queued", second: "queued"}
        assert standin.messages(direction="outbound-api") == []  # looked up, nothing resent yet
    finally:
        await d.routes.aclose()  # type: ignore[union-attr]


async def test_delivery_status_is_tracked(store: Store, standin: StandIn) -> None:
    standin.undeliverable("+358400000001", 30003)
    queue(store, 3)
    d = make(store, standin)

    def final() -> bool:
        rows = store.query("SELECT status FROM alert")
        return all(r["status"] in ("delivered", "undelivered") for r in rows)

    await run_until(d, final)
    rows = {r["to_number"]: r for r in store.query("SELECT * FROM alert")}
    assert rows["+358400000001"]["status"] == "undelivered"
    assert rows["+358400000001"]["last_error_code"] == 30003
    assert rows["+358400000000"]["status"] == "delivered"
    assert all(r["next_poll_at"] is None and r["final_at"] for r in rows.values())


async def test_without_credentials_nothing_is_sent(store: Store, tmp_path: Path) -> None:
    queue(store, 2)
    ctx = Context(settings=Settings(db_path=tmp_path / "x.db"), _store=store)
    d = for_context(ctx, config=FAST)
    assert d.blocked is not None and "TWILIO_ACCOUNT_SID" in d.blocked
    task = asyncio.create_task(d.run())
    await asyncio.sleep(0.5)
    d.stop()
    await task
    assert counts(store)["queued"] == 2
    assert store.query("SELECT * FROM lease") == []
    assert d.snapshot().blocked == d.blocked


async def test_two_dispatchers_in_one_loop_send_once(db_path: Path, standin: StandIn) -> None:
    standin.set_latency(0.02)
    store_a, store_b = Store(db_path), Store(db_path)
    queue(store_a, 80)
    a, b = make(store_a, standin), make(store_b, standin)
    task_b = asyncio.create_task(b.run())
    try:
        await run_until(a, lambda: counts(store_a)["accepted"] == 80)
    finally:
        b.stop()
        await task_b
        await b.routes.aclose()  # type: ignore[union-attr]
    assert_each_sent_once(store_a, standin, 80)
    assert not (a.requests and b.requests and a.requests + b.requests > 80 + 5)
    store_a.close()
    store_b.close()


async def test_listener_sees_progress(store: Store, standin: StandIn) -> None:
    seen: list[DispatcherSnapshot] = []
    queue(store, 10)
    d = make(store, standin, listener=seen.append)
    await run_until(d, lambda: bool(seen) and seen[-1].holder and seen[-1].counts["accepted"] == 10)
    assert seen[-1].counts["queued"] == 0 and seen[-1].reachable is True


async def test_listener_hears_twilio_come_and_go_with_nothing_to_send(
    store: Store, standin: StandIn
) -> None:
    """Idle, only the inbound poll talks to Twilio: its outcome still reaches the banner."""
    seen: list[DispatcherSnapshot] = []
    d = make(store, standin, listener=seen.append)
    task = asyncio.create_task(d.run())
    try:
        await until(lambda: any(s.reachable is True for s in seen))
        await standin.go_down(for_seconds=2)
        await until(lambda: seen[-1].reachable is False)
        assert seen[-1].last_error
        await until(lambda: seen[-1].reachable is True)  # back: said without any alert
        assert not any(counts(store).values())  # nothing was ever queued
    finally:
        d.stop()
        await task
        await d.routes.aclose()  # type: ignore[union-attr]


async def until(check: Callable[[], bool], limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_clean_stop_hands_back_unsent_claims(store: Store, standin: StandIn) -> None:
    standin.set_latency(0.3)
    queue(store, 12)
    d = make(store, standin, replace(FAST, max_in_flight=3))
    task = asyncio.create_task(d.run())
    while d.in_flight < 3:  # noqa: ASYNC110 - watching the dispatcher's own state
        await asyncio.sleep(0.01)
    d.stop()
    await task
    await d.routes.aclose()  # type: ignore[union-attr]
    c = counts(store)
    assert c["sending"] == 0  # nothing left for a successor to look up
    assert c["accepted"] >= 3 and c["accepted"] + c["queued"] == 12
    assert store.query("SELECT * FROM lease") == []  # handed over at once
    assert len(standin.messages(direction="outbound-api")) == c["accepted"]


def test_start_in_thread_for_watch(db_path: Path) -> None:
    """`watch` runs the dispatcher on its own thread; the stopper ends it and frees the lease."""
    standin = StandIn.start_in_thread()
    try:
        settings = Settings(db_path=db_path, twilio=twilio_settings(standin.standin))
        ctx = Context(settings=settings)
        queue(ctx.store, 5)
        ticks: list[object] = []
        stop = start_in_thread(ctx, on_tick=ticks.append)
        deadline = time.monotonic() + 15
        while counts(ctx.store)["accepted"] < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop()
        assert counts(ctx.store)["accepted"] == 5
        assert ticks  # escalation timers ran while it held the lease
        assert ctx.store.query("SELECT * FROM lease") == []
        ctx.close()
    finally:
        standin.stop()


def test_start_in_thread_without_credentials_says_why(context: Context) -> None:
    from mim_console.errors import UserError

    with pytest.raises(UserError, match="TWILIO_ACCOUNT_SID"):
        start_in_thread(context)


async def test_wrong_credentials_keep_alerts_queued(store: Store, standin: StandIn) -> None:
    """A 401 is about our account, not the alert: nothing is failed, the reason is visible."""
    queue(store, 2)
    bad = replace(twilio_settings(standin), auth_token="wrong")
    d = Dispatcher(store, twilio_routes(TwilioNotifier(bad)), config=FAST)
    await run_until(d, lambda: d.snapshot().last_error is not None and counts(store)["queued"] == 2)
    rows = store.query("SELECT status, last_error FROM alert")
    # Sending pauses at the first refusal (test_loud_failures.py): the rest wait untried.
    assert all(r["status"] == "queued" for r in rows) and any(r["last_error"] for r in rows)
    assert d.snapshot().reachable is False
    assert standin.messages(direction="outbound-api") == []


async def test_call_status_is_tracked_to_the_end(store: Store) -> None:
    timing = Timing(call_ringing=0.05, call_answered=0.1, call_completed=0.2, call_gave_up=0.2)
    async with StandIn(timing=timing) as standin:
        standin.call_outcome("+358400000001", "no-answer")
        queue(store, 2, channel=Channel.VOICE)
        d = make(store, standin)

        def final() -> bool:
            return all(r["final_at"] for r in store.query("SELECT final_at FROM alert"))

        await run_until(d, final)
    rows = {r["to_number"]: r for r in store.query("SELECT to_number, status FROM alert")}
    assert rows["+358400000000"]["status"] == "completed"
    assert rows["+358400000001"]["status"] == "no-answer"
    with store.read() as db:
        assert outbox.counts(db) == {"queued": 0, "sending": 0, "accepted": 1, "failed": 1}
