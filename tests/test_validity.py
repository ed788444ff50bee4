"""ValidityPeriod on every alert SMS (issue 14, item 12): an SMS Twilio cannot deliver in time
fails (and escalates) instead of arriving after the all-clear. Over real HTTP to the stand-in,
which records the parameter and refuses one outside Twilio's 1..36000 s (error 21624)."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from mim_console.clock import utcnow
from mim_console.config import TwilioSettings, load_settings
from mim_console.data import outbox
from mim_console.data.outbox import AlertDraft
from mim_console.data.store import Store
from mim_console.domain.alerts import Channel, Purpose
from mim_console.domain.twilio_errors import describe
from mim_console.errors import UserError
from mim_console.notifiers.base import PermanentSendError
from mim_console.notifiers.dispatcher import Dispatcher
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_SENDER, StandIn
from tests.test_dispatcher import FAST, counts, run_until
from tests.twilio_fixtures import standin_twilio_settings

ALERTED = "+358401110001"
STAKEHOLDER = "+358401110002"
HELPED = "+358401110003"


async def test_every_sms_carries_its_validity_period(store: Store, standin: StandIn) -> None:
    settings = replace(
        standin_twilio_settings(standin.url), validity_s=600, stakeholder_validity_s=7200
    )
    drafts = [
        AlertDraft(ALERTED, Channel.SMS, Purpose.ALERT, "MI-2026-007 declared. Reply 1"),
        AlertDraft(STAKEHOLDER, Channel.SMS, Purpose.STAKEHOLDER, "Payments are slow"),
        AlertDraft(HELPED, Channel.SMS, Purpose.HELP, "Reply 1 to join"),
    ]
    with store.write() as db:
        outbox.enqueue(db, drafts, utcnow())
    d = Dispatcher(store, twilio_routes(TwilioNotifier(settings, timeout=5)), config=FAST)
    await run_until(d, lambda: counts(store)["accepted"] == 3)
    sent = {m.to: m.validity_period for m in standin.messages(direction="outbound-api")}
    assert sent == {ALERTED: 600, STAKEHOLDER: 7200, HELPED: 600}


async def test_the_default_is_fifteen_minutes(standin: StandIn, notifier: TwilioNotifier) -> None:
    await notifier.send_sms(ALERTED, "test")
    await notifier.send_sms(STAKEHOLDER, "update", long_lived=True)
    sent = {m.to: m.validity_period for m in standin.messages(direction="outbound-api")}
    assert sent == {ALERTED: 900, STAKEHOLDER: 14_400}
    assert TwilioSettings().validity_s == 900


@pytest.mark.parametrize("validity", [0, 36_001])
async def test_the_standin_refuses_a_validity_twilio_refuses(
    standin: StandIn, validity: int
) -> None:
    settings = replace(standin_twilio_settings(standin.url), validity_s=validity)
    notifier = TwilioNotifier(settings, timeout=5)
    try:
        with pytest.raises(PermanentSendError) as refused:
            await notifier.send_sms(ALERTED, "test")
    finally:
        await notifier.aclose()
    assert refused.value.code == 21624
    assert standin.messages(direction="outbound-api") == []


def test_an_expired_sms_is_named_plainly() -> None:
    expired = describe(30036)
    assert expired.permanent and "validity" in expired.reason


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("validity_s = 0", "validity_s in the config file must be 1..36000 seconds"),
        ("validity_s = 36001", "validity_s in the config file must be 1..36000 seconds"),
        ("stakeholder_validity_s = 1e9", "stakeholder_validity_s in the config file must be"),
        ("validity_s = 1.5", "validity_s in the config file must be a whole number"),
    ],
)
def test_validity_settings_are_bounded(tmp_path: Path, line: str, said: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[twilio]\n{line}\n", encoding="utf-8")
    with pytest.raises(UserError, match=said):
        load_settings(config, environ={})


def test_validity_settings_are_read(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[twilio]\nvalidity_s = 1\nstakeholder_validity_s = 36000\n", "utf-8")
    twilio = load_settings(config, environ={}).twilio
    assert (twilio.validity_s, twilio.stakeholder_validity_s) == (1, 36_000)


@pytest.mark.parametrize("raw", ["²", "abc", "", "-5", "1e3"])
async def test_the_standin_survives_any_validity_text(standin: StandIn, raw: str) -> None:
    token = base64.b64encode(f"{DEFAULT_ACCOUNT_SID}:{DEFAULT_AUTH_TOKEN}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as http:
        answer = await http.post(
            f"{standin.url}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json",
            data={"To": ALERTED, "From": DEFAULT_SENDER, "Body": "x", "ValidityPeriod": raw},
        )
        assert answer.status == 400 and (await answer.json())["code"] == 21624
