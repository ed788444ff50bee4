"""`mim-console modem check` and `mim-console contact-card`, through click, on the dummy modem."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import vobject
from click.testing import CliRunner, Result

from mim_console.cli import main
from mim_console.clock import utcnow
from mim_console.config import load_settings
from mim_console.data.lease import Lease
from mim_console.data.store import Store
from mim_console.errors import UserError
from tests.modem_fixtures import DummyModem, dummy_modem


@pytest.fixture
def dummy(tmp_path: Path) -> DummyModem:
    return dummy_modem(tmp_path / "modem")


def run(
    db: Path, *args: str, config: Path | None = None, env: dict[str, str] | None = None
) -> Result:
    environ = dict(env or {})
    if config is not None:
        environ["MIM_CONSOLE_CONFIG"] = str(config)
    return CliRunner().invoke(main, ["--db", str(db), *args], env=environ)


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_modem_check_reports_identity_network_and_signal(dummy: DummyModem, db_path: Path) -> None:
    env = {"MIM_MODEM_GAMMURC": str(dummy.gammurc)}
    result = run(db_path, "modem", "check", env=env)
    assert result.exit_code == 0, result.output
    assert "modem: Gammu Dummy (IMEI 999999999999999)" in result.output
    assert "network: registered on GammuT3l" in result.output
    assert "signal: 42%" in result.output
    assert "the modem can send" in result.output
    assert dummy.recipients() == []


def test_modem_check_to_sends_one_test_sms(dummy: DummyModem, db_path: Path) -> None:
    env = {"MIM_MODEM_GAMMURC": str(dummy.gammurc)}
    result = run(db_path, "modem", "check", "--to", "040 123 4567", "--json", env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["test_sent"] is True
    assert data["test_to"] == "+358401234567" and data["signal_percent"] == 42
    assert dummy.recipients() == ["+358401234567"]


def test_modem_check_names_the_fix_and_exits_1(tmp_path: Path, db_path: Path) -> None:
    missing = tmp_path / "nowhere" / "gammurc"
    result = run(
        db_path, "modem", "check", "--to", "+358401234567", env={"MIM_MODEM_GAMMURC": str(missing)}
    )
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert f"the gammurc {missing} does not exist" in flat
    assert "not sent: the modem cannot be used" in flat


def test_modem_check_without_a_modem_configured(db_path: Path) -> None:
    result = run(db_path, "modem", "check")
    assert result.exit_code == 1
    assert "no modem configured: set gammurc in the [modem] section" in " ".join(
        result.output.split()
    )


def test_modem_check_leaves_the_modem_to_a_running_dispatcher(
    dummy: DummyModem, db_path: Path
) -> None:
    store = Store(db_path)
    try:
        lease = Lease(store, holder="site-a:42:abc", ttl_s=60)
        assert lease.try_acquire()
        result = run(db_path, "modem", "check", env={"MIM_MODEM_GAMMURC": str(dummy.gammurc)})
    finally:
        store.close()
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert "a dispatcher is running (site-a:42:abc) and has the modem open" in flat
    assert not dummy.logfile.exists()


def test_modem_settings_from_the_config_file(tmp_path: Path, dummy: DummyModem) -> None:
    config = config_file(
        tmp_path,
        f'[modem]\ngammurc = "{dummy.gammurc}"\nsection = 1\nuse = "always"\n'
        'fallback_after_s = 30\nnumber = "+358409999999"\n',
    )
    modem = load_settings(config, environ={}).modem
    assert (modem.gammurc, modem.section, modem.use) == (dummy.gammurc, 1, "always")
    assert (modem.fallback_after_s, modem.number, modem.configured) == (30, "+358409999999", True)
    assert load_settings(config, environ={"MIM_MODEM_GAMMURC": "/x/rc"}).modem.gammurc == Path(
        "/x/rc"
    )
    default = load_settings(config_file(tmp_path, ""), environ={}).modem
    assert default.gammurc is None and default.use == "fallback" and not default.configured


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[modem]\nuse = "sometimes"\n',
            "use must be one of fallback, always, never, not 'sometimes'",
        ),
        (
            "[modem]\nfallback_after_s = -1\n",
            "fallback_after_s in the config file must be a number",
        ),
        ("[modem]\nbaud = 9600\n", "unknown setting(s) baud"),
        ('[twilio]\nsender_numbers = "+3584011"\n', "sender_numbers must be a list of numbers"),
    ],
)
def test_bad_modem_settings_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        load_settings(config_file(tmp_path, text), environ={})
    assert message in str(caught.value)


def test_contact_card_is_a_valid_vcard_4_with_every_sender_number(
    tmp_path: Path, db_path: Path
) -> None:
    config = config_file(
        tmp_path,
        'organisation = "Acme, Finland; Ops"\n'
        '[twilio]\nsender_numbers = ["+358 40 111 1112", "+358401111113"]\n'
        '[modem]\nnumber = "040 999 9999"\n',
    )
    card_path = tmp_path / "mim.vcf"
    result = run(
        db_path,
        "contact-card",
        "-o",
        str(card_path),
        config=config,
        env={"MIM_TWILIO_FROM": "+358401111111"},
    )
    assert result.exit_code == 0, result.output
    assert f"contact card written: {card_path} (4 numbers)" in " ".join(result.output.split())
    raw = card_path.read_bytes()
    assert raw.startswith(b"BEGIN:VCARD\r\nVERSION:4.0\r\n") and raw.endswith(b"END:VCARD\r\n")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    card = vobject.readOne(raw.decode("utf-8"), validate=True)
    assert card.version.value == "4.0"
    assert card.fn.value == "MIM alerts"
    assert card.org.value == ["Acme, Finland; Ops"]
    tels = [t.value for t in card.contents["tel"]]
    assert tels == [
        "tel:+358401111111",
        "tel:+358401111112",
        "tel:+358401111113",
        "tel:+358409999999",
    ]
    assert "Emergency Bypass" in card.note.value and "GSM modem +358409999999" in card.note.value


def test_contact_card_prints_to_stdout_and_lists_a_number_once(
    tmp_path: Path, db_path: Path
) -> None:
    config = config_file(tmp_path, '[modem]\nnumber = "+358401111111"\n')
    result = run(db_path, "contact-card", config=config, env={"MIM_TWILIO_FROM": "+358401111111"})
    assert result.exit_code == 0, result.output
    card = vobject.readOne(result.stdout, validate=True)
    assert [t.value for t in card.contents["tel"]] == ["tel:+358401111111"]


def test_contact_card_needs_numbers(tmp_path: Path, db_path: Path) -> None:
    result = run(
        db_path, "contact-card", env={"MIM_TWILIO_FROM": "MG0123456789abcdef0123456789abcdef"}
    )
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert "no sender numbers configured" in flat
    assert "list its numbers in [twilio] sender_numbers" in flat
    wrong = run(
        db_path,
        "contact-card",
        "-o",
        str(tmp_path / "card.txt"),
        env={"MIM_TWILIO_FROM": "+358401111111"},
    )
    assert wrong.exit_code == 1 and "name the card FILE.vcf" in " ".join(wrong.output.split())


def test_contact_card_card_is_stable_for_reimport(tmp_path: Path) -> None:
    from mim_console.services.modem import contact_card

    settings = load_settings(
        config_file(tmp_path, 'organisation = "Acme"\n'),
        environ={"MIM_TWILIO_FROM": "+358401111111"},
    )
    now = utcnow()
    first = vobject.readOne(contact_card(settings, now))
    later = vobject.readOne(contact_card(settings, now + timedelta(days=3)))
    assert first.uid.value == later.uid.value  # the phone updates the contact, no duplicate


def test_verify_with_numbers_names_them_in_the_contact_check(tmp_path: Path, db_path: Path) -> None:
    from mim_console.clock import utcnow
    from tests.incident_seed import seed

    store = Store(db_path)
    seed(store, utcnow())
    store.close()
    config = config_file(tmp_path, '[modem]\nnumber = "+358409999999"\n')
    env = {"MIM_TWILIO_FROM": "+358401111111"}
    result = run(
        db_path, "verify", "--person", "Alice Ops", "--with-numbers", config=config, env=env
    )
    assert result.exit_code == 0, result.output
    store = Store(db_path)
    try:
        (body,) = [r["body"] for r in store.query("SELECT body FROM alert")]
    finally:
        store.close()
    assert "Save +358401111111, +358409999999 as 'MIM alerts'" in body
    assert "http" not in body
    plain = run(db_path, "verify", "--person", "Bob Ops", config=config, env=env)
    assert plain.exit_code == 0
    store = Store(db_path)
    try:
        bodies = [r["body"] for r in store.query("SELECT body FROM alert ORDER BY id")]
    finally:
        store.close()
    assert "MIM alerts" not in bodies[1]
