"""A standby's copy of the database: read-only, reopened whenever Litestream applied changes.

``litestream restore -f`` writes the replica's changes straight into the copy's pages, not
through its WAL, so a connection kept open would go on reading what it had cached (measured:
a long-lived read-only connection saw none of the follower's updates; a new one saw them all).
``FollowerStore`` therefore reconnects when the follower's position file (``<db>-txid``)
changes, and counts those changes as its ``data_version``: the screens' one-second poll then
reloads them, exactly as it does for another console's writes.

Every write is refused: a standby that wrote would fork the copy from the replica. The marker
file beside the copy (``<db>.standby.json``) says it is one, so every command on that file,
not only the standby console, opens it this way until `mim-console takeover`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

from sqlite_utils import Database

from mim_console.data.store import BUSY_TIMEOUT_MS, Store, storage_message
from mim_console.errors import StorageError, UserError

REFUSAL = "standby: read-only — `mim-console takeover` to take over"


class StandbyReadOnly(UserError):
    """A write on a standby copy."""

    def __init__(self) -> None:
        super().__init__(REFUSAL)


def marker_path(db_path: Path | str) -> Path:
    path = Path(db_path)
    return path.with_name(path.name + ".standby.json")


def txid_path(db_path: Path | str) -> Path:
    path = Path(db_path)
    return path.with_name(path.name + "-txid")


def read_marker(db_path: Path | str) -> dict[str, Any] | None:
    """The standby's marker (url, pid, started), or None when ``db_path`` is no standby copy."""
    try:
        data = json.loads(marker_path(db_path).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return None
        return {"url": "", "pid": None}  # unreadable: still a standby copy, say so
    except ValueError:
        return {"url": "", "pid": None}  # unreadable: still a standby copy, say so
    return data if isinstance(data, dict) else {"url": "", "pid": None}


def write_marker(db_path: Path | str, **data: Any) -> None:
    path = marker_path(db_path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out)
    os.replace(tmp, path)


def clear_marker(db_path: Path | str) -> None:
    with contextlib.suppress(FileNotFoundError):
        marker_path(db_path).unlink()


def is_standby_copy(db_path: Path | str) -> bool:
    if str(db_path) == ":memory:":
        return False
    try:
        return marker_path(db_path).exists()
    except (OSError, ValueError):  # a name too long for a marker beside it: none can exist
        return False


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, its parent has not reaped it yet) is not running
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        return state[0] != "Z"
    except (OSError, IndexError):
        return True


class FollowerStore(Store):
    """The ``Store`` interface on a follower copy: reads see the latest applied changes,
    writes raise ``StandbyReadOnly``.

    A connection is open only while a ``read()`` runs: Litestream's follower applies a change
    only when no connection has the copy open (measured: one idle read-only connection held
    open stopped the follower for as long as it stayed open, and the standby fell behind).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._version = 0
        self._seen = self._position()
        if not self.path.exists():
            raise StorageError(f"{self.path}: no standby copy yet (is `standby` running?)")
        with self.read():
            pass  # a damaged or unreadable copy is refused here, at once

    def _connect(self) -> Database:
        uri = f"file:{quote(str(self.path))}?mode=ro"
        conn = sqlite3.connect(
            uri,
            uri=True,
            check_same_thread=False,
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return Database(conn, execute_plugins=False)

    def _position(self) -> tuple[int, int, str] | None:
        path = txid_path(self.path)
        try:
            info = path.stat()
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return (info.st_mtime_ns, info.st_size, text)

    def _refresh(self) -> None:
        seen = self._position()
        if seen != self._seen:
            self._seen = seen
            self._version += 1

    @contextmanager
    def read(self) -> Iterator[Database]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.db
                finally:
                    self._depth -= 1
                return
            try:
                self._refresh()
                self.db = self._connect()
            except sqlite3.Error as exc:
                raise StorageError(storage_message(exc, self.path)) from exc
            self._depth = 1
            try:
                yield self.db
            except sqlite3.Error as exc:
                raise StorageError(storage_message(exc, self.path)) from exc
            finally:
                self._depth = 0
                self.db.close()

    @contextmanager
    def write(self) -> Iterator[Database]:
        self._refuse()
        yield self.db  # pragma: no cover - never reached

    def _refuse(self) -> NoReturn:
        raise StandbyReadOnly()

    def data_version(self) -> int:
        """Moves when the follower applied changes (read from its position file alone)."""
        with self._lock:
            self._refresh()
            return self._version

    @property
    def schema_version(self) -> str:
        from mim_console.data.migrations import migrations

        with self.read() as db:
            applied = migrations.applied(db)
        return applied[-1].name if applied else ""

    def close(self) -> None:
        """Nothing stays open between reads."""
