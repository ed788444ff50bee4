"""A tamper-evident timeline (issue 14, item 3), tried from a plain ``sqlite3`` connection with
foreign keys off, as anyone with the file could: history cannot be replaced, what it refers to
cannot be deleted, and an edit made around the triggers is found by the hash chain."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlite_utils import Database

from mim_console.cli import main
from mim_console.config import Settings
from mim_console.data.migrations import migrations
from mim_console.data.store import Store
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import seed


@pytest.fixture
def incident_db(db_path: Path) -> Iterator[Path]:
    ctx = Context(settings=Settings(db_path=db_path), clock=lambda: FROZEN_NOW, actor="dm")
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    code = svc.declare(title="Cards down", severity="SEV1", categories=["cards"]).code
    for n in range(5):
        svc.note(code, f"note {n}")
    svc.declare(title="Second", severity="SEV2", categories=["cards"])
    ctx.close()
    yield db_path


def plain(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 0  # as a plain tool opens it
    return conn


def run(db: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, ["--db", str(db), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        (
            "INSERT OR REPLACE INTO event (id, incident_id, at, actor, kind, text) "
            "VALUES (5, 1, '2026-03-02T08:00:00+00:00', 'x', 'note', 'rewritten history')",
            "an event cannot be replaced",
        ),
        (
            "REPLACE INTO event (id, incident_id, at, actor, kind, text) "
            "VALUES (5, 1, '2026-03-02T08:00:00+00:00', 'x', 'note', 'rewritten history')",
            "an event cannot be replaced",
        ),
        (
            "INSERT OR REPLACE INTO alert_history (id, alert_id, at, actor, new_status) "
            "VALUES (1, 1, '2026-03-02T08:00:00+00:00', 'x', 'delivered')",
            "the alert history is append-only",
        ),
        ("DELETE FROM incident WHERE id = 1", "an incident with a timeline cannot be deleted"),
        ("DELETE FROM participant WHERE id = 1", "a participant named in the timeline"),
        ("DELETE FROM alert WHERE id = 1", "an alert with a history cannot be deleted"),
        ("UPDATE event SET text = 'x' WHERE id = 5", "events cannot be changed"),
        ("DELETE FROM event WHERE id = 5", "events cannot be deleted"),
    ],
)
def test_a_plain_connection_cannot_rewrite_history(incident_db: Path, sql: str, said: str) -> None:
    conn = plain(incident_db)
    before = conn.execute("SELECT * FROM event ORDER BY id").fetchall()
    counts = [
        conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("incident", "participant", "alert", "alert_history")
    ]
    with pytest.raises(sqlite3.DatabaseError, match=said):
        conn.execute(sql)
    assert conn.execute("SELECT * FROM event ORDER BY id").fetchall() == before
    assert [
        conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("incident", "participant", "alert", "alert_history")
    ] == counts
    conn.close()
    assert run(incident_db, "verify-timeline").exit_code == 0


def test_every_console_connection_has_foreign_keys_on(incident_db: Path) -> None:
    store = Store(incident_db)
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    store.close()


def test_an_intact_timeline_verifies(incident_db: Path) -> None:
    result = run(incident_db, "verify-timeline")
    assert result.exit_code == 0, result.stderr
    assert "timeline intact:" in result.output and "in 2 hash chain(s)" in result.output
    one = run(incident_db, "verify-timeline", "MI-2026-001", "--json")
    assert one.exit_code == 0 and '"ok": true' in one.output and '"chains": 1' in one.output


def _around_the_triggers(db: Path, *statements: str) -> None:
    """What someone with the file can still do: drop the triggers, change, put them back."""
    conn = plain(db)
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'event'"
    ).fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    for statement in statements:
        conn.execute(statement)
    for _, sql in triggers:
        conn.execute(sql)
    conn.close()


@pytest.mark.parametrize(
    ("statements", "said"),
    [
        (
            ["UPDATE event SET text = 'we were told at 09:00' WHERE id = 4"],
            "event 4 does not match its hash: it was changed after it was written",
        ),
        (
            ["DELETE FROM event WHERE id = 4"],
            "event 5 does not link to the event before it",
        ),
        (
            [
                "INSERT INTO event (incident_id, at, actor, kind, text) "
                "VALUES (1, '2026-03-02T08:30:00+00:00', 'x', 'note', 'planted')"
            ],
            "has no hash: it was written outside mim-console",
        ),
        (
            [
                "UPDATE event SET incident_id = 2 WHERE id = (SELECT max(id) FROM event "
                "WHERE incident_id = 1)"
            ],
            "MI-2026-002: event",
        ),
    ],
)
def test_an_edit_around_the_triggers_is_found(
    incident_db: Path, tmp_path: Path, statements: list[str], said: str
) -> None:
    copy = tmp_path / "edited.db"
    shutil.copy(incident_db, copy)
    _around_the_triggers(copy, *statements)
    result = run(copy, "verify-timeline")
    assert result.exit_code == 1
    assert said in " ".join(result.stderr.split()), result.stderr
    assert "✖ broken: MI-2026-00" in result.stderr
    ready = run(copy, "readiness")
    assert ready.exit_code == 1 and "Timeline hash chain" in ready.output
    assert "hash chain is broken" in " ".join(ready.output.split())


def test_new_events_after_an_edit_still_chain_from_the_stored_hash(
    incident_db: Path,
) -> None:
    """A note after a hand-edit links to what is stored: the break stays where it was."""
    _around_the_triggers(incident_db, "UPDATE event SET text = 'edited' WHERE id = 3")
    assert run(incident_db, "note", "MI-2026-001", "after").exit_code == 0
    result = run(incident_db, "verify-timeline", "--json")
    assert '"event_id": 3' in result.output and result.output.count('"event_id"') == 1


def test_the_migration_hashes_a_timeline_written_before_the_chain(db_path: Path) -> None:
    db = Database(db_path)
    migrations.apply(db, stop_before="0005_tamper_evident_timeline")
    for n in range(3):
        db.execute(
            "INSERT INTO event (at, actor, kind, text) VALUES (?, 'old', 'note', ?)",
            ["2026-03-02T08:00:00+00:00", f"old {n}"],
        )
    db.conn.commit()
    db.close()
    store = Store(db_path)  # migrates
    store.close()
    result = run(db_path, "verify-timeline")
    assert result.exit_code == 0 and "3 event(s) in 1 hash chain(s)" in result.output
