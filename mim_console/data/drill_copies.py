"""The scratch copies a take-over drill works on: made from the live database, read without
a writer's lock, so the drill can watch its two sites from outside."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from mim_console.data.store import Store


def _read_only(path: Path, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
    """Rows of ``sql`` on ``path`` opened read-only; none when the file cannot answer yet (a
    site that has not started, a copy Litestream is still restoring)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    try:
        return conn.execute(sql, list(params)).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def table_counts(path: Path, tables: Sequence[str]) -> dict[str, int]:
    """Rows per table (``-1`` where the table cannot be read): the drill compares two sites."""
    counts = {}
    for table in tables:
        rows = _read_only(path, f'SELECT COUNT(*) FROM "{table}"')
        counts[table] = int(str(rows[0][0])) if rows else -1
    return counts


def has_site(path: Path, name: str) -> bool:
    """Whether the site ``name`` has beaten in the database at ``path``."""
    return bool(_read_only(path, "SELECT 1 FROM site WHERE name = ?", [name]))


def copy_without_leases(store: Store, dest: Path) -> None:
    """A private (0600) copy of ``store`` at ``dest`` without the live site's leases and beat:
    they would fence the drill's own take-over off for as long as the live site runs."""
    fd = os.open(dest, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    target = sqlite3.connect(dest)
    try:
        with store.read() as db:
            db.conn.backup(target)
        target.execute("DELETE FROM lease")
        with contextlib.suppress(sqlite3.Error):
            target.execute("DELETE FROM site")
        target.commit()
        target.execute("PRAGMA journal_mode = WAL")
    finally:
        target.close()
