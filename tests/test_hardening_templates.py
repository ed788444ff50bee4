"""Templates bounded and clean (issue 14, item 5) and the small items of 13 on this side: a
5,000-character TZID, a broken ATTENDEE line, a chat webhook over http://, the unknown-
placeholder message, ESC and NUL in a template."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from mim_console.cli import main
from mim_console.config import Settings
from mim_console.data.demo import seed_demo
from mim_console.domain import sms
from mim_console.domain.templates import (
    MAX_SMS_SEGMENTS,
    MAX_TEMPLATE_CHARS,
    SPECS,
    render,
    validate,
)
from mim_console.domain.text import outgoing, webhook_url_problem
from mim_console.domain.voice import MAX_TWIML, alert_twiml
from mim_console.errors import UserError
from mim_console.services.context import Context
from tests.conftest import FROZEN_NOW

CONTROL = "".join(chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, 0x85, 0x9B])


@pytest.fixture
def demo_db(db_path: Path) -> Iterator[Path]:
    ctx = Context(settings=Settings(db_path=db_path), clock=lambda: FROZEN_NOW, actor="t")
    seed_demo(ctx.store, FROZEN_NOW)
    ctx.close()
    yield db_path


def run(db: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, ["--db", str(db), *args])
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


def test_a_huge_alert_template_is_refused(demo_db: Path, tmp_path: Path) -> None:
    """The report: a 1.6 MB alert template was accepted and `declare` took 58.6 s."""
    big = tmp_path / "alert_sms.txt"
    big.write_text("{incident_code} {title} " + "x" * 1_600_000, encoding="utf-8")
    result = run(demo_db, "comms", "template", "edit-file", "alert_sms", str(big))
    assert result.exit_code in (1, 2)
    assert "template alert_sms is 1,600,024 characters: at most 1,000" in result.stderr
    assert run(demo_db, "comms", "template", "import", str(tmp_path)).exit_code in (1, 2)
    shown = run(demo_db, "comms", "template", "show", "alert_sms")
    assert "x" * 100 not in shown.output  # still the built-in text


@pytest.mark.parametrize(("char", "code"), [("\x1b", "U+001B"), ("\x00", "U+0000")])
def test_esc_and_nul_in_a_template_are_refused(
    demo_db: Path, tmp_path: Path, char: str, code: str
) -> None:
    bad = tmp_path / "t.txt"
    bad.write_text(f"{{incident_code}} {char}[2J {{title}}", encoding="utf-8")
    result = run(demo_db, "comms", "template", "edit-file", "alert_sms", str(bad))
    assert result.exit_code == 1
    assert f"control character {code} is not allowed in a template" in result.stderr


def test_the_unknown_placeholder_message_lists_the_allowed_names_once() -> None:
    with pytest.raises(UserError) as caught:
        validate("alert_sms", "{incident_code} {nope}")
    message = str(caught.value)
    assert "unknown placeholder {nope}" in message
    for name in SPECS["alert_sms"].placeholders:
        assert message.count("{" + name + "}") == 1, (name, message)


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from([n for n, s in SPECS.items() if s.sms]),
    title=st.text(max_size=3000),
    bridge=st.text(max_size=3000),
    person=st.text(max_size=200),
)
def test_every_rendered_sms_is_clean_and_at_most_ten_segments(
    name: str, title: str, bridge: str, person: str
) -> None:
    values = {
        "incident_code": "MI-2026-001",
        "reply_code": "K7",
        "title": title,
        "bridge": bridge,
        "person_name": person,
        "severity": "SEV1",
    }
    body = render(name, None, values)
    assert sms.analyse(body).segments <= MAX_SMS_SEGMENTS
    assert not any(ch in CONTROL for ch in body)
    custom = "{bridge} {title} {person_name}" if "bridge" in SPECS[name].placeholders else None
    if custom is not None:
        assert sms.analyse(render(name, custom, values)).segments <= MAX_SMS_SEGMENTS


def test_the_longest_voice_script_fits_twiml() -> None:
    script = "{title} " * (MAX_TEMPLATE_CHARS["voice"] // 8)
    validate("voice", script)
    spoken = render("voice", script, {"title": "long words " * 300})
    twiml = alert_twiml(spoken, "https://hooks.example/voice")
    assert len(twiml) <= MAX_TWIML and "\x1b" not in twiml


def test_outgoing_strips_control_characters_and_lone_surrogates() -> None:
    assert outgoing("a\x1b[31mb\x00c\td\ud800e\n") == "a[31mbc de\n"


# --- item 13 -------------------------------------------------------------------------------


def _feed(body: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:1\r\n"
        f"{body}SUMMARY:On call: Aino Virtanen\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def test_a_5000_character_tzid_is_named_without_the_install_path(
    demo_db: Path, tmp_path: Path
) -> None:
    tz = "A" * 5000
    feed = tmp_path / "tz.ics"
    feed.write_text(
        _feed(f"DTSTART;TZID={tz}:20261201T080000\r\nDTEND;TZID={tz}:20261201T200000\r\n")
    )
    result = run(demo_db, "rota", "import", "1", str(feed))
    assert result.exit_code == 1
    assert "line 6: a TZID of 5,000 characters is not a time zone name" in result.stderr
    assert "File name too long" not in result.stderr and "site-packages" not in result.stderr


def test_a_broken_attendee_line_is_explained_not_none(demo_db: Path, tmp_path: Path) -> None:
    feed = tmp_path / "att.ics"
    feed.write_text(
        _feed(
            'DTSTART:20261201T080000Z\r\nDTEND:20261201T200000Z\r\nATTENDEE;CN="broken:mailto:x\r\n'
        )
    )
    result = run(demo_db, "rota", "import", "1", str(feed))
    assert result.exit_code == 1
    assert "None:" not in result.stderr
    assert "(UID 1): a line that is not NAME;PARAMS:VALUE" in result.stderr


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.slack.example/services/T/B/x", True),
        ("http://127.0.0.1:8080/hooks/x", True),
        ("http://localhost/hooks/x", True),
        ("http://hooks.slack.example/services/T/B/x", False),
        ("javascript:alert(1)", False),
        ("https://", False),
        ("https://exa mple.org/x", False),
        ("https://example.org:notaport/x", False),
        ("ftp://example.org/x", False),
    ],
)
def test_chat_webhooks_are_https_only(demo_db: Path, url: str, ok: bool) -> None:
    assert (webhook_url_problem(url) is None) is ok
    result = run(demo_db, "comms", "webhook", "add", "ops", "--kind", "slack", "--url", url)
    if ok:
        assert result.exit_code == 0, result.stderr
    else:
        assert result.exit_code == 1 and "must start with https://" in result.stderr
