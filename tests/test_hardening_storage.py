"""Empty and read-only databases (issue 14, items 6 and 7)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mim_console.cli import main
from mim_console.config import Settings
from mim_console.data.backup import take_backup
from mim_console.data.store import Store
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import seed


@pytest.fixture
def backed_up(db_path: Path) -> Iterator[Path]:
    ctx = Context(settings=Settings(db_path=db_path), clock=lambda: FROZEN_NOW, actor="dm")
    seed(ctx.store, FROZEN_NOW)
    IncidentService(ctx).declare(title="Cards down", severity="SEV1", categories=["cards"])
    take_backup(ctx.store, ctx.settings.resolved_backup_dir(), FROZEN_NOW)
    ctx.close()
    yield db_path


def run(db: Path, *args: str, stdin: str = "") -> Result:
    result = CliRunner().invoke(main, ["--db", str(db), *args], input=stdin)
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


@pytest.mark.parametrize(
    ("content", "said"),
    [(b"", "the file is empty (0 bytes)"), (b"not a database\n" * 40, "no SQLite header")],
    ids=["zero-length", "headerless"],
)
def test_an_empty_file_is_refused_naming_the_backup_never_initialised(
    backed_up: Path, content: bytes, said: str
) -> None:
    for extra in ("-wal", "-shm"):
        Path(f"{backed_up}{extra}").unlink(missing_ok=True)
    backed_up.write_bytes(content)
    an_hour_ago = time.time() - 3600  # lying there, not being created by another process
    os.utime(backed_up, (an_hour_ago, an_hour_ago))
    backups = sorted((backed_up.parent / "backups").glob("*.db"))
    assert backups
    for args in (["callsheet"], ["status", "MI-2026-001"], ["note", "MI-2026-001", "x"], ["info"]):
        result = run(backed_up, *args)
        assert result.exit_code == 1, (args, result.output)
        text = " ".join(result.stderr.split())
        assert said in text and "not initialised over" in text, text
        assert f"mim-console restore {backups[-1]}" in text, text
        assert backed_up.read_bytes() == content  # left as it was
        assert not Path(f"{backed_up}-wal").exists()
    restored = run(backed_up, "restore", str(backups[-1]), "--yes")
    assert restored.exit_code == 0, restored.stderr
    assert "Cards down" in run(backed_up, "status", "MI-2026-001").output


def test_an_empty_file_another_process_is_creating_this_instant_is_waited_for(
    db_path: Path,
) -> None:
    """SQLite makes the file, then writes its first page: a console or `dispatch` started in
    that instant waits a moment instead of calling the new database damaged."""
    db_path.write_bytes(b"")

    def create() -> None:  # the other process, which made the file, writes its first page
        time.sleep(0.3)
        conn = sqlite3.connect(db_path)
        conn.execute("CREATE TABLE early (x)")
        conn.commit()
        conn.close()

    creator = threading.Thread(target=create)
    creator.start()
    try:
        store = Store(db_path)
        store.close()
    finally:
        creator.join()
    assert db_path.read_bytes()[:16] == b"SQLite format 3\x00"


# --- a read-only file system ----------------------------------------------------------------


def _read_only_mount(folder: Path) -> bool:
    """A tmpfs at ``folder``, remounted read-only later; False where mounting is not allowed."""
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture
def read_only_db(backed_up: Path, tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "ro"
    if os.geteuid() != 0 or not _read_only_mount(mount):
        pytest.skip(
            "needs a read-only mount (root, and mounting allowed): chmod does not stop root"
        )
    try:
        db = mount / "mim.db"
        assert not Path(f"{backed_up}-wal").exists()  # closed cleanly; the file is in WAL mode
        shutil.copy(backed_up, db)
        shutil.copytree(backed_up.parent / "backups", mount / "backups")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield db
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_read_commands_work_on_a_read_only_file_system(read_only_db: Path) -> None:
    for args in (
        ["status", "MI-2026-001"],
        ["timeline", "MI-2026-001"],
        ["callsheet"],
        ["callsheet", "MI-2026-001"],
        ["incidents"],
        ["people"],
        ["duty"],
        ["info"],
        ["verify-timeline"],
    ):
        result = run(read_only_db, *args)
        assert result.exit_code == 0, (args, result.stderr)
        assert result.output.strip(), args
    assert "Cards down" in run(read_only_db, "status", "MI-2026-001").output
    note = run(read_only_db, "note", "MI-2026-001", "x")
    assert note.exit_code == 1 and "read-only" in note.stderr, note.stderr
    assert not Path(f"{read_only_db}-wal").exists()
