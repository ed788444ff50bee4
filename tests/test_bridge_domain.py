"""The bridge's pure parts: conference names, bridge-call TwiML, call order, presence."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mim_console.config import load_settings
from mim_console.domain.bridge import (
    CONNECTING,
    MAX_TWIML,
    BridgeState,
    OnBridge,
    Presence,
    bridge_keypress_twiml,
    bridge_mark,
    bridge_twiml,
    call_rank,
    compare,
    conference_name,
    counts_as_joined,
    keyed_bridge,
    participant_label,
    participant_of_label,
    queue_eta,
    voicemail_twiml,
)
from mim_console.domain.incident import Role
from mim_console.domain.twilio_errors import describe_http
from mim_console.errors import UserError

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def test_a_drills_conference_is_marked_exercise() -> None:
    assert conference_name("MI-2026-007") == "MI-2026-007"
    assert conference_name("MI-2026-007", exercise=True) == "EXERCISE-MI-2026-007"
    assert conference_name("<&>") == "incident"


def test_bridge_twiml_reads_once_then_dials_the_conference() -> None:
    twiml = bridge_twiml("MI-2026-007 payments <down> & out", "MI-2026-007", label="mim-3")
    root = ET.fromstring(twiml)
    says = [e.text for e in root.iter("Say")]
    assert says == ["MI-2026-007 payments <down> & out", CONNECTING]
    assert "reply 2 to the text" in CONNECTING
    [conference] = root.iter("Conference")
    assert conference.text == "MI-2026-007"
    assert conference.attrib == {
        "beep": "true",
        "startConferenceOnEnter": "true",
        "endConferenceOnExit": "false",
        "participantLabel": "mim-3",
    }
    assert root.find("Gather") is None


def test_with_a_callback_url_a_keypress_still_counts() -> None:
    url = "https://mim.example.org/voice?a=1&b=2"
    root = ET.fromstring(bridge_twiml("alert", "MI-1", callback_url=url))
    gather = root.find("Gather")
    assert gather is not None and gather.attrib["action"] == url + "&bridge=MI-1"
    assert root.find("Dial/Conference") is not None  # no key: into the bridge after all
    labelled = ET.fromstring(bridge_twiml("alert", "MI-1", label="mim-3", callback_url=url))
    action = labelled.find("Gather").attrib["action"]  # type: ignore[union-attr]
    assert action == url + "&bridge=MI-1&label=mim-3"


def test_a_key_during_a_bridge_call_connects_unless_it_is_2() -> None:
    """Twilio runs the answer to the keypress, not the rest of the call: it must dial."""
    for digit in ("1", "5", "#", ""):
        root = ET.fromstring(bridge_keypress_twiml(digit, "EXERCISE-MI-1", "mim-3"))
        conference = root.find("Dial/Conference")
        assert conference is not None and conference.text == "EXERCISE-MI-1"
        assert conference.attrib["participantLabel"] == "mim-3"
    unable = ET.fromstring(bridge_keypress_twiml("2", "MI-1", None))
    assert unable.find("Dial") is None and "unable" in "".join(unable.itertext())
    assert keyed_bridge("MI-2026-007", "mim-12") == ("MI-2026-007", "mim-12")
    assert keyed_bridge("MI-1", None) == ("MI-1", None)
    refused: list[tuple[str | None, str | None]] = [
        (None, None),
        ("", None),
        ("MI<1>", None),
        ("x" * 65, None),
        ("MI-1", "someone"),
        ("MI-1", "mim-1x"),
    ]
    for name, label in refused:
        assert keyed_bridge(name, label) is None


@given(st.text(max_size=6000))
def test_any_alert_text_gives_valid_twiml_within_twilios_limit(text: str) -> None:
    twiml = bridge_twiml(text, "EXERCISE-MI-2026-001", label="mim-12")
    assert len(twiml) <= MAX_TWIML
    root = ET.fromstring(twiml)
    assert root.find("Dial/Conference") is not None


def test_voicemail_message_is_short_and_names_no_details() -> None:
    text = ET.fromstring(voicemail_twiml("MI-2026-007")).findtext("Say") or ""
    assert "MI-2026-007" in text and "text message" in text
    assert (
        ET.fromstring(voicemail_twiml("MI-1", exercise=True))
        .findtext("Say", "")
        .startswith("EXERCISE")
    )


def test_labels_round_trip_and_strangers_have_none() -> None:
    assert participant_of_label(participant_label(42)) == 42
    assert participant_of_label(None) is None
    assert participant_of_label("customer") is None
    assert participant_of_label("mim-4x") is None


def test_deciders_are_called_first() -> None:
    ranks = [
        call_rank(Role.SPECIALIST, True, False),
        call_rank(Role.MRT, False, False),
        call_rank(Role.MRT, True, True),
        call_rank(Role.MRT, True, False),
        call_rank("duty_manager", False, False),
    ]
    assert ranks == [3, 2, 2, 1, 0]
    assert queue_eta(19, 1.0) == timedelta(seconds=19)
    assert queue_eta(10, 5.0) == timedelta(seconds=2)


def _on(call: str, muted: bool = False) -> OnBridge:
    return OnBridge(call, None, muted, False, "connected")


def test_compare_finds_joins_leaves_and_mutes() -> None:
    before = {
        1: Presence(1, BridgeState.CONNECTED, NOW - timedelta(seconds=40), call_sid="CA1"),
        2: Presence(2, BridgeState.CONNECTED, NOW - timedelta(seconds=5), call_sid="CA2"),
        3: Presence(3, BridgeState.LEFT, NOW - timedelta(seconds=60)),
    }
    changes = compare(before, {1: _on("CA1", muted=True), 3: _on("CA3"), 4: _on("CA4")}, NOW)
    assert [(c.participant_id, c.kind) for c in changes] == [
        (1, "muted"),
        (2, "left"),
        (3, "joined"),
        (4, "joined"),
    ]
    assert changes[1].stay_s == 5.0
    assert compare(before, {1: _on("CA1"), 2: _on("CA2")}, NOW) == []


def test_joined_only_after_the_threshold_and_attendance_adds_up() -> None:
    on = Presence(1, BridgeState.CONNECTED, NOW - timedelta(seconds=9), connected_s=60.0)
    assert not counts_as_joined(on, NOW, 10)
    assert counts_as_joined(on, NOW + timedelta(seconds=1), 10)
    left = Presence(1, BridgeState.LEFT, NOW, connected_s=60.0)
    assert not counts_as_joined(left, NOW, 0)
    assert bridge_mark(on, NOW) == "● on bridge"
    assert bridge_mark(left, NOW, "05:12") == "left 05:12"
    assert bridge_mark(Presence(1, BridgeState.VOICEMAIL, NOW), NOW) == "voicemail"
    assert bridge_mark(None, NOW) == ""


def test_conference_full_and_concurrency_are_transient_with_plain_reasons() -> None:
    full = describe_http(400, 16020, "Conference is full")
    assert not full.permanent and "bridge is full" in full.reason
    assert not describe_http(400, 16021).permanent


def test_bridge_settings(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    assert load_settings(config, {}).bridge.mode == "number"
    config.write_text(
        '[bridge]\nmode = "twilio"\njoined_after_s = 5\nquorum_on_bridge = true\n'
        "[twilio]\ncalls_per_second = 2.5\n",
        encoding="utf-8",
    )
    settings = load_settings(config, {})
    assert settings.bridge.twilio and settings.bridge.configured
    assert settings.bridge.joined_after_s == 5 and settings.bridge.quorum_on_bridge
    assert settings.twilio.calls_per_second == 2.5
    config.write_text('[bridge]\nmode = "zoom"\n', encoding="utf-8")
    with pytest.raises(UserError, match="mode must be one of number, twilio"):
        load_settings(config, {})
    config.write_text("[twilio]\ncalls_per_second = 0\n", encoding="utf-8")
    with pytest.raises(UserError, match="calls_per_second must be more than 0"):
        load_settings(config, {})
    config.write_text('[bridge]\nquorum_on_bridge = "yes"\n', encoding="utf-8")
    with pytest.raises(UserError, match="quorum_on_bridge"):
        load_settings(config, {})


def test_the_bridge_migration_keeps_every_alert_and_its_history(tmp_path: Path) -> None:
    """A database from before the bridge: its alerts, their history and the triggers survive
    the rebuild that lets ``channel`` be ``bridge``."""
    import sqlite3

    from sqlite_utils import Database

    from mim_console.data.migrations import migrations
    from mim_console.data.store import Store

    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(path))
    migrations.apply(old, stop_before="0004_bridge")
    old.execute(
        "INSERT INTO alert (to_number, channel, purpose, body, status, created_at, "
        "next_attempt_at) VALUES ('+358401', 'sms', 'alert', 'hi', 'queued', 'x', 'x')"
    )
    old.execute("UPDATE alert SET status = 'sending', claimed_by = 'old'")
    old.conn.commit()
    old.conn.close()
    store = Store(path)
    try:
        assert "0004_bridge" in [m.name for m in migrations.applied(store.db)]  # and later ones
        [alert] = store.query("SELECT id, status, body FROM alert")
        assert (alert["status"], alert["body"]) == ("sending", "hi")
        with store.write() as db:
            db.execute(
                "INSERT INTO alert (to_number, channel, purpose, body, status, created_at, "
                "next_attempt_at) VALUES ('+358402', 'bridge', 'alert', '<Response/>', "
                "'queued', 'x', 'x')"
            )
            db.execute("UPDATE alert SET status = 'accepted' WHERE id = ?", [alert["id"]])
        history = store.query("SELECT alert_id, new_status FROM alert_history ORDER BY id")
        assert [h["new_status"] for h in history] == ["queued", "sending", "queued", "accepted"]
        with pytest.raises(UserError), store.write() as db:
            db.execute("UPDATE alert SET channel = 'fax'")
        assert store.query("PRAGMA integrity_check")[0]["integrity_check"] == "ok"
    finally:
        store.close()
