"""Fixtures for the Twilio stand-in and a notifier pointed at it (imported by conftest)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from mim_console.config import TwilioSettings
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.standin import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDER,
    StandIn,
    ThreadedStandIn,
)


def standin_twilio_settings(url: str, sender: str = DEFAULT_SENDER) -> TwilioSettings:
    """Settings that point the notifier at a stand-in at ``url`` (default credentials)."""
    return TwilioSettings(
        account_sid=DEFAULT_ACCOUNT_SID,
        auth_token=DEFAULT_AUTH_TOKEN,
        sender=sender,
        api_url=url,
    )


def settings_of(standin: StandIn | ThreadedStandIn) -> TwilioSettings:
    """Settings that point the notifier at ``standin`` (its own credentials and sender)."""
    return TwilioSettings(**standin.connection())


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    """A stand-in on a free loopback port, on the test's event loop."""
    server = StandIn()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def standin_settings(standin: StandIn) -> TwilioSettings:
    return standin_twilio_settings(standin.url)


@pytest.fixture
async def notifier(standin: StandIn) -> AsyncIterator[TwilioNotifier]:
    """A TwilioNotifier talking to ``standin`` with a short timeout (tests stay fast)."""
    client = TwilioNotifier(standin_twilio_settings(standin.url), timeout=2.0)
    yield client
    await client.aclose()


@pytest.fixture
def threaded_standin() -> Iterator[ThreadedStandIn]:
    """A stand-in on its own thread, for sync tests (CLI, TUI with its own loop)."""
    server = StandIn.start_in_thread()
    yield server
    server.stop()
