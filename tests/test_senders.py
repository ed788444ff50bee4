"""The seams of the alert and reply paths: senders by channel, replies received once.

Real parts throughout: a SQLite file, the Twilio stand-in over loopback HTTP, the services'
reply receiver. The one route written here (``Pager``) is a sender like any future one (bridge
call, GSM modem): the dispatcher must pick it by the row's channel with no change of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from mim_console.clock import utcnow
from mim_console.config import Settings
from mim_console.data import outbox
from mim_console.data.store import Store
from mim_console.domain.alerts import Alert, AlertDraft, Channel, Purpose
from mim_console.domain.replies import InboundReply
from mim_console.notifiers.base import DeliveryStatus, SendResult, SentRecord
from mim_console.notifiers.dispatcher import Dispatcher
from mim_console.notifiers.senders import Routes, TwilioInbound, TwilioSms
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import StandIn, Timing
from tests.conftest import FROZEN_NOW
from tests.incident_seed import FakeClock, mobile, seed
from tests.test_dispatcher import FAST, twilio_settings


class Pager:
    """A route of our own for the ``chat`` channel: keeps what it was asked to send."""

    channel = Channel.CHAT
    keeps_log = False

    def __init__(self) -> None:
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> SendResult:
        self.sent.append(alert)
        return SendResult(sid=f"PG{len(self.sent)}", status="delivered")

    async def status(self, sid: str) -> DeliveryStatus:
        return DeliveryStatus(sid=sid, status="delivered")

    async def find_sent(self, alert: Alert, since: datetime) -> list[SentRecord]:
        return []


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    s = StandIn(timing=Timing(sms_sent=0.05, sms_delivered=0.1))
    await s.start()
    yield s
    await s.stop()


async def test_the_dispatcher_picks_each_rows_sender_by_its_channel(
    store: Store, standin: StandIn
) -> None:
    """SMS rows go to Twilio, chat rows to the registered chat route, and voice rows, with no
    sender registered, are never claimed: they wait, untouched, for a route that can send them."""
    pager = Pager()
    client = TwilioNotifier(twilio_settings(standin), timeout=5)
    routes = Routes([TwilioSms(client), pager], [TwilioInbound(client)], owns=[client])
    drafts = [
        AlertDraft("+358400000001", Channel.SMS, Purpose.ALERT, "join the bridge"),
        AlertDraft("chat:ops", Channel.CHAT, Purpose.STAKEHOLDER, '{"text": "update"}'),
        AlertDraft("+358400000002", Channel.VOICE, Purpose.ALERT, "<Response/>"),
    ]
    with store.write() as db:
        sms_id, chat_id, voice_id = outbox.enqueue(db, drafts, utcnow())
    d = Dispatcher(store, routes, config=FAST)
    task = asyncio.create_task(d.run())
    try:
        deadline = time.monotonic() + 15
        while not (pager.sent and standin.messages(direction="outbound-api")):
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # a few more turns: the voice row must stay put
    finally:
        d.stop()
        await task
        await routes.aclose()
    assert [a.id for a in pager.sent] == [chat_id]
    assert [m.to for m in standin.messages(direction="outbound-api")] == ["+358400000001"]
    with store.read() as db:
        voice = outbox.get(db, voice_id)
        chat = outbox.get(db, chat_id)
    assert voice is not None and voice.status == "queued" and voice.attempts == 0
    assert chat is not None and chat.provider_sid == "PG1" and chat.status == "delivered"


def test_a_reply_received_twice_is_applied_once(db_path: Path) -> None:
    """The receiver stores, reads and applies in one transaction, once per provider id."""
    clock = FakeClock(FROZEN_NOW)
    ctx = Context(settings=Settings(db_path=db_path), clock=clock, actor="dm")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    code = svc.declare(title="Cards down", severity="SEV1", categories=["cards"]).code
    clock.advance(minutes=1)
    reply = InboundReply(mobile("Dan Biz"), "2", "SMdanbiz", clock(), "twilio")
    first = svc.receive(reply)
    events = len(svc.timeline(code))
    again = svc.receive(reply)  # an overlapping poll, or a restarted dispatcher
    assert first.answered and first.outcome == "unable" and first.inbound_id is not None
    assert again.inbound_id is None and again.outcome == "nothing to do"
    assert len(svc.timeline(code)) == events
    assert ctx.store.query("SELECT count(*) AS n FROM inbound")[0]["n"] == 1
    deputies = ctx.store.query("SELECT * FROM alert WHERE purpose = 'escalation'")
    assert len(deputies) == 1  # the unable answer paged one deputy, once
    ctx.close()


def test_the_help_sms_is_the_receivers_decision_queued_in_the_outbox(db_path: Path) -> None:
    """No dispatcher at all: a reply that cannot be placed queues the help SMS itself."""
    clock = FakeClock(FROZEN_NOW)
    ctx = Context(settings=Settings(db_path=db_path), clock=clock, actor="dm")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    svc.declare(title="Cards down", severity="SEV1", categories=["cards"])
    clock.advance(minutes=1)
    for n in range(3):
        svc.receive(InboundReply(mobile("Dan Biz"), "what?", f"SMq{n}", clock()))
        clock.advance(seconds=10)
    helps = ctx.store.query("SELECT to_number, status FROM alert WHERE purpose = 'help'")
    assert helps == [{"to_number": mobile("Dan Biz"), "status": "queued"}]  # one, not three
    clock.advance(minutes=61)
    svc.receive(InboundReply(mobile("Dan Biz"), "what?", "SMq9", clock()))
    assert len(ctx.store.query("SELECT 1 FROM alert WHERE purpose = 'help'")) == 2
    ctx.close()
