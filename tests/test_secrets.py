"""Secrets and privacy: a whole incident with a known auth token and API secret, then a grep.

The story runs through the Twilio stand-in over loopback (dispatcher, replies, a refused number,
an unknown sender, release, recall, notes, close), the CLI with ``--json``, the reports and a
backup, with every logger at DEBUG. Then the token and the secret are looked for in everything
the run left behind: the database file with its WAL and shared-memory files (raw bytes), the
backup, every CLI output, the reports, the log records and the text of the errors raised by a
wrong token or secret. Never found. The files are the owner's alone (0600), and the log lines
carry no full phone number.
"""

from __future__ import annotations

import asyncio
import logging
import stat
import time
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from mim_console.cli import main
from mim_console.config import Settings, TwilioSettings, load_settings
from mim_console.domain.backoff import BackoffPolicy
from mim_console.notifiers.base import PermanentSendError
from mim_console.notifiers.dispatcher import Dispatcher, DispatcherConfig
from mim_console.notifiers.logmask import mask_phone, mask_phones
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.services import report
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import DEFAULT_ACCOUNT_SID, DEFAULT_SENDER, StandIn, Timing
from tests.conftest import FROZEN_NOW
from tests.incident_seed import PEOPLE, mobile, seed

TOKEN = "tok3n-5ecret-ab12cd34ef56ab78"
API_KEY = "SK" + "5" * 32
API_SECRET = "ap1-5ecret-99aa88bb77cc66dd"
WRONG = "wr0ng-5ecret-0011223344"
SECRETS = (TOKEN, API_SECRET, WRONG)
STRANGER = "+15557654321"  # texts the console, is in nobody's directory entry

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
async def secret_standin() -> AsyncIterator[StandIn]:
    s = StandIn(auth_token=TOKEN, timing=Timing(sms_sent=0.02, sms_delivered=0.05))
    s.add_credentials(API_KEY, API_SECRET)
    await s.start()
    yield s
    await s.stop()


async def until(check: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def error_text(exc: BaseException) -> str:
    return str(exc) + repr(exc) + "".join(traceback.format_exception(exc))


def no_secret_in(label: str, data: bytes | str) -> None:
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    for secret in SECRETS:
        assert secret.encode() not in raw, f"{secret!r} found in {label}"


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def check_live_wal(db_path: Path) -> None:
    """The WAL and shared-memory files exist while the database is open: no secret, 0600."""
    for suffix in ("-wal", "-shm"):
        path = db_path.with_name(db_path.name + suffix)
        assert path.stat().st_size > 0, path
        no_secret_in(str(path), path.read_bytes())
        assert private(path), f"{path} is {oct(path.stat().st_mode)}"


def check_files_left_behind(folder: Path, exclude: Path) -> None:
    """Raw bytes of every file: no secret; the database, its WAL, backups and their folder
    owner-only."""
    files = [p for p in folder.rglob("*") if p.is_file() and p != exclude]
    sqlite_files = [p for p in files if p.name.startswith("mim.db")]
    backups = [p for p in files if "backup" in str(p.relative_to(folder)).lower()]
    assert sqlite_files and backups, files
    for path in files:
        no_secret_in(str(path), path.read_bytes())
        if path in sqlite_files or path in backups:
            assert private(path), f"{path} is {oct(path.stat().st_mode)}"
    for folder_ in {p.parent for p in backups}:
        assert private(folder_), f"backup folder {folder_} is {oct(folder_.stat().st_mode)}"


async def test_a_whole_incident_leaks_no_secret_and_no_phone_number(
    tmp_path: Path,
    db_path: Path,
    secret_standin: StandIn,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    standin = secret_standin
    twilio = TwilioSettings(
        account_sid=DEFAULT_ACCOUNT_SID,
        auth_token=TOKEN,
        sender=DEFAULT_SENDER,
        api_url=standin.url,
    )
    ctx = Context(settings=Settings(db_path=db_path, twilio=twilio), actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    for name, *_ in PEOPLE:
        standin.script_reply(mobile(name), "1", after=0.0)
    standin.script_reply(mobile("Dan Biz"), None)
    standin.script_reply(mobile("Dan Biz"), "2", after=0.0)
    standin.fail_number(mobile("Uma Spec"), 21211)  # Twilio's text names the number
    notifier = TwilioNotifier(twilio, timeout=5)
    dispatcher = Dispatcher(ctx.store, twilio_routes(notifier), config=FAST, receiver=svc)
    task = asyncio.create_task(dispatcher.run())
    errors: list[str] = []
    try:
        code = svc.declare(title="Cards down", severity="SEV1", categories=["cards"]).code
        svc.mark_unable(code, ["Alice Ops"])  # her deputy Bob is paged
        dispatcher.wake()
        await until(lambda: svc.roll_call(code).quorum.reached)
        standin.inject_inbound(STRANGER, "1")
        await until(
            lambda: bool(ctx.store.query("SELECT 1 FROM inbound WHERE from_number = ?", [STRANGER]))
        )
        await until(lambda: bool(ctx.store.query("SELECT 1 FROM alert WHERE status = 'failed'")))
        svc.release(code, ["Tina Spec"])
        svc.recall(code, ["Tina Spec"])
        svc.note(code, "bridge open")
        svc.close(code, problem_ref="PRB-1", owner="Bob Ops", all_clear=True)
        dispatcher.wake()
        await until(lambda: not ctx.store.query("SELECT 1 FROM alert WHERE status = 'queued'"))
        # A wrong token and a wrong API secret: refused, and the refusal does not repeat them.
        for bad in (
            replace(twilio, auth_token=WRONG),
            replace(twilio, auth_token="", api_key=API_KEY, api_secret=WRONG),
        ):
            wrong = TwilioNotifier(bad, timeout=5)
            with pytest.raises(PermanentSendError) as info:
                await wrong.send_sms(mobile("Bob Ops"), "test")
            errors.append(error_text(info.value))
            await wrong.aclose()
        keyed = TwilioNotifier(
            replace(twilio, auth_token="", api_key=API_KEY, api_secret=API_SECRET)
        )
        assert (await keyed.send_sms(mobile("Bob Ops"), "API key works")).sid.startswith("SM")
        await keyed.aclose()
    finally:
        dispatcher.stop()
        await task
        await notifier.aclose()
    outputs = {
        "report.md": report.render(ctx, code, "md"),
        "report.html": report.render(ctx, code, "html"),
    }
    check_live_wal(db_path)  # while the console still has the file open
    ctx.close()

    # The CLI, with the secrets in its environment (as on a duty manager's laptop).
    for var, value in {
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_KEY": API_KEY,
        "TWILIO_API_SECRET": API_SECRET,
        "MIM_TWILIO_FROM": DEFAULT_SENDER,
        "MIM_TWILIO_API_URL": standin.url,
    }.items():
        monkeypatch.setenv(var, value)
    runner = CliRunner()
    for args in (
        ["info", "--json"],
        ["incidents", "--all", "--json"],
        ["status", code, "--json", "--phones"],
        ["timeline", code, "--json"],
        ["outbox", "--json"],
        ["problem-case", code],
        ["report", code, "--format", "html"],
        ["backup", "--json"],
        ["backup", "--list", "--json"],
        ["status", "MI-NOPE-1"],  # a refusal
    ):
        result = runner.invoke(main, ["--db", str(db_path), *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), args
        outputs[" ".join(args)] = result.output + (result.stderr if result.stderr_bytes else "")
    # A config file holding the token: a broken one is refused without echoing its content.
    config = tmp_path / "config.toml"
    config.write_text(f'[twilio]\nauth_token = "{TOKEN}"\nfrom = {TOKEN}\n', encoding="utf-8")
    broken = runner.invoke(main, ["--config", str(config), "--db", str(db_path), "info"])
    assert broken.exit_code == 1 and "config.toml" in broken.output
    outputs["broken config"] = broken.output

    check_files_left_behind(tmp_path, exclude=config)
    for label, text in outputs.items():
        no_secret_in(label, text)
    for text in errors:
        assert "20003" in text or "credentials" in text.lower() or "auth" in text.lower(), text
        no_secret_in("error", text)
    log_text = caplog.text + "".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    no_secret_in("log records", log_text)

    # Phone numbers: logged about (the stranger, the refused number) but only masked.
    assert mask_phone(STRANGER) in log_text
    for number in (STRANGER, *(mobile(n) for n, *_ in PEOPLE)):
        assert number not in log_text, f"{number} logged in full"


def test_a_config_file_holding_a_secret_is_made_private(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[twilio]\nauth_token = "{TOKEN}"\n', encoding="utf-8")
    config.chmod(0o644)
    settings = load_settings(config, environ={})
    assert settings.twilio.auth_token == TOKEN
    assert private(config)
    assert TOKEN not in repr(settings)


def test_mask_phones_keeps_timestamps_ids_and_codes() -> None:
    text = (
        "2026-03-02T08:00:00+00:00 alert 12 refused: The 'To' number +358400000003 is not a "
        "valid phone number (Twilio error 21211); SID SM0123456789abcdef0123456789abcdef; "
        "typed +358 40 123 4567"
    )
    masked = mask_phones(text)
    assert "+358400000003" not in masked and "+358 40 123 4567" not in masked
    assert "+358*******03" in masked and "+358*******67" in masked
    for kept in ("2026-03-02T08:00:00+00:00", "alert 12", "21211", "SM0123456789abcdef"):
        assert kept in masked


@given(
    st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True),
    st.text(max_size=20),
    st.text(st.characters(exclude_categories=["Nd"]), max_size=20),
)
def test_no_e164_number_survives_masking(number: str, anything: str, words: str) -> None:
    assert number not in mask_phones(f"{anything} {number} {anything}")
    masked = mask_phones(f"{words} {number}.")
    assert masked == f"{words} {mask_phone(number)}." and masked.endswith(f"{number[-2:]}.")
