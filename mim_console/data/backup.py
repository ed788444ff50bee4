"""Consistent backups with SQLite's online backup API, safe while consoles keep writing.

A backup is a complete SQLite file named ``mim-YYYYMMDDTHHMMSSZ.db`` in the backup folder, private
to the owner, checked with ``PRAGMA quick_check`` before it counts. Retention keeps the newest N.
Restoring first backs up the current database, so a restore can itself be undone.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mim_console.data.files import check_target
from mim_console.data.migrations import known_names
from mim_console.data.store import BUSY_TIMEOUT_MS, Store, storage_message
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

    def copy(dest: sqlite3.Connection) -> None:
        with store.read() as db:
            db.conn.backup(dest)

    return _take(copy, folder, now, keep)


def take_backup_of_file(db_path: Path, folder: Path, now: datetime, keep: int = 20) -> Backup:
    """Like ``take_backup`` through a connection of its own, so a console's shared connection
    (and the lock every screen waits on) stays free while a scheduled backup copies the file.
    SQLite's backup API copies in one step under one read transaction: a consistent snapshot
    while other connections keep writing (WAL readers never block writers)."""
    if not db_path.is_file():
        raise StorageError(f"backup of {db_path} failed: no such file")

    def copy(dest: sqlite3.Connection) -> None:
        src = sqlite3.connect(str(db_path), timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            src.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            src.backup(dest)
        finally:
            src.close()

    return _take(copy, folder, now, keep)


def _take(
    copy: Callable[[sqlite3.Connection], None], folder: Path, now: datetime, keep: int
) -> Backup:
    target = folder / _name(now)
    partial = target.with_suffix(".partial")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        check_target(target)  # never over a symlink, FIFO or device (data/files.py)
        _remove_partial(partial)  # a crashed backup's leftover, or a planted link: not followed
        fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        dest = sqlite3.connect(partial)
        try:
            copy(dest)
            # One self-contained file: no -wal/-shm beside it, copyable and restorable as is.
            dest.execute("PRAGMA journal_mode = DELETE")
        finally:
            dest.close()
        check_file(partial)
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as exc:
        _remove_partial(partial)
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
        raise StorageError(f"backup to {folder} failed: {reason}; nothing was removed") from exc
    except UserError:
        _remove_partial(partial)
        raise
    size = target.stat().st_size
    prune(folder, keep, fresh=target)
    return Backup(target, now.astimezone(UTC), size)


def _remove_partial(partial: Path) -> None:
    """Clean up after a failed copy; never raises (the original error is what matters)."""
    for extra in ("", "-journal", "-wal", "-shm"):
        try:
            Path(f"{partial}{extra}").unlink(missing_ok=True)
        except OSError:
            pass


def prune(folder: Path, keep: int, fresh: Path | None = None) -> list[Path]:
    """Keep the newest ``keep`` backups; ``fresh`` (the one just taken) always stays, even when
    its stamp is older than the rest (a clock set back): it then takes the oldest one's place."""
    backups = list_backups(folder)
    kept = [b for b in backups if b.path == fresh]
    kept += [b for b in backups if b.path != fresh][: max(keep, 1) - len(kept)]
    removed = []
    for old in backups:
        if old not in kept:
            old.path.unlink(missing_ok=True)
            removed.append(old.path)
    return removed


def backup_due(folder: Path, now: datetime, every: timedelta) -> bool:
    """Whether the newest backup is ``every`` old. Backups stamped after ``now`` (the clock was
    set back since) do not count: otherwise none would be taken until the clock caught up."""
    past = [b for b in list_backups(folder) if b.taken_at <= now]
    return not past or now - past[0].taken_at >= every


def latest_backup(folder: Path) -> Backup | None:
    backups = list_backups(folder)
    return backups[0] if backups else None


def damage_advice(folder: Path) -> str:
    """The way forward from a damaged database: which backup to restore, and how."""
    try:
        latest = latest_backup(folder)
    except OSError:
        latest = None
    if latest is None:
        return (
            f"no backup was found in {folder}; if you keep backups elsewhere, restore one with "
            "`mim-console restore FILE`"
        )
    return (
        f"the latest backup is {latest.path} (taken {latest.taken_at:%Y-%m-%d %H:%M} UTC): "
        f"restore it with `mim-console restore {latest.path}`"
    )


@contextmanager
def exclusive(folder: Path) -> Iterator[bool]:
    """Whether this process may take the scheduled backup now: one process at a time per
    folder (a console and the dispatcher both run the schedule; only one copies)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / ".lock", "a+b")  # held for the block
    except OSError:
        yield True  # the backup itself will say what is wrong with the folder
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


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


def restore_damaged(db_path: Path, source: Path, folder: Path, now: datetime) -> Path:
    """Put ``source`` in place of a database too damaged to open; returns where the damaged
    file was moved (kept beside the backups, never deleted: it may still hold the last minutes).

    The copy is made next to the database first and moved over it only when complete and
    checked, so a failure half-way leaves the damaged file where it was.
    """
    check_file(source)
    stamp = now.astimezone(UTC).strftime(STAMP)
    kept = folder / f"damaged-{stamp}-{db_path.name}"
    fresh = db_path.with_name(f".{db_path.name}.restoring")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        _remove_partial(fresh)
        os.close(os.open(fresh, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dest = sqlite3.connect(fresh)
        try:
            src.backup(dest)
            dest.execute("PRAGMA journal_mode = DELETE")
        finally:
            dest.close()
            src.close()
        check_file(fresh)
        for extra in ("", "-wal", "-shm", "-journal"):
            damaged = Path(f"{db_path}{extra}")
            if damaged.exists():
                os.replace(damaged, Path(f"{kept}{extra}"))
        os.replace(fresh, db_path)
    except (sqlite3.Error, OSError) as exc:
        _remove_partial(fresh)
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
        raise StorageError(f"restore from {source} failed: {reason}") from exc
    except UserError:
        _remove_partial(fresh)
        raise
    return kept
