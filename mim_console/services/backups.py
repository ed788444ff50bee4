"""Backups nobody has to remember: on a schedule while a console or dispatcher runs, and after
every incident close.

A scheduled backup copies the file through a connection of its own (``take_backup_of_file``),
off the UI thread, so screens never wait for it. Several processes on one database (the console,
`mim-console dispatch`) share one schedule: whoever finds a backup due takes a lock in the backup
folder, looks again, and copies; the others see the fresh backup and do nothing.

Nothing here ever stops the work it rides along with: a failed backup is a warning (and the
schedule tries again after ``RETRY_AFTER``), never a failed close.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from mim_console.data.backup import (
    Backup,
    backup_due,
    check_file,
    exclusive,
    latest_backup,
    list_backups,
    restore,
    restore_damaged,
    take_backup,
    take_backup_of_file,
)
from mim_console.data.store import DamagedDatabase
from mim_console.errors import UserError
from mim_console.services.context import Context

log = logging.getLogger("mim_console.backups")

CHECK_EVERY_S = 60.0  # how often a running console or dispatcher asks whether a backup is due
RETRY_AFTER = timedelta(minutes=10)  # after a failure: not every minute, but not hours later


@dataclass(frozen=True)
class ScheduleState:
    """What `mim-console backup --list` and the docs call "where backups go and when"."""

    folder: str
    every: timedelta | None
    keep: int
    latest: Backup | None
    next_due: datetime | None  # None: off, or no backup yet (the next check takes one)


class BackupSchedule:
    """``check()`` takes a backup when one is due; safe to call from any thread, any process."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.folder = ctx.settings.resolved_backup_dir()
        self.every = ctx.settings.backup_every
        self.keep = ctx.settings.backup_keep
        self._busy = threading.Lock()
        self._failed_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        if self.every is None:
            return False
        if self._failed_at is not None and now - self._failed_at < RETRY_AFTER:
            return False
        return backup_due(self.folder, now, self.every)

    def check(self, now: datetime | None = None) -> Backup | None:
        """Take a backup if one is due; None when none was needed (or another process is
        taking it). Raises ``StorageError`` when the backup failed, once per ``RETRY_AFTER``."""
        at = now or self.ctx.clock()
        if not self.due(at) or not self._busy.acquire(blocking=False):
            return None
        try:
            with exclusive(self.folder) as mine:
                if not mine or not self.due(at):  # another process took it meanwhile
                    return None
                try:
                    taken = take_backup_of_file(self.ctx.db_path, self.folder, at, keep=self.keep)
                except UserError:
                    self._failed_at = at
                    raise
                self._failed_at = None
                log.info("scheduled backup written: %s", taken.path)
                return taken
        finally:
            self._busy.release()

    def state(self, now: datetime) -> ScheduleState:
        latest = latest_backup(self.folder)
        next_due = None
        if self.every is not None and latest is not None:
            next_due = max(latest.taken_at + self.every, now)
        return ScheduleState(str(self.folder), self.every, self.keep, latest, next_due)

    def start_thread(
        self, on_problem: Callable[[str], object] | None = None, every_s: float = CHECK_EVERY_S
    ) -> Callable[[], None]:
        """Check now and then every ``every_s`` on a daemon thread (the dispatcher's way);
        returns a stopper. Problems go to ``on_problem`` (default: the log)."""
        stop = threading.Event()
        report = on_problem or (lambda text: log.warning("%s", text))

        def loop() -> None:
            while not stop.is_set():
                try:
                    self.check()
                except UserError as exc:
                    report(f"scheduled backup failed: {exc}")
                except Exception as exc:  # a backup bug must not stop sending
                    log.exception("scheduled backup crashed")
                    report(f"scheduled backup failed: {exc!r}")
                stop.wait(every_s)

        thread = threading.Thread(target=loop, name="mim-backups", daemon=True)
        if self.every is not None:
            thread.start()

        def stopper() -> None:
            stop.set()
            if thread.is_alive():
                thread.join(30)

        return stopper


def backup_after_close(ctx: Context, code: str, now: datetime) -> tuple[Backup | None, str]:
    """The backup every close takes (a closed incident is a natural restore point).

    Returns the backup and "" or, when it failed, None and a warning that names the problem:
    the close itself has already been committed and stays done.
    """
    folder = ctx.settings.resolved_backup_dir()
    try:
        taken = take_backup_of_file(ctx.db_path, folder, now, keep=ctx.settings.backup_keep)
    except UserError as exc:
        return None, f"{code} is closed, but the backup after closing failed: {exc}"
    except Exception as exc:  # the close is done; say what happened, go on
        log.exception("backup after close crashed")
        return None, f"{code} is closed, but the backup after closing failed: {exc!r}"
    return taken, ""


# --- by hand: `mim-console backup`, `restore`, `info` ------------------------------------------


def take_now(ctx: Context) -> Backup:
    """A backup now, through the open store (consistent while consoles are running)."""
    folder = ctx.settings.resolved_backup_dir()
    return take_backup(ctx.store, folder, ctx.clock(), keep=ctx.settings.backup_keep)


def backups(ctx: Context) -> list[Backup]:
    return list_backups(ctx.settings.resolved_backup_dir())


def newest(ctx: Context) -> Backup | None:
    return latest_backup(ctx.settings.resolved_backup_dir())


def check_backup(source: Path) -> None:
    """Refuses a missing or damaged backup file before anyone is asked to confirm."""
    check_file(source)


@dataclass(frozen=True)
class Restored:
    kept: Path  # where the database it replaced went
    damaged: bool  # the replaced database could not be opened (it is kept, moved aside)


def restore_database(ctx: Context, source: Path) -> Restored:
    """Replace the database with ``source``. The current one is backed up first; a damaged
    one (the way forward its damage message promised) is moved aside and kept. Refused on a
    standby copy: it follows the replica until `mim-console takeover`."""
    from mim_console.services.sites import refuse_on_standby

    refuse_on_standby(ctx)
    folder = ctx.settings.resolved_backup_dir()
    try:
        store = ctx.store
    except DamagedDatabase:
        kept = restore_damaged(ctx.db_path, source, folder, ctx.clock())
        _ = ctx.store  # opens, checks and migrates the restored file now
        return Restored(kept, damaged=True)
    safety = restore(store, source, folder, ctx.clock(), keep=ctx.settings.backup_keep)
    return Restored(safety.path, damaged=False)
