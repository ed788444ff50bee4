"""Contract: the unchanged TwilioNotifier against Prism serving Twilio's published API description.

Prism validates every request against ``twilio_api_v2010.json``: a wrong parameter name, a bad
SID pattern, JSON instead of a form body or missing auth come back as 4xx, which the notifier
raises, and which this test also looks for in Prism's own log.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mim_console.config import TwilioSettings
from mim_console.domain.bridge import (
    bridge_twiml,
    conference_name,
    participant_label,
    voicemail_twiml,
)
from mim_console.domain.voice import alert_twiml
from mim_console.notifiers.base import PermanentSendError
from mim_console.notifiers.twilio import TwilioNotifier
from tests.conftest import shared_path

pytestmark = pytest.mark.prism

# Captured at import, before the autouse fixture points HOME and XDG_CACHE_HOME at tmp_path:
# .ci/run installs Prism into the real cache, and a reinstall per test would need the network.
REAL_PRISM_CACHE = os.environ.get("PRISM_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "twilio-prism"
)
ACCOUNT = "AC" + "0123456789abcdef" * 2
SENDER = "+15005550006"
TO = "+358401234567"


@dataclass
class Prism:
    url: str
    log: Path
    log_start: int

    def new_log_lines(self) -> list[str]:
        with self.log.open(encoding="utf-8", errors="replace") as handle:
            handle.seek(self.log_start)
            return handle.read().splitlines()


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        reason = f"{tool} is not installed: the Prism contract test needs Node.js and npm"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI must have it")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def prism() -> Iterator[Prism]:
    script = shared_path("twilio-api", "start-prism.sh")
    shared_path("twilio-api", "twilio_api_v2010.json")
    _need("node")
    _need("npm")
    port = _free_port()
    env = {**os.environ, "PRISM_CACHE": REAL_PRISM_CACHE}
    env.pop("PRISM_ERROR_RESPONSES", None)
    started = subprocess.run(
        ["bash", str(script), str(port)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if started.returncode != 0:
        pytest.fail(f"start-prism.sh failed ({started.returncode}):\n{started.stderr[-2000:]}")
    pid = int(started.stdout.strip().splitlines()[-1])
    log = Path(REAL_PRISM_CACHE) / f"prism-{port}.log"
    try:
        yield Prism(f"http://127.0.0.1:{port}", log, log.stat().st_size)
    finally:
        _stop(pid)


def _settings(prism: Prism, **overrides: str) -> TwilioSettings:
    values: dict[str, Any] = {
        "account_sid": ACCOUNT,
        "auth_token": "contract-token",
        "sender": SENDER,
        "api_url": prism.url,
        **overrides,
    }
    return TwilioSettings(**values)


_READINESS_PROBE = re.compile(r"\] get / ")  # start-prism.sh polls "/" until Prism answers


def _assert_no_rejections(prism: Prism) -> None:
    # Prism writes its log asynchronously: wait until it has stopped growing.
    lines = prism.new_log_lines()
    for _ in range(50):
        time.sleep(0.1)
        again = prism.new_log_lines()
        if again == lines:
            break
        lines = again
    assert any("Request received" in line for line in lines), "Prism saw no requests"
    rejected = [
        line
        for line in lines
        if ("Request terminated with error" in line or "did not pass the validation" in line)
        and not _READINESS_PROBE.search(line)
    ]
    assert rejected == [], "\n".join(rejected)


async def test_notifier_speaks_twilios_published_api(prism: Prism) -> None:
    prism.log_start = prism.log.stat().st_size
    notifier = TwilioNotifier(_settings(prism), timeout=10)
    try:
        sms = await notifier.send_sms(
            TO, "MI-2026-007 payments down. Reply 1 to join, 2 if unable."
        )
        assert sms.sid.startswith("SM") and len(sms.sid) == 34
        assert sms.status == "queued"

        twiml = alert_twiml("MI-2026-007 payments down", "https://mim.example.org/voice")
        call = await notifier.place_call(TO, twiml)
        assert call.sid.startswith("CA")

        message = await notifier.message_status(sms.sid)
        assert message.status in {"queued", "sent", "delivered", "undelivered", "failed"}
        assert message.error_code is None or isinstance(message.error_code, int)
        call_state = await notifier.call_status(call.sid)
        assert call_state.status == "completed"

        since = datetime.now(UTC) - timedelta(days=30 * 365)
        replies = await notifier.inbound_since(since, limit=2)
        assert [r.body for r in replies] == ["look mom I have media!"]
        assert replies[0].received_at.tzinfo is not None

        sent = await notifier.sent_to(TO, datetime(2000, 1, 1, tzinfo=UTC), "sms", limit=2)
        assert sent and all(r.sid.startswith("SM") for r in sent)
    finally:
        await notifier.aclose()
    _assert_no_rejections(prism)


CONFERENCE = "CF" + "ab" * 16
CALL = "CA" + "cd" * 16


async def test_bridge_requests_speak_twilios_published_api(prism: Prism) -> None:
    """Every request of the incident bridge: the call into the conference (inline TwiML and
    machine detection), the conference by name and status, its participants, mute and hold,
    removal, the call's answer and the voicemail redirect."""
    prism.log_start = prism.log.stat().st_size
    notifier = TwilioNotifier(_settings(prism), timeout=10)
    try:
        name = conference_name("MI-2026-007", exercise=True)
        twiml = bridge_twiml("MI-2026-007 payments down", name, label=participant_label(12))
        call = await notifier.place_bridge_call(TO, twiml)
        assert call.sid.startswith("CA")
        keyed = bridge_twiml("MI-2026-007", name, callback_url="https://mim.example.org/voice")
        assert (await notifier.place_bridge_call(TO, keyed)).sid.startswith("CA")

        found = await notifier.find_conference(name)
        assert found is None or found.sid.startswith("CF")
        listed = await notifier.participants(CONFERENCE)
        assert all(p.call_sid.startswith("CA") for p in listed)
        muted = await notifier.update_participant(CONFERENCE, CALL, muted=True)
        assert muted.call_sid.startswith("CA")
        held = await notifier.update_participant(CONFERENCE, participant_label(12), hold=False)
        assert held.call_sid.startswith("CA")
        await notifier.remove_participant(CONFERENCE, CALL)

        info = await notifier.call_info(CALL)
        assert info.sid.startswith("CA")
        redirected = await notifier.redirect_call(CALL, voicemail_twiml("MI-2026-007"))
        assert redirected.sid.startswith("CA")
    finally:
        await notifier.aclose()
    _assert_no_rejections(prism)


async def test_messaging_service_and_api_key_requests_are_valid(prism: Prism) -> None:
    prism.log_start = prism.log.stat().st_size
    settings = _settings(
        prism,
        sender="MG" + "a" * 32,
        auth_token="",
        api_key="SK" + "1" * 32,
        api_secret="key-secret",
    )
    notifier = TwilioNotifier(settings)
    try:
        assert (await notifier.send_sms(TO, "test alert")).sid.startswith("SM")
        replies = await notifier.inbound_since(datetime(2000, 1, 1, tzinfo=UTC), limit=2)
        assert len(replies) == 1
    finally:
        await notifier.aclose()
    _assert_no_rejections(prism)


async def test_prism_rejections_surface_as_permanent_errors(prism: Prism) -> None:
    """The other direction: an account SID outside the published pattern is a 4xx we raise."""
    notifier = TwilioNotifier(_settings(prism, account_sid="AC-not-a-sid"))
    try:
        with pytest.raises(PermanentSendError) as info:
            await notifier.send_sms(TO, "x")
    finally:
        await notifier.aclose()
    assert info.value.status == 422
