"""The GSM modem notifier on Gammu's dummy driver: sending, the inbox, health, reopening."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mim_console.config import ModemSettings
from mim_console.domain import modem as advice
from mim_console.domain.backoff import BackoffPolicy
from mim_console.notifiers.modem import (
    INCOMPLETE_WAIT_S,
    GammuModem,
    ModemUnavailable,
)
from tests.modem_fixtures import DummyModem, dummy_modem

FAST = BackoffPolicy(base_s=0.05, cap_s=0.2, min_s=0.01)


@pytest.fixture
def dummy(tmp_path: Path) -> DummyModem:
    return dummy_modem(tmp_path / "modem")


def device(dummy: DummyModem, **kwargs: object) -> GammuModem:
    return GammuModem(ModemSettings(gammurc=dummy.gammurc), backoff=FAST, **kwargs)  # type: ignore[arg-type]


async def test_a_short_text_is_one_part_a_long_one_several(dummy: DummyModem) -> None:
    modem = device(dummy)
    try:
        short = await modem.send_sms("+358401000001", "MI-2026-007 declared. Reply 1 K7")
        await modem.send_sms("+358401000002", "word " * 70)  # 350 GSM-7 characters: 3 parts
        await modem.send_sms("+358401000003", "Pitkä viesti ✓ " * 6)  # UCS-2: 90 chars, 2 parts
    finally:
        await modem.aclose()
    assert short.sid.startswith("GSM")
    assert dummy.recipients() == ["+358401000001"] + ["+358401000002"] * 3 + ["+358401000003"] * 2


async def test_one_message_at_a_time_parts_never_interleave(dummy: DummyModem) -> None:
    modem = device(dummy)
    numbers = [f"+35840200000{i}" for i in range(6)]
    try:
        await asyncio.gather(*(modem.send_sms(n, "long text " * 40) for n in numbers))
    finally:
        await modem.aclose()
    sent = dummy.recipients()
    assert len(sent) == 6 * 3
    runs = [sent[i] for i in range(0, len(sent), 3)]
    assert sorted(runs) == numbers
    assert all(sent[i : i + 3] == [sent[i]] * 3 for i in range(0, len(sent), 3))


async def test_the_gammu_log_keeps_every_send_across_reopens_and_restarts(
    dummy: DummyModem,
) -> None:
    """Gammu truncates its log on connect; the modem route appends, so the log stays a record."""
    for round_ in range(3):
        modem = device(dummy)
        await modem.send_sms(f"+35840300000{round_}", "one")
        await modem.aclose()
    assert dummy.recipients() == ["+358403000000", "+358403000001", "+358403000002"]
    assert oct(dummy.logfile.stat().st_mode & 0o777) == oct(0o600)  # numbers and texts in it


async def test_inbox_read_joins_parts_and_is_emptied_after_delete(dummy: DummyModem) -> None:
    long_reply = "1 K7 " + "on my way, ten minutes out. " * 8
    dummy.receive("+358405000001", "1 K7")
    dummy.receive("+358405000002", long_reply)  # 229 characters: two parts
    modem = device(dummy)
    try:
        first = await modem.read_inbox()
        again = await modem.read_inbox()  # not deleted yet: the same messages, the same ids
        await modem.delete([loc for t in first.texts for loc in t.locations])
        after = await modem.read_inbox()
    finally:
        await modem.aclose()
    bodies = {t.message.from_number: t.message.body for t in first.texts}
    assert bodies == {"+358405000001": "1 K7", "+358405000002": long_reply}
    assert [len(t.locations) for t in first.texts] == [1, 2]
    assert {t.message.sid for t in again.texts} == {t.message.sid for t in first.texts}
    assert len({t.message.sid for t in first.texts}) == 2
    assert after.texts == [] and dummy.inbox_files() == []


async def test_a_multi_part_reply_missing_parts_waits_then_comes_as_it_is(
    dummy: DummyModem,
) -> None:
    dummy.receive("+358405000003", "x" * 400)  # three parts
    os.unlink(dummy.inbox_files()[-1])  # the last part has not arrived
    now = [datetime.now(UTC)]
    modem = GammuModem(ModemSettings(gammurc=dummy.gammurc), clock=lambda: now[0])
    try:
        waiting = await modem.read_inbox()
        now[0] += timedelta(seconds=INCOMPLETE_WAIT_S + 60)
        late = await modem.read_inbox()
    finally:
        await modem.aclose()
    assert waiting.texts == []
    assert [t.message.body for t in late.texts] == ["x" * 306]


async def test_health_of_the_dummy_modem(dummy: DummyModem) -> None:
    modem = device(dummy)
    try:
        health = await modem.health()
    finally:
        await modem.aclose()
    assert health.ok, health.summary()
    assert health.imei == "999999999999999"
    assert health.network == "registered on GammuT3l"
    assert health.signal_percent == 42
    assert (
        health.summary() == "Gammu Dummy (IMEI 999999999999999): registered on GammuT3l, signal 42%"
    )


def test_problems_name_the_fix() -> None:
    pin = advice.problems_of(
        network_state="NoNetwork", signal_percent=0, security="PIN", inbox_used=3, inbox_size=30
    )
    assert "the SIM card needs its PIN" in pin[0] and "entersecuritycode" in pin[0]
    assert pin[1].startswith("no mobile network: check the antenna")
    puk = advice.problems_of(
        network_state="HomeNetwork", signal_percent=50, security="PUK", inbox_used=0, inbox_size=30
    )
    assert puk == (
        "the SIM card is locked and needs its PUK: unlock it in a phone, then put it back",
    )
    full = advice.problems_of(
        network_state="HomeNetwork", signal_percent=5, security=None, inbox_used=30, inbox_size=30
    )
    assert full[0].startswith("weak signal (5%)")
    assert full[1].startswith("the SIM inbox is full (30/30): replies cannot arrive")
    denied = advice.problems_of(
        network_state="RegistrationDenied",
        signal_percent=None,
        security=None,
        inbox_used=None,
        inbox_size=None,
    )
    assert denied == ("the network refused the SIM: check the SIM is active with the operator",)
    assert (
        advice.problems_of(
            network_state="RoamingNetwork",
            signal_percent=60,
            security=None,
            inbox_used=1,
            inbox_size=30,
        )
        == ()
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda d: d / "missing.rc", "does not exist: write it (docs/routes.md)"),
        (lambda d: d, "is not a file"),
        (lambda d: write(d / "garbage.rc", "not [ a gammurc\x00"), "not a Gammu configuration"),
        (
            lambda d: write(d / "nomodem.rc", f"[gammu]\nconnection = at\ndevice = {d}/ttyUSB7\n"),
            "no modem at the configured device: plug the modem in",
        ),
        (
            lambda d: write(d / "section.rc", "[gammu1]\nmodel = dummy\nconnection = none\n"),
            "the gammurc has no such section",
        ),
    ],
)
async def test_bad_setups_say_what_to_fix(tmp_path: Path, setup: object, expected: str) -> None:
    gammurc = setup(tmp_path)  # type: ignore[operator]
    modem = GammuModem(ModemSettings(gammurc=gammurc), backoff=FAST)
    try:
        with pytest.raises(
            ModemUnavailable, match=expected.replace("(", r"\(").replace(")", r"\)")
        ):
            await modem.send_sms("+358401000001", "x")
        health = await modem.health()
    finally:
        await modem.aclose()
    assert health.error is not None and not health.ok
    assert dummy_recipients_none(tmp_path)


def dummy_recipients_none(folder: Path) -> bool:
    return not any(p.name == "gammu.log" for p in folder.rglob("*"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
async def test_an_unreadable_gammurc(dummy: DummyModem) -> None:
    dummy.gammurc.chmod(0)
    modem = device(dummy)
    with pytest.raises(ModemUnavailable, match="cannot be read by this user: `chmod u\\+r"):
        await modem.send_sms("+358401000001", "x")


async def test_a_modem_that_drops_out_is_reopened_with_backoff(dummy: DummyModem) -> None:
    modem = device(dummy)
    try:
        await modem.send_sms("+358406000001", "before")
        modem._sm.Terminate()  # the USB modem is pulled out and plugged back in
        with pytest.raises(ModemUnavailable, match="not connected"):
            await modem.send_sms("+358406000002", "lost")
        with pytest.raises(ModemUnavailable, match="trying again in"):
            await modem.send_sms("+358406000002", "too soon")
        await asyncio.sleep(0.1)
        await modem.send_sms("+358406000003", "after")
    finally:
        await modem.aclose()
    assert dummy.recipients() == ["+358406000001", "+358406000003"]
    assert modem.last_error is None


def test_eta_text() -> None:
    assert advice.queue_text(0, None) == ""
    assert advice.queue_text(14, 8.0) == "modem: 14 waiting, ~2 min"
    assert advice.queue_text(1, None) == "modem: 1 waiting, ~1 min"
    assert advice.queue_text(25, None) == "modem: 25 waiting, ~3 min"


async def test_the_same_reply_sent_again_later_is_a_new_message(dummy: DummyModem) -> None:
    modem = device(dummy)
    try:
        dummy.receive("+358405000009", "1")
        first = await modem.read_inbox()
        await modem.delete([loc for t in first.texts for loc in t.locations])
        await asyncio.sleep(1.1)  # the network stamps whole seconds
        dummy.receive("+358405000009", "1")
        second = await modem.read_inbox()
    finally:
        await modem.aclose()
    assert len(first.texts) == len(second.texts) == 1
    assert first.texts[0].message.sid != second.texts[0].message.sid
