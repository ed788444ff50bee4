"""Inbound polls (issue 14, item 13): the stand-in lists a message whose body holds a lone
surrogate (it used to answer 500 to every list from then on), and a poll that fails is said in
the dispatcher's log once — not silently, not once per poll — and so is its return."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from mim_console.clock import utcnow
from mim_console.data.store import Store
from mim_console.domain.replies import InboundReply
from mim_console.notifiers.inbound import InboundPoller
from mim_console.notifiers.reach import Reach
from mim_console.notifiers.senders import TwilioInbound
from mim_console.notifiers.tuning import DispatcherConfig
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.standin import StandIn

SENDER = "+358401234567"


class Kept:
    def __init__(self) -> None:
        self.replies: list[InboundReply] = []

    def receive(self, reply: InboundReply) -> object:
        self.replies.append(reply)
        return None


def poller(store: Store, notifier: TwilioNotifier, kept: Kept) -> InboundPoller:
    reach = Reach(utcnow, lambda: None)
    return InboundPoller(store, TwilioInbound(notifier), kept, DispatcherConfig(), utcnow, reach)


async def test_a_lone_surrogate_in_a_reply_is_listed(
    store: Store, standin: StandIn, notifier: TwilioNotifier
) -> None:
    standin.inject_inbound(SENDER, "1 \ud800 K7")
    standin.inject_inbound(SENDER, "2")
    kept = Kept()
    assert await poller(store, notifier, kept).poll() == 2
    assert [r.body for r in kept.replies] == ["1 \ud800 K7", "2"]


async def test_a_failing_poll_is_logged_once_and_its_return_too(
    store: Store, standin: StandIn, notifier: TwilioNotifier, caplog: pytest.LogCaptureFixture
) -> None:
    standin.inject_inbound(SENDER, "1")
    standin.fault("500", count=3, method="GET")
    kept = Kept()
    polls = poller(store, notifier, kept)
    with caplog.at_level(logging.INFO, logger="mim_console.dispatcher"):
        for _ in range(3):
            assert await polls.poll() == 0
        assert polls.reach.state is False
        assert await polls.poll() == 1
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    failed = [m for level, m in lines if level == logging.WARNING]
    assert len(failed) == 1 and "cannot read replies" in failed[0] and "20500" in failed[0]
    assert [m for _, m in lines if "read again" in m] == [
        "inbound (twilio): replies are read again"
    ]
    assert [r.body for r in kept.replies] == ["1"]
    assert isinstance(kept.replies[0].received_at, datetime)
