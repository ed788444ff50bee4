"""`mim-console demo`: its own database by default, and never the real Twilio."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mim_console.cli import main
from mim_console.config import BridgeSettings, Settings, TwilioSettings, default_db_path
from mim_console.data.directory import Directory
from mim_console.data.store import Store
from mim_console.services.comms import CommsService
from mim_console.services.context import Context
from mim_console.services.demo import DEMO_BRIDGE, demo_settings


def test_demo_keeps_its_own_database_beside_the_real_one() -> None:
    result = CliRunner().invoke(main, ["demo", "--seed-only"])
    assert result.exit_code == 0, result.output
    demo_db = default_db_path().with_name("demo.db")
    assert str(demo_db) in result.stdout.replace("\n", "")
    assert not default_db_path().exists()
    assert _people(demo_db) == 61


def test_demo_with_db_seeds_there_once(db_path: Path) -> None:
    first = CliRunner().invoke(main, ["--db", str(db_path), "demo", "--seed-only"])
    again = CliRunner().invoke(main, ["--db", str(db_path), "demo", "--seed-only"])
    assert first.exit_code == again.exit_code == 0
    assert "not seeding" in again.stdout
    assert _people(db_path) == 61
    ctx = Context(settings=Settings(db_path=db_path))
    try:
        board = next(x for x in CommsService(ctx).lists() if x.name == "Executive board")
    finally:
        ctx.close()
    assert [m.label for m in board.members] == ["CEO", "CFO", "Chief Risk Officer"]
    assert all(m.number.startswith("+1646555") for m in board.members)


def test_demo_settings_replace_real_twilio_and_keep_a_configured_bridge() -> None:
    real = TwilioSettings(account_sid="AC" + "1" * 32, auth_token="real-token", sender="+1555")
    standin = TwilioSettings(
        account_sid="AC" + "2" * 32, auth_token="x", api_url="http://127.0.0.1:9"
    )
    bare = demo_settings(Settings(twilio=real), standin)
    assert bare.twilio == standin
    assert bare.bridge == DEMO_BRIDGE and bare.declare_criteria
    own = BridgeSettings(number="+358 9 1")
    kept = demo_settings(Settings(bridge=own, declare_criteria="ours"), standin)
    assert kept.bridge == own and kept.declare_criteria == "ours"


def _people(path: Path) -> int:
    store = Store(path)
    try:
        return Directory(store).count_people()
    finally:
        store.close()


def test_a_restarted_demo_answers_incidents_left_open(db_path: Path) -> None:
    """The alerts went to the stand-in of the last run: a new one hears of the people still to
    answer and answers for them as its plan says."""
    from mim_console.services.demo import seed, still_to_answer
    from mim_console.services.incidents import IncidentService
    from mim_console.standin import StandIn

    ctx = Context(settings=Settings(db_path=db_path))
    try:
        seed(ctx)
        IncidentService(ctx).declare(title="Payments down", severity="SEV1")
        waiting = still_to_answer(ctx)
    finally:
        ctx.close()
    assert len(waiting) == 10  # the duty manager and nine MRT seats, nobody answered yet
    standin = StandIn.start_in_thread()
    try:
        standin.responders(7)
        planned = [n for n in waiting if standin.responder_plan(n)[0] is not None]
        assert standin.resume_responders(waiting) == len(planned) > 0
        assert standin.resume_responders(waiting) == 0  # already pending: never twice
        standin.advance(61)
        replies = standin.messages(direction="inbound")
        assert sorted(r.from_ for r in replies) == sorted(planned)
        assert standin.resume_responders(waiting) == 0  # answered already
    finally:
        standin.stop()
