"""Opening the SQLite file: pragmas, permissions, migrations, and one way to write.

One ``Store`` per process holds one connection shared by the UI thread and worker threads
(``check_same_thread=False``); a re-entrant lock serialises every use of it. Writes go through
``Store.write()``, which takes SQLite's write lock up front (``BEGIN IMMEDIATE``) so that two
processes on one file queue behind the busy timeout instead of failing half-way.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from mim_console.data.migrations import known_names, migrations
from mim_console.errors import StorageError

BUSY_TIMEOUT_MS = 10_000


def _secure_file(path: Path) -> None:
    """Create the file readable by the owner only, or tighten an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Only ever take rights away: a file its owner made read-only (0400) stays read-only,
        # and an immutable file that is already private needs no chmod (which would fail).
        os.chmod(path, mode & 0o700)


class DamagedDatabase(StorageError):
    """The file is not an intact SQLite database: the way forward is a restore, and whoever
    knows the backup folder (``Context``) names the backup to restore."""

    def __init__(self, path: Path | str, reason: str, advice: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        advice = advice or (
            "restore the latest backup with `mim-console restore FILE` "
            "(see `mim-console backup --list`)"
        )
        super().__init__(f"{path} is damaged ({reason}); {advice}")


SQLITE_HEADER = b"SQLite format 3\x00"


# A zero-length file this new may be another process creating the database this instant
# (SQLite makes the file, then writes its first page): it gets a moment before it is refused.
BEING_MADE_S = 10.0
BEING_MADE_WAIT_S = 2.0


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(len(SQLITE_HEADER))


def _being_made(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime < BEING_MADE_S
    except OSError:
        return False


def _has_wal(wal: Path) -> bool:
    try:
        return wal.stat().st_size > 0
    except OSError:
        return False


def _refuse_what_is_not_a_database(path: Path) -> None:
    """A file that exists where the database is expected but holds no SQLite database (zero
    bytes, or no SQLite header: a truncated copy, a file of something else) is refused, never
    initialised over: SQLite would silently make an empty schema of it, and the console would
    show an empty directory and an empty call sheet while the backups sit beside it."""
    wal = Path(f"{path}-wal")
    try:
        head = _head(path)
        deadline = time.monotonic() + BEING_MADE_WAIT_S
        while not head and not _has_wal(wal) and _being_made(path):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
            head = _head(path)
    except FileNotFoundError:
        return  # a new database
    except IsADirectoryError as exc:
        raise StorageError(f"cannot open {path}: it is a folder, not a database file") from exc
    if head == SQLITE_HEADER:
        return
    if not head and _has_wal(wal):
        return  # the database lives in its WAL so far: SQLite reads it from there
    reason = "the file is empty (0 bytes)" if not head else "the file has no SQLite header"
    raise DamagedDatabase(
        path, f"{reason}; it was left as it is, not initialised over as a new database"
    )


def _read_only_mode(path: Path) -> str | None:
    """How an existing database must be opened when it cannot be written: None (it can), "ro"
    (the file cannot, its folder can: SQLite keeps its -shm there) or "immutable" (the folder
    cannot be written either, and there is no -shm to share: nothing else is writing)."""
    if not path.exists():
        return None
    folder = path.parent if str(path.parent) else Path(".")
    shm = Path(f"{path}-shm")
    file_ok = os.access(path, os.W_OK)
    folder_ok = os.access(folder, os.W_OK)
    if file_ok and (folder_ok or (shm.exists() and os.access(shm, os.W_OK))):
        return None
    if folder_ok or (shm.exists() and os.access(shm, os.R_OK)):
        return "ro"
    return "immutable"


def _read_only_uri(path: Path, mode: str) -> str:
    from urllib.parse import quote

    extra = "&immutable=1" if mode == "immutable" else ""
    return f"file:{quote(str(path.resolve()))}?mode=ro{extra}"


def _damaged(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def as_row_id(text: str) -> int | None:
    """A row id typed by a person: ASCII digits that fit SQLite's INTEGER, else None.

    ``str.isdigit`` alone lets through ``²`` (``int`` refuses it) and numbers too large for
    SQLite (``OverflowError`` at the query): both must read as "no such id", not crash.
    """
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def storage_message(exc: sqlite3.Error, path: Path | str) -> str:
    """Plain words for what went wrong with the database file."""
    text = str(exc).lower()
    if "disk is full" in text or "database or disk is full" in text:
        return f"the disk holding {path} is full: nothing was saved; free some space and retry"
    if "readonly" in text or "read-only" in text:
        return f"{path} is read-only: nothing was saved; check the file's permissions"
    if "locked" in text or "busy" in text:
        return f"{path} is busy in another mim-console process: nothing was saved; try again"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            f"{path} is damaged ({exc}); restore the latest backup with "
            "`mim-console restore FILE` (see `mim-console backup --list`)"
        )
    if "disk i/o error" in text:
        # SQLITE_IOERR: the OS refused a read or write (a full disk reports EFBIG/EIO this way
        # too, a file-size limit, a removed or failing disk). The transaction was rolled back.
        return (
            f"the disk refused to write {path} (disk I/O error: full, failing or removed?): "
            "nothing was saved; check the disk and retry"
        )
    if "unable to open database file" in text:
        return (
            f"cannot open {path}: check that the file and its folder exist and are writable "
            "(SQLite keeps its -wal and -shm files beside it)"
        )
    return f"database error on {path}: {exc}"


class Store:
    """The open database: ``db`` for sqlite-utils, ``read()`` and ``write()`` for access."""

    def __init__(self, path: Path | str, *, migrate: bool = True) -> None:
        self.path = Path(path)
        #: None: read and write. "ro": the file or its folder cannot be written (a read-only
        #: file system, a folder without write access), so it is opened ``mode=ro`` and only
        #: read; "immutable": the same where SQLite could not even keep its -shm file beside it.
        self.read_only: str | None = None
        self._lock = threading.RLock()
        opened: list[sqlite3.Connection] = []
        try:
            self._open(opened, migrate)
        except BaseException:
            # A refused file is closed at once, not left to the garbage collector: `restore`
            # moves it aside next, and nothing of this process should still hold it open.
            for conn in opened:
                conn.close()
            raise

    def _open(self, opened: list[sqlite3.Connection], migrate: bool) -> None:
        path = self.path
        try:
            target: str = str(path)
            uri = False
            if str(path) != ":memory:":
                _refuse_what_is_not_a_database(path)
                self.read_only = _read_only_mode(path)
                if self.read_only is None:
                    _secure_file(self.path)
                else:
                    target, uri = _read_only_uri(path, self.read_only), True
            conn = sqlite3.connect(
                target,
                check_same_thread=False,
                isolation_level=None,
                timeout=BUSY_TIMEOUT_MS / 1000,
                uri=uri,
            )
            opened.append(conn)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            if self.read_only is None:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            else:
                conn.execute("PRAGMA query_only = ON")  # a write says "read-only", plainly
            self.db = Database(conn, execute_plugins=False)
            self._check_integrity()
            if migrate and self.read_only is None:
                self._migrate()
        except sqlite3.Error as exc:
            if _damaged(exc):
                raise DamagedDatabase(self.path, str(exc)) from exc
            raise StorageError(storage_message(exc, self.path)) from exc
        except OSError as exc:
            raise StorageError(f"cannot open {self.path}: {exc.strerror}") from exc

    def _check_integrity(self) -> None:
        """A damaged file is refused before anything writes to it."""
        result = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise DamagedDatabase(self.path, str(result))

    def _migrate(self) -> None:
        applied = [m.name for m in migrations.applied(self.db)]
        unknown = [name for name in applied if name not in known_names()]
        if unknown:
            raise StorageError(
                f"{self.path} was written by a newer mim-console (schema {unknown[-1]}); "
                "upgrade mim-console to open it"
            )
        if migrations.pending(self.db):
            with self._lock:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    # Another process may have migrated while we waited for the lock.
                    migrations.apply(self.db)
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.rollback()
                    raise

    @property
    def schema_version(self) -> str:
        applied = migrations.applied(self.db)
        return applied[-1].name if applied else ""

    @contextmanager
    def read(self) -> Iterator[Database]:
        with self._lock:
            try:
                yield self.db
            except sqlite3.Error as exc:
                raise StorageError(storage_message(exc, self.path)) from exc

    @contextmanager
    def write(self) -> Iterator[Database]:
        """One all-or-nothing transaction; nested calls join the outer one."""
        with self._lock:
            if self.db.conn.in_transaction:
                yield self.db
                return
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(storage_message(exc, self.path)) from exc
            try:
                yield self.db
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                self.db.rollback()
                raise StorageError(storage_message(exc, self.path)) from exc
            except BaseException:
                self.db.rollback()
                raise

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        with self.read() as db:
            return [dict(row) for row in db.query(sql, params)]

    def data_version(self) -> int:
        """Changes when another connection commits: cheap polling for other consoles' writes."""
        with self.read() as db:
            return int(db.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self.db.close()
