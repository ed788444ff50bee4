"""The console with a GSM modem: Twilio unreachable, the banner names the modem and its key, and
`g` on the roll call sends the waiting alerts by modem (those perhaps at Twilio only after a
"send anyway"). Gammu's dummy driver as the modem; sends counted in its log."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path

from mim_console.clock import utcnow
from mim_console.config import EscalationSettings, ModemSettings, Settings
from mim_console.data import outbox
from mim_console.domain.backoff import BackoffPolicy
from mim_console.services.context import Context
from mim_console.services.dispatching import DispatcherConfig
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.modem_fixtures import dummy_modem
from tests.twilio_fixtures import standin_twilio_settings

PATIENT = EscalationSettings(voice_after_min=600, deputy_after_min=600)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the console")
        await asyncio.sleep(0.05)


async def test_roll_call_sends_the_waiting_alerts_by_modem(db_path: Path, tmp_path: Path) -> None:
    from mim_console.app import make_app
    from mim_console.screens.confirm import ConfirmScreen
    from mim_console.screens.rollcall import RollCallScreen
    from mim_console.widgets.banner import OutboxBanner
    from tests.ui_data import seed_small

    modem = dummy_modem(tmp_path / "modem")
    settings = Settings(
        db_path=db_path,
        twilio=standin_twilio_settings(f"http://127.0.0.1:{closed_port()}"),
        # The fallback would wait ten minutes: only the duty manager's key moves alerts.
        modem=ModemSettings(gammurc=modem.gammurc, fallback_after_s=600),
        escalation={"duty_manager": PATIENT, "mrt": PATIENT, "specialist": PATIENT},
    )
    ctx = Context(settings=settings, actor="tester")
    seed_small(ctx.store, FROZEN_NOW)
    service = IncidentService(ctx)
    code = service.declare(title="Twilio is gone", severity="SEV2", categories=["payments"]).code
    with ctx.store.read() as db:
        alerts = outbox.list_alerts(db)
    first = alerts[-1]  # its Twilio create got no answer: it may be at Twilio
    with ctx.store.write() as db:
        outbox.mark_retry(db, first.id, utcnow(), code=None, error="timed out", uncertain=True)
    config = DispatcherConfig(
        heartbeat_s=0.1,
        lease_ttl_s=2.0,
        tick_s=0.2,
        request_timeout_s=1.0,
        backoff=BackoffPolicy(base_s=2.0, cap_s=10.0, max_age_min=10),
    )
    app = make_app(ctx, dispatch_config=config)
    async with app.run_test(size=(140, 30), notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("r")
        await _wait(lambda: isinstance(app.screen, RollCallScreen))
        banner = app.screen.query_one(OutboxBanner)
        await _wait(lambda: "UNREACHABLE" in str(banner.render()))
        words = str(banner.render())
        assert "g: send by modem" in words, words
        await _wait(lambda: "modem ready" in str(banner.render()))
        assert modem.recipients() == []
        await pilot.press("g")
        others = {a.to_number for a in alerts if a.id != first.id}
        await _wait(lambda: set(modem.recipients()) == others)
        await pilot.press("g")  # nothing else waits but the one in doubt: asked first
        await _wait(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await _wait(lambda: first.to_number in modem.recipients())
    assert sorted(modem.recipients()) == sorted(a.to_number for a in alerts)
    timeline = [e.text for e in service.timeline(code)]
    assert any("send anyway by modem, may arrive twice" in t for t in timeline)
    ctx.close()


def test_banner_names_the_modem_and_its_key() -> None:
    from mim_console.widgets.banner import OutboxState, describe

    down = OutboxState(queued=14, reachable=False, modem="modem: 14 waiting, ~2 min")
    words, css = describe(down, "k", "g")
    assert words.startswith(
        "✖ Twilio UNREACHABLE: alerts kept, retrying · k: call sheet · g: send by modem · "
        "modem: 14 waiting, ~2 min · 14 queued"
    )
    assert css == "-bad"
    alone = OutboxState(configured=False, modem="modem ready")
    assert describe(alone)[0].startswith("⚠ Twilio NOT CONFIGURED, SMS by modem · modem ready")
    assert "modem" not in describe(OutboxState(queued=1, reachable=False), "k", "g")[0]
