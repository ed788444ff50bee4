"""TwilioNotifier against the stand-in over real loopback HTTP: results, errors, secrets."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from mim_console.config import TwilioSettings
from mim_console.domain.twilio_errors import describe, describe_http
from mim_console.domain.voice import alert_twiml
from mim_console.errors import UserError
from mim_console.notifiers.base import Notifier, PermanentSendError, TransientSendError
from mim_console.notifiers.twilio import TwilioNotifier, _retry_after
from mim_console.standin import DEFAULT_SENDER, StandIn, Timing
from tests.twilio_fixtures import standin_twilio_settings

# Status steps far apart, so a loaded machine cannot skip one between two requests.
SLOW = Timing(
    sms_sent=10,
    sms_delivered=20,
    call_ringing=10,
    call_answered=20,
    call_completed=40,
    call_gave_up=50,
)
ALICE = "+358401234567"
BOB = "+358407654321"


def _since() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=5)


def test_notifier_satisfies_protocol(standin_settings: TwilioSettings) -> None:
    notifier: Notifier = TwilioNotifier(standin_settings)
    assert callable(notifier.send_sms)


def test_bad_api_url_is_named() -> None:
    settings = standin_twilio_settings("localhost:8080")
    with pytest.raises(UserError, match="MIM_TWILIO_API_URL 'localhost:8080'"):
        TwilioNotifier(settings)


def test_unconfigured_settings_name_what_is_missing() -> None:
    with pytest.raises(UserError) as info:
        TwilioNotifier(TwilioSettings(account_sid="AC1"))
    assert "TWILIO_AUTH_TOKEN" in str(info.value)
    assert "MIM_TWILIO_FROM" in str(info.value)
    assert "queued" in str(info.value)


async def test_send_sms_is_accepted_and_progresses(
    standin: StandIn, notifier: TwilioNotifier
) -> None:
    standin.timing = SLOW
    result = await notifier.send_sms(ALICE, "MI-2026-001: payments down. Reply 1 to join.")
    assert result.sid.startswith("SM") and len(result.sid) == 34
    assert result.status == "queued"
    (stored,) = standin.messages(direction="outbound-api")
    assert (stored.to, stored.from_, stored.sid) == (ALICE, DEFAULT_SENDER, result.sid)
    assert (await notifier.message_status(result.sid)).status == "queued"
    standin.advance(15)
    assert (await notifier.message_status(result.sid)).status == "sent"
    standin.advance(10)
    assert (await notifier.message_status(result.sid)).status == "delivered"


async def test_undelivered_status_carries_error_code(
    standin: StandIn, notifier: TwilioNotifier
) -> None:
    standin.undeliverable(ALICE, 30003)
    result = await notifier.send_sms(ALICE, "hello")
    standin.advance(5)
    status = await notifier.message_status(result.sid)
    assert status.status == "undelivered"
    assert status.error_code == 30003
    assert describe(status.error_code).permanent


async def test_voice_call_progresses_to_final_outcome(
    standin: StandIn, notifier: TwilioNotifier
) -> None:
    standin.timing = SLOW
    standin.call_outcome(BOB, "no-answer")
    twiml = alert_twiml("MI-2026-001 payments down", None)
    joined = await notifier.place_call(ALICE, twiml)
    missed = await notifier.place_call(BOB, twiml)
    assert joined.sid.startswith("CA")
    assert standin.calls(to=ALICE)[0].twiml == twiml
    assert (await notifier.call_status(joined.sid)).status == "queued"
    standin.advance(15)
    assert (await notifier.call_status(joined.sid)).status == "ringing"
    standin.advance(10)
    assert (await notifier.call_status(joined.sid)).status == "in-progress"
    standin.advance(60)
    assert (await notifier.call_status(joined.sid)).status == "completed"
    assert (await notifier.call_status(missed.sid)).status == "no-answer"


async def test_inbound_since_returns_only_replies_newest_first(
    standin: StandIn, notifier: TwilioNotifier
) -> None:
    since = _since()
    standin.script_reply(ALICE, "1", after=20)
    standin.script_reply(BOB, " no ", after=40)
    await notifier.send_sms(ALICE, "alert")
    await notifier.send_sms(BOB, "alert")
    assert await notifier.inbound_since(since) == []
    standin.advance(60)
    replies = await notifier.inbound_since(since)
    assert [(r.from_number, r.body) for r in replies] == [(BOB, " no "), (ALICE, "1")]
    assert all(r.to_number == DEFAULT_SENDER for r in replies)
    assert all(r.received_at.tzinfo is not None for r in replies)
    # The request carried the filter the way the SDK serialises it.
    lists = [e for e in standin.request_log() if e.method == "GET" and "DateSent>" in e.query]
    assert lists and lists[-1].query["To"] == DEFAULT_SENDER


async def test_inbound_since_pages_through_many_replies(
    standin: StandIn, notifier: TwilioNotifier
) -> None:
    since = _since()
    for i in range(130):
        standin.inject_inbound(f"+3584000{i:05d}", "1")
    replies = await notifier.inbound_since(since, limit=500)
    assert len({r.sid for r in replies}) == 130


async def test_inbound_since_over_twilios_page_limit(
    standin: StandIn, notifier: TwilioNotifier
) -> None:
    since = _since()
    for i in range(1100):
        standin.inject_inbound(f"+3584001{i:05d}", "1")
    replies = await notifier.inbound_since(since, limit=1500)
    assert len({r.sid for r in replies}) == 1100
    pages = [e.query for e in standin.request_log() if e.method == "GET"]
    assert [q["PageSize"] for q in pages] == ["1000", "1000"]


async def test_refused_next_page_is_classified(standin: StandIn, notifier: TwilioNotifier) -> None:
    since = _since()
    for i in range(1100):
        standin.inject_inbound(f"+3584001{i:05d}", "1")
    standin.fault("503", method="GET", skip=1)
    with pytest.raises(TransientSendError) as transient:
        await notifier.inbound_since(since, limit=1500)
    assert transient.value.status == 503
    standin.fault("429", method="GET", skip=1, retry_after=4)
    with pytest.raises(TransientSendError) as limited:
        await notifier.inbound_since(since, limit=1500)
    assert limited.value.retry_after == 4.0


async def test_inbound_since_excludes_older_replies(
    standin: StandIn, notifier: TwilioNotifier
) -> None:
    standin.inject_inbound(ALICE, "old")
    standin.advance(3600)
    later = standin.now() - timedelta(seconds=1)
    standin.inject_inbound(BOB, "new")
    replies = await notifier.inbound_since(later)
    assert [r.body for r in replies] == ["new"]


async def test_sent_to_finds_what_twilio_holds(standin: StandIn, notifier: TwilioNotifier) -> None:
    since = _since()
    sms = await notifier.send_sms(ALICE, "first")
    call = await notifier.place_call(ALICE, alert_twiml("x"))
    await notifier.send_sms(BOB, "other person")
    standin.inject_inbound(ALICE, "1")
    found_sms = await notifier.sent_to(ALICE, since, "sms")
    assert [(r.sid, r.body, r.to_number) for r in found_sms] == [(sms.sid, "first", ALICE)]
    found_calls = await notifier.sent_to(ALICE, since, "voice")
    assert [r.sid for r in found_calls] == [call.sid]
    assert await notifier.sent_to(ALICE, datetime.now(UTC) + timedelta(hours=1), "sms") == []


async def test_sent_to_allows_for_whole_second_timestamps(
    standin: StandIn, notifier: TwilioNotifier
) -> None:
    """Twilio reports 08:00:00 for a message created at 08:00:00.9; since=08:00:00.7 must see it."""
    sms = await notifier.send_sms(ALICE, "alert")
    (stored,) = standin.messages()
    since = stored.created_at - timedelta(microseconds=1)  # just before, to the microsecond
    if since.microsecond == 999_999:  # the rare case where "just before" is the second before
        since = stored.created_at
    assert [r.sid for r in await notifier.sent_to(ALICE, since, "sms")] == [sms.sid]
    later = stored.created_at.replace(microsecond=0) + timedelta(seconds=1)
    assert await notifier.sent_to(ALICE, later, "sms") == []


async def test_sent_to_sees_a_create_whose_answer_was_lost(
    standin: StandIn, notifier: TwilioNotifier
) -> None:
    since = _since()
    standin.fault("drop", accepted=True, method="POST")
    with pytest.raises(TransientSendError):
        await notifier.send_sms(ALICE, "lost answer")
    found = await notifier.sent_to(ALICE, since, "sms")
    assert [r.body for r in found] == ["lost answer"]


async def test_429_is_transient_with_retry_after(
    standin: StandIn, notifier: TwilioNotifier
) -> None:
    standin.fault("429", count=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(TransientSendError) as info:
            await notifier.send_sms(ALICE, "x")
        assert info.value.retry_after == 7.0
        assert info.value.status == 429
    assert (await notifier.send_sms(ALICE, "x")).sid.startswith("SM")


@pytest.mark.parametrize("kind", ["500", "503"])
async def test_server_errors_are_transient(
    standin: StandIn, notifier: TwilioNotifier, kind: str
) -> None:
    standin.fault(kind)
    with pytest.raises(TransientSendError) as info:
        await notifier.send_sms(ALICE, "x")
    assert info.value.status == int(kind)
    assert info.value.retry_after is None


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (21211, "not valid"),
        (21614, "not a mobile"),
        (21610, "unsubscribed"),
        (21408, "region"),
    ],
)
async def test_permanent_errors_have_plain_reasons(
    standin: StandIn, notifier: TwilioNotifier, code: int, words: str
) -> None:
    standin.fail_number(ALICE, code)
    with pytest.raises(PermanentSendError) as info:
        await notifier.send_sms(ALICE, "x")
    assert info.value.code == code
    assert words in str(info.value)
    assert standin.messages() == []


async def test_malformed_number_is_refused_by_twilio_as_21211(notifier: TwilioNotifier) -> None:
    with pytest.raises(PermanentSendError) as info:
        await notifier.send_sms("040 123", "x")
    assert info.value.code == 21211


async def test_timeout_is_bounded_and_transient(standin: StandIn) -> None:
    notifier = TwilioNotifier(standin_twilio_settings(standin.url), timeout=0.3)
    standin.fault("timeout", hold=30)
    started = time.monotonic()
    with pytest.raises(TransientSendError) as info:
        await notifier.send_sms(ALICE, "x")
    assert time.monotonic() - started < 5  # bounded by the 0.3 s timeout, not the 30 s hold
    assert "0.3 s" in str(info.value)
    await notifier.aclose()
    assert standin.messages() == []


async def test_dropped_connection_is_transient(standin: StandIn, notifier: TwilioNotifier) -> None:
    standin.fault("drop")
    with pytest.raises(TransientSendError) as info:
        await notifier.send_sms(ALICE, "x")
    assert "dropped" in str(info.value)
    assert standin.messages() == []


async def test_refused_connection_is_transient_and_recovers(
    standin: StandIn, notifier: TwilioNotifier
) -> None:
    await standin.go_down(0.3)
    with pytest.raises(TransientSendError) as info:
        await notifier.send_sms(ALICE, "x")
    assert "refused" in str(info.value)
    for _ in range(100):  # back after 0.3 s; allow for a loaded machine
        if standin.is_up:
            break
        await asyncio.sleep(0.05)
    assert standin.is_up
    assert (await notifier.send_sms(ALICE, "back")).status == "queued"


async def test_wrong_token_is_permanent_and_never_shows_the_secret(
    standin: StandIn, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-token-value-0123456789"
    settings = TwilioSettings(
        account_sid=standin.account_sid,
        auth_token=secret,
        sender=DEFAULT_SENDER,
        api_url=standin.url,
    )
    caplog.set_level(logging.DEBUG)
    notifier = TwilioNotifier(settings)
    with pytest.raises(PermanentSendError) as info:
        await notifier.send_sms(ALICE, "x")
    await notifier.aclose()
    assert info.value.code == 20003
    assert describe(20003).account_wide
    assert secret not in str(info.value)
    assert secret not in repr(notifier)
    assert secret not in caplog.text


async def test_api_key_credentials_work(standin: StandIn) -> None:
    key, secret = "SK" + "1" * 32, "api-secret"
    standin.add_credentials(key, secret)
    settings = TwilioSettings(
        account_sid=standin.account_sid,
        api_key=key,
        api_secret=secret,
        sender=DEFAULT_SENDER,
        api_url=standin.url,
    )
    notifier = TwilioNotifier(settings)
    assert (await notifier.send_sms(ALICE, "x")).sid.startswith("SM")
    await notifier.aclose()


async def test_messaging_service_sender(standin: StandIn) -> None:
    service = "MG" + "a" * 32
    notifier = TwilioNotifier(standin_twilio_settings(standin.url, sender=service))
    await notifier.send_sms(ALICE, "x")
    (entry,) = [e for e in standin.request_log() if e.method == "POST"]
    assert entry.form["MessagingServiceSid"] == service
    assert "From" not in entry.form
    with pytest.raises(PermanentSendError, match="Messaging Service"):
        await notifier.place_call(ALICE, alert_twiml("x"))
    await notifier.aclose()


async def test_httpx_transport_behaves_the_same(standin: StandIn) -> None:
    notifier = TwilioNotifier(standin_twilio_settings(standin.url), transport="httpx", timeout=2)
    ok = await notifier.send_sms(ALICE, "x")
    assert ok.sid.startswith("SM")
    standin.fault("429", retry_after=3)
    with pytest.raises(TransientSendError) as info:
        await notifier.send_sms(ALICE, "x")
    assert info.value.retry_after == 3.0
    standin.fail_number(BOB, 21614)
    with pytest.raises(PermanentSendError):
        await notifier.send_sms(BOB, "x")
    await notifier.aclose()


async def test_many_concurrent_sends_all_land_once(
    standin: StandIn, notifier: TwilioNotifier
) -> None:
    standin.set_latency(0.05)
    numbers = [f"+3584010{i:05d}" for i in range(120)]
    results = await asyncio.gather(*(notifier.send_sms(n, "alert") for n in numbers))
    assert len({r.sid for r in results}) == 120
    assert sorted(r.to for r in standin.messages()) == sorted(numbers)


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (503, False)])
async def test_problem_details_errors_are_classified(status: int, permanent: bool) -> None:
    """Newer Twilio APIs answer with RFC 9457 problem details; the SDK raises another class."""

    async def refuse(request: web.Request) -> web.Response:
        body = {
            "type": "https://www.twilio.com/docs/errors/21211",
            "title": "Invalid 'To' Phone Number",
            "status": status,
            "code": 21211 if status == 400 else 20503,
            "detail": "The number is not valid",
        }
        return web.json_response(body, status=status, content_type="application/problem+json")

    app = web.Application()
    app.router.add_post("/{tail:.*}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    notifier = TwilioNotifier(standin_twilio_settings(f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(PermanentSendError if permanent else TransientSendError) as info:
            await notifier.send_sms(ALICE, "x")
    finally:
        await notifier.aclose()
        await runner.cleanup()
    assert info.value.status == status
    if permanent:
        assert info.value.code == 21211 and "not valid" in str(info.value)


def test_retry_after_accepts_seconds_and_dates() -> None:
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert _retry_after({"retry-after": "12"}, now) == 12.0
    assert _retry_after({"retry-after": "Mon, 02 Mar 2026 08:00:30 GMT"}, now) == 30.0
    assert _retry_after({"retry-after": "soon"}, now) is None
    assert _retry_after({}, now) is None


def test_http_classification() -> None:
    assert not describe_http(429, 20429).permanent
    assert not describe_http(503, None).permanent
    assert describe_http(400, 21211).permanent
    assert describe_http(401, 20003).account_wide
    assert describe_http(422, 422, "Unable to create record").permanent
    assert "HTTP 404" in describe_http(404, None).reason
    assert describe(99999, "Something odd").reason == "Something odd"
    assert describe(30999).permanent
