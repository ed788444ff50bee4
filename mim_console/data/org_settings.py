"""The ``setting`` table: organisation settings as JSON values, one row per key.

What the keys are and how a value is checked is ``services/org_settings.py``'s business; here
are only the statements.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlite_utils import Database

from mim_console.clock import to_iso


def has_table(db: Database) -> bool:
    return bool(db["setting"].exists())


def read_all(db: Database) -> dict[str, Any]:
    if not has_table(db):
        return {}
    values: dict[str, Any] = {}
    for key, text in db.execute("SELECT key, value FROM setting ORDER BY key"):
        try:
            values[str(key)] = json.loads(text)
        except (TypeError, ValueError):
            continue  # a value no version of mim-console wrote: ignored, `settings set` mends it
    return values


def rows(db: Database) -> list[tuple[str, Any, str, str]]:
    """(key, value, updated_at, updated_by) for every stored setting."""
    if not has_table(db):
        return []
    out = []
    for key, text, at, by in db.execute(
        "SELECT key, value, updated_at, updated_by FROM setting ORDER BY key"
    ):
        try:
            out.append((str(key), json.loads(text), str(at), str(by)))
        except (TypeError, ValueError):
            continue
    return out


def write(db: Database, key: str, value: Any, actor: str, now: datetime) -> None:
    """Inside ``store.write()``."""
    db.execute(
        "INSERT INTO setting (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        [key, json.dumps(value, ensure_ascii=False), to_iso(now), actor],
    )


def is_empty(db: Database) -> bool:
    return has_table(db) and db.execute("SELECT 1 FROM setting LIMIT 1").fetchone() is None


def peek(path: Path) -> dict[str, Any]:
    """The stored settings of the database at ``path``, read without opening it as a store
    (no integrity check, no migration, nothing created): {} when there is none to read."""
    if not path.is_file():
        return {}
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return {}
    try:
        return read_all(Database(conn, execute_plugins=False))
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
