"""Organisation settings live in the database: every console on it, whatever its config file,
shows the same settings and the same readiness."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mim_console.cli import main
from mim_console.config import load_settings
from mim_console.data.store import Store
from mim_console.services import org_settings
from mim_console.services.context import Context
from mim_console.services.readiness import readiness
from mim_console.services.replies import help_sms
from tests.conftest import FROZEN_NOW
from tests.ui_data import seed_small

FIRST = """
organisation = "Acme Oy"
declare_criteria = "Two or more services down, or customers' money at risk"
verify_within_days = 30
[bridge]
number = "+358 9 1234 5678"
pin = "4242"
[escalation.mrt]
voice_after_min = 2.5
[twilio]
account_sid = "AC123"
"""


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_second_console_with_an_empty_config_shows_the_same(tmp_path: Path) -> None:
    db = tmp_path / "mim.db"
    first_cfg, empty_cfg = tmp_path / "first.toml", tmp_path / "empty.toml"
    first_cfg.write_text(FIRST, encoding="utf-8")
    empty_cfg.write_text("", encoding="utf-8")
    first = Context(settings=load_settings(first_cfg).with_db(db), clock=lambda: FROZEN_NOW)
    seed_small(first.store, FROZEN_NOW)  # opening the store seeds the table from the config
    first.close()
    # A console elsewhere: the same database, nothing in its config file.
    listed = {}
    for cfg in (first_cfg, empty_cfg):
        out = run("--config", str(cfg), "--db", str(db), "settings", "list", "--json")
        listed[cfg.name] = {row["key"]: (row["value"], row["source"]) for row in json.loads(out)}
    assert listed["first.toml"] == listed["empty.toml"]
    shown = listed["empty.toml"]
    assert shown["organisation"] == ("Acme Oy", "database")
    assert shown["bridge.number"] == ("+358 9 1234 5678", "database")
    assert shown["escalation.mrt.voice_after_min"] == (2.5, "database")
    assert shown["verify_within_days"] == (30, "database")
    assert shown["time_zone"] == ("", "default")
    # The same readiness, item for item.
    views = []
    for cfg in (first_cfg, empty_cfg):
        ctx = Context(settings=load_settings(cfg).with_db(db), clock=lambda: FROZEN_NOW)
        found = readiness(ctx, FROZEN_NOW).findings
        views.append([(f.check, f.ok, f.subject, f.message) for f in found])
        ctx.close()
    assert views[0] == views[1]
    assert ("bridge", True) in {(c, ok) for c, ok, _, _ in views[1]}
    assert ("criteria", True) in {(c, ok) for c, ok, _, _ in views[1]}
    # Secrets never go to the table.
    store = Store(db)
    assert "AC123" not in json.dumps(store.query("SELECT * FROM setting"))
    store.close()
    # The readiness command agrees too.
    results = [
        CliRunner().invoke(main, ["--config", str(cfg), "--db", str(db), "readiness", "--json"])
        for cfg in (first_cfg, empty_cfg)
    ]
    assert results[0].exit_code == results[1].exit_code  # 1: not ready, the same items to fix
    outs = [r.output for r in results]
    skip = ("at", "checked_at")
    strip = [{k: v for k, v in json.loads(o).items() if k not in skip} for o in outs]
    assert strip[0] == strip[1]


def test_set_get_and_the_checks_of_the_config(tmp_path: Path) -> None:
    db = str(tmp_path / "mim.db")
    assert run("--db", db, "settings", "set", "escalation.specialist.deputy_after_min", "7") == (
        "escalation.specialist.deputy_after_min = 7.0\n"
    )
    assert run("--db", db, "settings", "get", "escalation.specialist.deputy_after_min") == "7.0\n"
    ctx = Context(settings=load_settings(tmp_path / "none.toml").with_db(Path(db)))
    assert ctx.settings.escalation["specialist"].deputy_after_min == 7.0
    ctx.close()
    runner = CliRunner()
    for args, words in [
        (("set", "escalation.mrt.voice_after_min", "--", "-1"), "between 0 and 10080"),
        (("set", "escalation.mrt.voice_after_min", "20000"), "between 0 and 10080"),
        (("set", "escalation.mrt.voice_after_min", "soon"), "must be a number"),
        (("set", "verify_within_days", "0"), "from 1 to 3650"),
        (("set", "time_zone", "Mars/Olympus"), "no time zone"),
        (("set", "default_region", "XX"), "not a country code"),
        (("set", "twilio.auth_token", "x"), "no setting 'twilio.auth_token'"),
        (("get", "nope"), "no setting 'nope'"),
        (("set", "reply_help", "x" * 400), "300 characters"),
    ]:
        result = runner.invoke(main, ["--db", db, "settings", *args])
        assert result.exit_code == 1, (args, result.output)
        assert words in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_the_table_wins_over_the_config_after_the_seed(tmp_path: Path) -> None:
    db = tmp_path / "mim.db"
    cfg = tmp_path / "c.toml"
    cfg.write_text('organisation = "Old name"\n', encoding="utf-8")
    run("--config", str(cfg), "--db", str(db), "settings", "list")  # seeds
    run("--config", str(cfg), "--db", str(db), "settings", "set", "organisation", "New name")
    out = run("--config", str(cfg), "--db", str(db), "settings", "get", "organisation")
    assert out == "New name\n"
    store = Store(db)
    events = store.query("SELECT actor, text FROM event WHERE kind = 'setting'")
    rows = store.query("SELECT updated_by FROM setting WHERE key = 'organisation'")
    store.close()
    assert [e["text"] for e in events] == ["setting organisation changed"]
    assert "from the config file" not in rows[0]["updated_by"]


def test_reply_help_and_time_zone_reach_their_users(tmp_path: Path) -> None:
    db = tmp_path / "mim.db"
    run("--db", str(db), "settings", "set", "reply_help", "Vastaa 1 = tulen, 2 = en pääse.")
    store = Store(db)
    with store.read() as conn:
        assert help_sms(conn, []) == "Vastaa 1 = tulen, 2 = en pääse."
    store.close()
    run("--db", str(db), "settings", "set", "time_zone", "Asia/Tokyo")
    Context(settings=load_settings(tmp_path / "none.toml").with_db(db)).close()
    assert os.environ["TZ"] == "Asia/Tokyo"
    shown = FROZEN_NOW.astimezone()
    assert shown.utcoffset() == timedelta(hours=9)


def test_seed_values_are_what_differs_from_the_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(FIRST, encoding="utf-8")
    values = org_settings.seed_values(load_settings(cfg))
    assert values["escalation.mrt.voice_after_min"] == 2.5
    assert "escalation.mrt.deputy_after_min" not in values
    assert set(values) <= set(org_settings.KEYS)


def items(ctx: Context) -> list[tuple[object, ...]]:
    return [(f.check, f.ok, f.subject, f.message) for f in readiness(ctx, FROZEN_NOW).findings]


def test_readiness_agrees_when_only_the_first_console_can_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first console has Twilio's credentials (from its environment), the second none: the
    readiness items are still the same, item for item (credentials are per machine; what
    readiness judges is the organisation's)."""
    db = tmp_path / "mim.db"
    first_cfg, empty_cfg = tmp_path / "first.toml", tmp_path / "empty.toml"
    first_cfg.write_text(FIRST, encoding="utf-8")
    empty_cfg.write_text("", encoding="utf-8")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "a-token")
    monkeypatch.setenv("MIM_TWILIO_FROM", "+358401234567")
    first_settings = load_settings(first_cfg).with_db(db)
    assert first_settings.twilio.configured
    first = Context(settings=first_settings, clock=lambda: FROZEN_NOW)
    seed_small(first.store, FROZEN_NOW)
    views = [items(first)]
    first.close()
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    monkeypatch.delenv("MIM_TWILIO_FROM")
    second_settings = load_settings(empty_cfg).with_db(db)
    assert not second_settings.twilio.configured
    second = Context(settings=second_settings, clock=lambda: FROZEN_NOW)
    views.append(items(second))
    second.close()
    assert views[0] == views[1] and len(views[0]) > 5
