"""The store on real SQLite files: pragmas, permissions, migrations, transactions."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from mim_console.data.migrations import known_names
from mim_console.data.store import Store
from mim_console.errors import StorageError


def test_new_database_is_private_wal_with_foreign_keys(db_path: Path) -> None:
    store = Store(db_path)
    try:
        assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
        assert store.query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
        assert store.query("PRAGMA foreign_keys")[0]["foreign_keys"] == 1
        assert store.schema_version == known_names()[-1]  # every migration, in order
        assert {"person", "party", "incident", "alert", "event"} <= set(store.db.table_names())
    finally:
        store.close()


def test_existing_world_readable_file_is_tightened(db_path: Path) -> None:
    Store(db_path).close()
    db_path.chmod(0o644)
    Store(db_path).close()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_reopening_applies_nothing_twice(db_path: Path) -> None:
    Store(db_path).close()
    store = Store(db_path)
    try:
        rows = store.query("SELECT name FROM _sqlite_migrations")
        assert [r["name"] for r in rows] == known_names()  # each once
    finally:
        store.close()


def test_newer_schema_is_refused_with_a_clear_message(db_path: Path) -> None:
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('mim_console', '0999_from_the_future', '2030-01-01')"
    )
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer mim-console.*0999_from_the_future"):
        Store(db_path)


def test_damaged_file_is_refused_and_points_at_backups(db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(StorageError, match="damaged.*backup"):
        Store(db_path)


def test_write_is_all_or_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.write() as db:
            db.table("party").insert({"name": "Finance"})
            raise RuntimeError("halfway")
    assert store.query("SELECT count(*) AS n FROM party")[0]["n"] == 0


def test_timeline_is_append_only(store: Store) -> None:
    with store.write() as db:
        db.table("event").insert(
            {"at": "2026-01-01T00:00:00+00:00", "actor": "t", "kind": "note", "text": "x"}
        )
    with pytest.raises(StorageError, match="append-only"):
        with store.write() as db:
            db.execute("UPDATE event SET text = 'changed'")
    with pytest.raises(StorageError, match="append-only"):
        with store.write() as db:
            db.execute("DELETE FROM event")
    assert store.query("SELECT text FROM event")[0]["text"] == "x"


def test_data_version_sees_another_connections_commit(store: Store, db_path: Path) -> None:
    before = store.data_version()
    other = Store(db_path)
    try:
        with other.write() as db:
            db.table("party").insert({"name": "Security"})
    finally:
        other.close()
    assert store.data_version() != before
