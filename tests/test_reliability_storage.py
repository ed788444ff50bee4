"""Storage faults in real processes: a full disk, a write the OS refuses, a read-only file, a
damaged file.

`tests/test_storage_faults.py` covers the in-process paths (``PRAGMA max_page_count`` for a
full database, ``PRAGMA query_only`` for a read-only one). Here the faults come from the
operating system, under a CLI process: a file-size limit (``RLIMIT_FSIZE``, so a write fails
mid-transaction exactly as on a full disk), a real full file system (a 2 MiB tmpfs, where the
test may mount one), an immutable or read-only file. Each time: exit status 1, a plain message
naming the file, no traceback, nothing half-written (the database passes an integrity check
and holds exactly what it held), reading still works, and the next write succeeds once space or
permission is back.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mim_console.cli import main
from mim_console.config import Settings
from mim_console.data.store import Store
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import seed

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def make_incident(db_path: Path) -> str:
    ctx = Context(settings=Settings(db_path=db_path), actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    code = IncidentService(ctx).declare(title="Cards down", severity="SEV1", categories=["cards"])
    ctx.close()
    return code.code


def cli(db: Path, *args: str, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # pragma: no cover - runs in the child
        assert limit_bytes is not None  # it is the preexec_fn only then
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-m", "mim_console", "--db", str(db), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit if limit_bytes is not None else None,
    )


def in_process(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The same command through click in this process (no second of start-up)."""
    result = CliRunner().invoke(main, ["--db", str(db), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    err = result.stderr if result.stderr_bytes else ""
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, err)


def snapshot(db: Path) -> dict[str, int]:
    """Row counts, after an integrity check that must pass."""
    store = Store(db)
    try:
        assert store.query("PRAGMA integrity_check")[0]["integrity_check"] == "ok"
        return {
            t: store.query(f"SELECT count(*) AS n FROM {t}")[0]["n"]
            for t in ("incident", "participant", "event", "alert", "person")
        }
    finally:
        store.close()


def refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


# --- a write the operating system refuses half-way ---------------------------------------


def test_write_refused_mid_transaction_leaves_nothing_half_done(db_path: Path) -> None:
    code = make_incident(db_path)
    before = snapshot(db_path)
    # A 100 kB note cannot fit under a 40 kB file-size limit: the WAL write fails part-way.
    result = cli(db_path, "note", code, "x" * 100_000, limit_bytes=40_000)
    refused(result, str(db_path), "nothing was saved")
    assert snapshot(db_path) == before
    # Reading still works under the same limit: the console keeps showing what it has.
    shown = cli(db_path, "status", code, limit_bytes=40_000)
    assert shown.returncode == 0 and "Sam Spec" in shown.stdout, shown.stderr
    # With the limit gone the same command succeeds.
    assert cli(db_path, "note", code, "x" * 100_000).returncode == 0
    assert snapshot(db_path)["event"] == before["event"] + 1


def test_declare_refused_mid_transaction_pages_nobody(db_path: Path) -> None:
    """A declaration is one transaction: incident, participants, events and alerts, or none."""
    make_incident(db_path)
    store = Store(db_path)
    with store.write() as db:  # a bigger organisation, so a declaration writes many pages
        for i in range(300):
            db.execute(
                "INSERT INTO person (name, mobile, active, created_at, updated_at) "
                "VALUES (?, ?, 1, '2026-03-02T08:00:00+00:00', '2026-03-02T08:00:00+00:00')",
                [f"Extra {i} {'x' * 200}", f"+35850{i:07d}"],
            )
            pid = db.execute("SELECT max(id) FROM person").fetchone()[0]
            db.execute(
                "INSERT INTO group_member (group_id, person_id, position) VALUES (1, ?, ?)",
                [pid, i + 10],
            )
    store.close()
    before = snapshot(db_path)
    result = cli(db_path, "declare", "-t", "Second", "-c", "cards", "--yes", limit_bytes=30_000)
    refused(result, "nothing was saved")
    assert snapshot(db_path) == before  # no incident, no participant, no alert queued


# --- a real full file system ------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (needs root and a kernel that lets us mount): a real ENOSPC."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if not IS_ROOT or shutil.which("mount") is None:
        pytest.skip("mounting a tiny tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_disk(tiny_disk: Path) -> None:
    db = tiny_disk / "mim.db"
    code = make_incident(db)
    before = snapshot(db)
    filler = tiny_disk / "filler"
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY, 0o600)
    try:  # take every free byte
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    result = cli(db, "note", code, "x" * 60_000)
    refused(result, "full", "nothing was saved")
    filler.unlink()
    assert snapshot(db) == before
    assert cli(db, "note", code, "after").returncode == 0


# --- read-only ---------------------------------------------------------------------------


@pytest.fixture
def read_only(db_path: Path) -> Iterator[Path]:
    """The database file made unwritable: immutable for root, 0400 for anyone else."""
    make_incident(db_path)
    snapshot(db_path)  # closes cleanly: no WAL left beside it
    if IS_ROOT:
        if shutil.which("chattr") is None:
            pytest.skip("root ignores file modes and chattr is missing")
        done = subprocess.run(["chattr", "+i", str(db_path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip("this file system has no immutable flag")
        try:
            yield db_path
        finally:
            subprocess.run(["chattr", "-i", str(db_path)], check=False)
    else:
        db_path.chmod(0o400)
        try:
            yield db_path
        finally:
            db_path.chmod(0o600)


def test_read_only_database_refuses_writes_and_still_shows(read_only: Path) -> None:
    db = read_only
    store = Store(db)
    code = store.query("SELECT code FROM incident")[0]["code"]
    store.close()
    shown = in_process(db, "status", code)
    assert shown.returncode == 0 and "Sam Spec" in shown.stdout, shown.stderr
    result = in_process(db, "note", code, "lost?")
    refused(result, "read-only", "nothing was saved")
    timeline = in_process(db, "timeline", code)
    assert timeline.returncode == 0 and "lost?" not in timeline.stdout


# --- damaged --------------------------------------------------------------------------------


def test_damaged_database_is_refused_untouched_and_names_the_backup(db_path: Path) -> None:
    code = make_incident(db_path)
    taken = in_process(db_path, "backup")
    assert taken.returncode == 0, taken.stderr
    raw = bytearray(db_path.read_bytes())
    page = 4096
    raw[3 * page : 6 * page] = os.urandom(3 * page)  # scribble over some table pages
    db_path.write_bytes(bytes(raw))
    damaged = db_path.read_bytes()
    for args in (("status", code), ("note", code, "x"), ("info",)):
        result = in_process(db_path, *args)
        refused(result, "damaged", "restore")
        assert db_path.read_bytes() == damaged, args  # nothing wrote to it
    # The message names a backup that exists, and restoring it brings the incident back.
    backups = in_process(db_path, "backup", "--list")
    assert backups.returncode == 0, backups.stderr
    message = in_process(db_path, "status", code).stderr
    named = [w.strip("`'\".,;()") for w in message.split() if ".db" in w and "backup" in w]
    assert named and Path(named[0]).exists(), message
    restored = in_process(db_path, "restore", named[0], "--yes")
    assert restored.returncode == 0, restored.stderr
    assert in_process(db_path, "status", code).returncode == 0


# --- the console under a refused write ------------------------------------------------------


async def test_console_keeps_showing_when_a_write_is_refused(context: Context) -> None:
    """The database turns read-only under an open roll call: the action is refused in a
    notification, the roll call stays as it was, and the next action works once it is back."""
    import asyncio

    from mim_console.app import make_app
    from mim_console.screens.rollcall import RollCallScreen
    from tests.ui_data import seed_small

    seed_small(context.store, FROZEN_NOW)
    code = IncidentService(context).declare(title="Disk trouble", severity="SEV2").code
    app = make_app(context, dispatch=False)

    async def until(check: Any, seconds: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while not check():
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            await asyncio.sleep(0.05)

    def messages() -> list[str]:
        return [str(n.message) for n in app._notifications]

    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        roll = app.screen
        assert isinstance(roll, RollCallScreen)
        await until(lambda: roll.view is not None)
        before = snapshot_states(context)
        context.store.db.execute("PRAGMA query_only = ON")
        await pilot.press("u")  # unable, on the row under the cursor
        await until(lambda: any("read-only: nothing was saved" in m for m in messages()))
        assert app.screen is roll and roll.view is not None
        assert snapshot_states(context) == before
        context.store.db.execute("PRAGMA query_only = OFF")
        await pilot.press("u")
        await until(lambda: snapshot_states(context) != before)
    assert code


def snapshot_states(context: Context) -> dict[int, str]:
    rows = context.store.query("SELECT person_id, state FROM participant")
    return {r["person_id"]: r["state"] for r in rows}
