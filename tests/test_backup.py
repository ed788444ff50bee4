"""Backups on real files: consistent under concurrent writes, pruned, restorable, checked."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mim_console.cli import main
from mim_console.data.backup import backup_due, check_file, list_backups, restore, take_backup
from mim_console.data.store import Store
from mim_console.errors import UserError

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _add_parties(store: Store, names: list[str]) -> None:
    with store.write() as db:
        for name in names:
            db.table("party").insert({"name": name})


def test_backup_taken_while_another_process_writes_is_consistent(
    store: Store, db_path: Path, tmp_path: Path
) -> None:
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        other = Store(db_path)
        n = 0
        try:
            while not stop.is_set():
                # Each transaction inserts a party and its matching timeline event together.
                with other.write() as db:
                    party_id = db.table("party").insert({"name": f"P{n}"}).last_pk
                    db.table("event").insert(
                        {"at": T0.isoformat(), "actor": "w", "kind": "party", "text": str(party_id)}
                    )
                n += 1
                written.append(n)
        finally:
            other.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        backups = []
        for i in range(5):
            while len(written) < (i + 1) * 20:
                time.sleep(0.002)
            backups.append(take_backup(store, tmp_path / "b", T0 + timedelta(seconds=i)))
    finally:
        stop.set()
        thread.join()

    for b in backups:
        conn = sqlite3.connect(b.path)
        parties = conn.execute("SELECT count(*) FROM party").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM event").fetchone()[0]
        conn.close()
        assert parties == events > 0, "a backup must hold whole transactions only"
        assert stat.S_IMODE(b.path.stat().st_mode) == 0o600

    # Restoring the first backup gives back exactly that state, and the restore is undoable.
    first = backups[0]
    expected = sqlite3.connect(first.path).execute("SELECT count(*) FROM party").fetchone()[0]
    safety = restore(store, first.path, tmp_path / "b", T0 + timedelta(minutes=1))
    assert store.query("SELECT count(*) AS n FROM party")[0]["n"] == expected
    assert store.query("SELECT count(*) AS n FROM event")[0]["n"] == expected
    assert safety.path.exists()
    assert safety.path.stat().st_size > 0


def test_retention_keeps_the_newest(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "b"
    for i in range(5):
        take_backup(store, folder, T0 + timedelta(hours=i), keep=3)
    kept = list_backups(folder)
    assert [b.taken_at for b in kept] == [T0 + timedelta(hours=h) for h in (4, 3, 2)]
    assert not backup_due(folder, T0 + timedelta(hours=4, minutes=30), timedelta(hours=1))
    assert backup_due(folder, T0 + timedelta(hours=5), timedelta(hours=1))


def test_damaged_backup_is_refused_and_nothing_changes(store: Store, tmp_path: Path) -> None:
    _add_parties(store, ["Finance"])
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(UserError):
        check_file(bad)
    with pytest.raises(UserError):
        restore(store, bad, tmp_path / "b", T0)
    assert store.query("SELECT name FROM party")[0]["name"] == "Finance"


def test_cli_backup_list_and_restore(db_path: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    store = Store(db_path)
    _add_parties(store, ["Security"])
    store.close()
    result = runner.invoke(main, ["--db", str(db_path), "backup"])
    assert result.exit_code == 0, result.output
    assert "backup written" in result.output

    store = Store(db_path)
    _add_parties(store, ["Legal"])
    store.close()

    listed = runner.invoke(main, ["--db", str(db_path), "backup", "--list", "--json"])
    assert listed.exit_code == 0
    paths = [row["path"] for row in json.loads(listed.output)]
    assert len(paths) == 1
    restored = runner.invoke(main, ["--db", str(db_path), "restore", paths[0], "--yes"])
    assert restored.exit_code == 0, restored.output
    store = Store(db_path)
    try:
        assert [r["name"] for r in store.query("SELECT name FROM party")] == ["Security"]
    finally:
        store.close()

    missing = runner.invoke(
        main, ["--db", str(db_path), "restore", str(tmp_path / "no.db"), "--yes"]
    )
    assert missing.exit_code == 1
    assert "no such file" in missing.output
