"""Consistent backups with SQLite's online backup API, safe while consoles keep writing.

A backup is a complete SQLite file named ``mim-YYYYMMDDTHHMMSSZ.db`` in the backup folder, private
to the owner, checked with ``PRAGMA quick_check`` before it counts. Retention keeps the newest N.
Restoring first backs up the current database, so a restore can itself be undone.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mim_console.data.migrations import known_names
from mim_console.data.store import Store, storage_message
from mim_console.errors import StorageError, UserError

PREFIX = "mim-"
SUFFIX = ".db"
STAMP = "%Y%m%dT%H%M%S%fZ"


@dataclass(frozen=True)
class Backup:
    path: Path
    taken_at: datetime
    size: int


def _name(now: datetime) -> str:
    return f"{PREFIX}{now.astimezone(UTC).strftime(STAMP)}{SUFFIX}"


def _parse(path: Path) -> datetime | None:
    stem = path.name
    if not (stem.startswith(PREFIX) and stem.endswith(SUFFIX)):
        return None
    try:
        return datetime.strptime(stem[len(PREFIX) : -len(SUFFIX)], STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def list_backups(folder: Path) -> list[Backup]:
    """Backups in ``folder``, newest first."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        taken = _parse(path)
        if taken is not None and path.is_file():
            found.append(Backup(path, taken, path.stat().st_size))
    return sorted(found, key=lambda b: b.taken_at, reverse=True)


def check_file(path: Path) -> None:
    """Refuse a file that is not an intact mim-console database this version can open."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise UserError(f"{path} is damaged: {result}")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "_sqlite_migrations" not in tables:
                raise UserError(f"{path} is not a mim-console database")
            applied = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise UserError(storage_message(exc, path)) from exc
    newer = [name for name in applied if name not in known_names()]
    if newer:
        raise UserError(f"{path} was written by a newer mim-console (schema {newer[-1]})")


def take_backup(store: Store, folder: Path, now: datetime, keep: int = 20) -> Backup:
    """Copy the live database into ``folder`` and prune to the newest ``keep`` backups."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    target = folder / _name(now)
    partial = target.with_suffix(".partial")
    try:
        fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        os.close(fd)
        dest = sqlite3.connect(partial)
        try:
            with store.read() as db:
                db.conn.backup(dest)
        finally:
            dest.close()
        check_file(partial)
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise StorageError(f"backup to {folder} failed: {reason}; nothing was removed") from exc
    except UserError:
        partial.unlink(missing_ok=True)
        raise
    prune(folder, keep)
    return Backup(target, now.astimezone(UTC), target.stat().st_size)


def prune(folder: Path, keep: int) -> list[Path]:
    removed = []
    for old in list_backups(folder)[max(keep, 1) :]:
        old.path.unlink(missing_ok=True)
        removed.append(old.path)
    return removed


def backup_due(folder: Path, now: datetime, every: timedelta) -> bool:
    backups = list_backups(folder)
    return not backups or now - backups[0].taken_at >= every


def restore(store: Store, source: Path, folder: Path, now: datetime, keep: int = 20) -> Backup:
    """Replace the live database's content with ``source``; returns the safety backup."""
    check_file(source)
    safety = take_backup(store, folder, now, keep=keep + 1)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            with store.read() as db:
                src.backup(db.conn)
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise StorageError(
            f"restore from {source} failed: {exc}; the previous database is in {safety.path}"
        ) from exc
    return safety
