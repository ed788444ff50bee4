"""The voice keypress receiver over loopback HTTP: only Twilio-signed requests count."""

from __future__ import annotations

import asyncio
import socket
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from mim_console.config import TwilioSettings
from mim_console.domain.bridge import bridge_twiml
from mim_console.domain.replies import meaning_of_digit
from mim_console.domain.voice import (
    JOINED,
    NO_CALLBACK,
    PROMPT,
    UNABLE,
    alert_twiml,
    speakable,
)
from mim_console.errors import UserError
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.notifiers.webhook import KeypressReceiver
from mim_console.standin import StandIn, Timing
from tests.twilio_fixtures import settings_of

TOKEN = "webhook-auth-token"
PUBLIC = "https://mim.example.org/twilio/voice?incident=MI-2026-007"
CALL_SID = "CA" + "1" * 32
BOB_NUMBER = "+358407654321"


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.seen: list[tuple[str, str]] = []
        self.fail = fail

    async def __call__(self, call_sid: str, digit: str) -> None:
        if self.fail:
            raise RuntimeError("database is locked")
        self.seen.append((call_sid, digit))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def receiver(recorder: Recorder) -> AsyncIterator[KeypressReceiver]:
    server = KeypressReceiver(auth_token=TOKEN, public_url=PUBLIC, on_keypress=recorder)
    await server.start()
    yield server
    await server.stop()


def _signed(form: dict[str, str], url: str = PUBLIC, token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, form)}


async def _post(
    receiver: KeypressReceiver, form: dict[str, str], headers: dict[str, str]
) -> tuple[int, str]:
    local = f"http://{receiver.host}:{receiver.port}/twilio/voice?incident=MI-2026-007"
    async with (
        aiohttp.ClientSession() as session,
        session.post(local, data=form, headers=headers) as response,
    ):
        return response.status, await response.text()


FORM = {"CallSid": CALL_SID, "Digits": "1", "AccountSid": "AC" + "0" * 32, "From": "+358401"}


async def test_signed_keypress_is_handed_over(
    receiver: KeypressReceiver, recorder: Recorder
) -> None:
    status, body = await _post(receiver, FORM, _signed(FORM))
    assert status == 200
    assert JOINED in body and body.startswith("<?xml")
    assert recorder.seen == [(CALL_SID, "1")]


async def test_digit_two_is_unable(receiver: KeypressReceiver, recorder: Recorder) -> None:
    form = {**FORM, "Digits": "2"}
    status, body = await _post(receiver, form, _signed(form))
    assert status == 200 and UNABLE in body
    assert recorder.seen == [(CALL_SID, "2")]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        _signed(FORM, token="another-accounts-token"),
        _signed(FORM, url="https://attacker.example/twilio/voice"),
    ],
)
async def test_unsigned_or_forged_requests_get_403(
    receiver: KeypressReceiver, recorder: Recorder, headers: dict[str, str]
) -> None:
    status, _ = await _post(receiver, FORM, headers)
    assert status == 403
    assert recorder.seen == []


async def test_tampered_digit_fails_the_signature(
    receiver: KeypressReceiver, recorder: Recorder
) -> None:
    headers = _signed(FORM)
    status, _ = await _post(receiver, {**FORM, "Digits": "2"}, headers)
    assert status == 403
    assert recorder.seen == []


async def test_other_key_asks_again(receiver: KeypressReceiver, recorder: Recorder) -> None:
    form = {**FORM, "Digits": "9"}
    status, body = await _post(receiver, form, _signed(form))
    assert status == 200
    assert "<Gather" in body and PROMPT in body
    assert recorder.seen == [(CALL_SID, "9")]


async def _post_to(receiver: KeypressReceiver, action: str, form: dict[str, str], url: str) -> str:
    """POST ``form`` to the receiver at ``action``'s path and query, signed for ``url``."""
    query = action.partition("?")[2]
    local = f"http://{receiver.host}:{receiver.port}/twilio/voice?{query}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(local, data=form, headers=_signed(form, url=url)) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.text()


async def test_a_key_during_a_bridge_call_connects_to_its_bridge(
    receiver: KeypressReceiver, recorder: Recorder
) -> None:
    """Twilio runs the answer to a keypress instead of the rest of the call: pressing 1 used
    to hang up on someone who was about to be connected to the bridge."""
    twiml = bridge_twiml(
        "MI-2026-007 payments down", "MI-2026-007", label="mim-4", callback_url=PUBLIC
    )
    action = ET.fromstring(twiml).find("Gather").attrib["action"]  # type: ignore[union-attr]
    body = await _post_to(receiver, action, FORM, action)
    conference = ET.fromstring(body).find("Dial/Conference")
    assert conference is not None and conference.text == "MI-2026-007"
    assert conference.attrib["participantLabel"] == "mim-4"
    form = {**FORM, "Digits": "2"}
    unable = await _post_to(receiver, action, form, action)
    assert "<Dial" not in unable and "unable" in unable
    assert recorder.seen == [(CALL_SID, "1"), (CALL_SID, "2")]
    # Another bridge's name in the URL than Twilio signed: refused, nobody connected anywhere.
    forged = action.replace("MI-2026-007", "MI-2026-999")
    local = f"http://{receiver.host}:{receiver.port}/twilio/voice?{forged.partition('?')[2]}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(local, data=FORM, headers=_signed(FORM, url=action)) as response,
    ):
        assert response.status == 403
    assert len(recorder.seen) == 2


async def test_missing_call_sid_is_400(receiver: KeypressReceiver, recorder: Recorder) -> None:
    form = {"Digits": "1"}
    status, _ = await _post(receiver, form, _signed(form))
    assert status == 400
    assert recorder.seen == []


async def test_failing_handler_still_answers_the_caller() -> None:
    failing = Recorder(fail=True)
    server = KeypressReceiver(auth_token=TOKEN, public_url=PUBLIC, on_keypress=failing)
    await server.start()
    try:
        status, body = await _post(server, FORM, _signed(FORM))
    finally:
        await server.stop()
    assert status == 200
    assert "could not be recorded" in body and "text message" in body


async def test_sync_handler_is_accepted() -> None:
    seen: list[tuple[str, str]] = []
    server = KeypressReceiver(
        auth_token=TOKEN, public_url=PUBLIC, on_keypress=lambda sid, d: seen.append((sid, d))
    )
    await server.start()
    try:
        status, _ = await _post(server, FORM, _signed(FORM))
    finally:
        await server.stop()
    assert status == 200 and seen == [(CALL_SID, "1")]


def test_needs_the_auth_token_and_a_full_url() -> None:
    with pytest.raises(UserError, match="TWILIO_AUTH_TOKEN"):
        KeypressReceiver(auth_token="", public_url=PUBLIC, on_keypress=Recorder())
    with pytest.raises(UserError, match="not a full"):
        KeypressReceiver(auth_token=TOKEN, public_url="mim.example.org", on_keypress=Recorder())
    receiver = KeypressReceiver(auth_token=TOKEN, public_url=PUBLIC, on_keypress=Recorder())
    assert TOKEN not in repr(receiver)


def test_from_settings() -> None:
    with pytest.raises(UserError, match="MIM_TWILIO_CALLBACK_URL"):
        KeypressReceiver.from_settings(TwilioSettings(auth_token=TOKEN), Recorder())
    settings = TwilioSettings(auth_token=TOKEN, callback_url=PUBLIC)
    receiver = KeypressReceiver.from_settings(settings, Recorder(), port=0)
    assert receiver.public_url == PUBLIC and receiver.path == "/twilio/voice"
    with pytest.raises(UserError, match="TWILIO_AUTH_TOKEN"):
        KeypressReceiver.from_settings(
            TwilioSettings(api_key="SK1", api_secret="x", callback_url=PUBLIC), Recorder()
        )


# ---------------------------------------------------------------- the TwiML it pairs with
def test_alert_twiml_reads_twice_then_gathers() -> None:
    twiml = alert_twiml("MI-2026-007 payments down", PUBLIC)
    assert twiml.count("MI-2026-007 payments down") == 2
    assert '<Gather action="https://mim.example.org/twilio/voice?incident=MI-2026-007"' in twiml
    assert 'numDigits="1"' in twiml and PROMPT in twiml


def test_alert_twiml_without_callback_points_to_sms() -> None:
    twiml = alert_twiml("MI-2026-007 payments down")
    assert "<Gather" not in twiml
    assert twiml.count("payments down") == 2 and NO_CALLBACK in twiml


def test_alert_text_cannot_inject_twiml() -> None:
    twiml = alert_twiml('</Say><Dial>+1900</Dial><Say x="', PUBLIC)
    assert "<Dial>" not in twiml and "&lt;Dial&gt;" in twiml


@given(st.text(max_size=3000))
def test_alert_twiml_always_fits_and_is_clean(text: str) -> None:
    twiml = alert_twiml(text, PUBLIC)
    assert len(twiml) <= 4000
    assert not any(ord(ch) < 32 for ch in twiml)
    assert speakable(text) == "" or "<Say" in twiml


def test_digit_meanings() -> None:
    assert meaning_of_digit("1") == "joined"
    assert meaning_of_digit(" 2 ") == "unable"
    assert meaning_of_digit("3") is None


async def test_stand_in_plays_twilio_calling_the_receiver(standin: StandIn) -> None:
    """End to end: voice alert with a Gather, the person presses 2, the receiver records it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    public = f"http://127.0.0.1:{port}/voice?alert=17"
    seen: list[tuple[str, str]] = []
    receiver = KeypressReceiver(
        auth_token=standin.auth_token,
        public_url=public,
        on_keypress=lambda sid, digit: seen.append((sid, digit)),
        port=port,
    )
    await receiver.start()
    standin.timing = Timing(call_answered=0.05)
    standin.script_keypress(BOB_NUMBER, "2", after=0.05)
    notifier = TwilioNotifier(settings_of(standin), timeout=5)
    try:
        call = await notifier.place_call(BOB_NUMBER, alert_twiml("MI-2026-007 payments", public))
        for _ in range(200):
            if standin.keypress_log:
                break
            await asyncio.sleep(0.02)
    finally:
        await notifier.aclose()
        await receiver.stop()
    assert seen == [(call.sid, "2")]
    (attempt,) = standin.keypress_log
    assert (attempt.status, attempt.url) == (200, public)
    assert UNABLE in attempt.answer


async def test_receiver_with_another_token_refuses_the_stand_ins_keypress(
    standin: StandIn,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    public = f"http://127.0.0.1:{port}/voice"
    seen: list[tuple[str, str]] = []
    receiver = KeypressReceiver(
        auth_token="not-the-accounts-token",
        public_url=public,
        on_keypress=lambda sid, digit: seen.append((sid, digit)),
        port=port,
    )
    await receiver.start()
    standin.timing = Timing(call_answered=0.05)
    standin.script_keypress(BOB_NUMBER, "1", after=0.0)
    notifier = TwilioNotifier(settings_of(standin), timeout=5)
    try:
        await notifier.place_call(BOB_NUMBER, alert_twiml("MI-2026-007", public))
        for _ in range(200):
            if standin.keypress_log:
                break
            await asyncio.sleep(0.02)
    finally:
        await notifier.aclose()
        await receiver.stop()
    assert [a.status for a in standin.keypress_log] == [403]
    assert seen == []
