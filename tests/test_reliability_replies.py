"""A reply in the same second as its alert still counts.

Twilio stamps inbound messages to the whole second, while an alert's ``created_at`` carries
microseconds: a quick "1" sent at 08:00:00.8 to an alert created at 08:00:00.3 arrives stamped
08:00:00, *before* the alert. The dispatcher allows one second of slack when it asks which
incidents a replier was alerted for; these tests pin that down through the real path (the
stand-in over loopback, the dispatcher, ``apply_reply``) and at the exact boundary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from mim_console.clock import to_iso
from mim_console.config import Settings
from mim_console.domain.backoff import BackoffPolicy
from mim_console.domain.replies import InboundReply
from mim_console.notifiers.dispatcher import Dispatcher, DispatcherConfig
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import StandIn, Timing
from tests.conftest import FROZEN_NOW
from tests.incident_seed import mobile, seed
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


@pytest.fixture
async def quick_standin() -> AsyncIterator[StandIn]:
    s = StandIn(timing=Timing(sms_sent=0.02, sms_delivered=0.05))
    await s.start()
    yield s
    await s.stop()


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def states(ctx: Context, code: str) -> dict[str, str]:
    seats = IncidentService(ctx).roll_call(code).seats
    return {s.person.name: s.participant.state.value for s in seats}


async def test_an_instant_reply_joins(db_path: Path, quick_standin: StandIn) -> None:
    """Everyone answers "1" at once (0 s after the SMS): every one of them joins."""
    standin = quick_standin
    settings = Settings(db_path=db_path, twilio=standin_twilio_settings(standin.url))
    ctx = Context(settings=settings, actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    code = svc.declare(title="Cards down", severity="SEV1", categories=["cards"]).code
    alerted = list(states(ctx, code))
    for name in alerted:
        standin.script_reply(mobile(name), "1", after=0.0)
    notifier = TwilioNotifier(settings.twilio, timeout=5)
    dispatcher = Dispatcher(ctx.store, twilio_routes(notifier), config=FAST, receiver=svc)
    task = asyncio.create_task(dispatcher.run())
    try:
        await until(lambda: set(states(ctx, code).values()) == {"joined"})
    finally:
        dispatcher.stop()
        await task
        await notifier.aclose()
    meanings = {r["meaning"] for r in ctx.store.query("SELECT meaning FROM inbound")}
    assert meanings == {"joining"}
    ctx.close()


def test_the_second_boundary(db_path: Path) -> None:
    """Stamped in the alert's own second: matched. A whole second before it: not alerted yet."""
    ctx = Context(settings=Settings(db_path=db_path), clock=lambda: FROZEN_NOW, actor="dm")
    seed(ctx.store, FROZEN_NOW)
    late = FROZEN_NOW + timedelta(seconds=5, microseconds=900_000)
    ctx.clock = lambda: late
    svc = IncidentService(ctx)
    code = svc.declare(title="Cards down", severity="SEV1", categories=["cards"]).code
    created = ctx.store.query("SELECT min(created_at) AS t FROM alert")[0]["t"]
    assert created == to_iso(late)

    def reply(name: str, at_second: int) -> str:
        message = InboundReply(
            provider_id=f"SM{name.replace(' ', '')}",
            sender=mobile(name),
            body="1",
            received_at=FROZEN_NOW + timedelta(seconds=at_second),
        )
        svc.receive(message)
        row = ctx.store.query(
            "SELECT meaning FROM inbound WHERE provider_sid = ?", [message.provider_id]
        )
        return str(row[0]["meaning"])

    assert reply("Alice Ops", 5) == "joining"  # same second as the alert (stamped 08:00:05)
    assert reply("Sam Spec", 6) == "joining"
    assert reply("Tina Spec", 4) == "not_alerted"  # a second before any alert existed
    assert states(ctx, code)["Alice Ops"] == "joined"
    assert states(ctx, code)["Tina Spec"] == "alerted"
    ctx.close()
