"""Backups on a schedule, after every close, under a concurrent writer, and from a damaged file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mim_console import app as app_module
from mim_console.app import make_app
from mim_console.cli import main
from mim_console.config import Settings, load_settings
from mim_console.data.backup import (
    backup_due,
    list_backups,
    restore,
    take_backup,
    take_backup_of_file,
)
from mim_console.data.store import DamagedDatabase, Store
from mim_console.errors import StorageError, UserError
from mim_console.services.backups import RETRY_AFTER, BackupSchedule, backup_after_close
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import seed
from tests.slow_gate import slow_only_when_asked  # noqa: F401

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _context(db_path: Path, clock: Callable[[], datetime] = lambda: T0, **kw: object) -> Context:
    return Context(settings=Settings(db_path=db_path, **kw), clock=clock, actor="tester")  # type: ignore[arg-type]


def wait_for(check: Callable[[], bool], within: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.02)


# --- the schedule -----------------------------------------------------------------------------


def test_schedule_takes_a_backup_only_when_one_is_due(db_path: Path) -> None:
    ctx = _context(db_path, backup_every_hours=6)
    ctx.store  # noqa: B018 - the file exists
    schedule = BackupSchedule(ctx)
    first = schedule.check(T0)
    assert first is not None and first.path.exists()
    assert schedule.check(T0 + timedelta(hours=5, minutes=59)) is None
    second = schedule.check(T0 + timedelta(hours=6))
    assert second is not None and second.path != first.path
    assert [b.path for b in list_backups(schedule.folder)] == [second.path, first.path]
    state = schedule.state(T0 + timedelta(hours=7))
    assert state.next_due == T0 + timedelta(hours=12)
    ctx.close()


def test_schedule_off_keeps_retention_and_respects_keep(db_path: Path) -> None:
    off = _context(db_path, backup_every_hours=0)
    off.store  # noqa: B018
    schedule = BackupSchedule(off)
    assert schedule.every is None and schedule.check(T0) is None
    assert schedule.start_thread(every_s=0.01) is not None
    assert list_backups(schedule.folder) == []
    off.close()

    kept = _context(db_path, backup_every_hours=1, backup_keep=3)
    schedule = BackupSchedule(kept)
    for hour in range(6):
        assert schedule.check(T0 + timedelta(hours=hour)) is not None
    assert [b.taken_at for b in list_backups(schedule.folder)] == [
        T0 + timedelta(hours=h) for h in (5, 4, 3)
    ]
    kept.close()


def test_two_processes_on_one_schedule_take_one_backup(db_path: Path) -> None:
    """The console and `dispatch` both run the schedule: exactly one of them copies."""
    contexts = [_context(db_path, backup_every_hours=6) for _ in range(4)]
    contexts[0].store  # noqa: B018
    schedules = [BackupSchedule(c) for c in contexts]
    start = threading.Barrier(len(schedules))
    taken: list[object] = []

    def run(schedule: BackupSchedule) -> None:
        start.wait()
        taken.append(schedule.check(T0))

    threads = [threading.Thread(target=run, args=(s,)) for s in schedules]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([t for t in taken if t is not None]) == 1
    assert len(list_backups(schedules[0].folder)) == 1
    for c in contexts:
        c.close()


def test_a_failing_backup_is_reported_then_retried_later_not_every_minute(
    db_path: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup folder should be")
    ctx = _context(db_path, backup_every_hours=6, backup_dir=blocker)
    ctx.store  # noqa: B018
    schedule = BackupSchedule(ctx)
    with pytest.raises(StorageError, match="not-a-folder"):
        schedule.check(T0)
    assert schedule.check(T0 + timedelta(minutes=1)) is None  # quiet while it waits
    blocker.unlink()
    taken = schedule.check(T0 + RETRY_AFTER)
    assert taken is not None and taken.path.parent == blocker
    ctx.close()


def test_the_thread_runner_reports_problems_and_stops(db_path: Path, tmp_path: Path) -> None:
    ctx = _context(db_path, clock=lambda: datetime.now(UTC), backup_every_hours=6)
    ctx.store  # noqa: B018
    schedule = BackupSchedule(ctx)
    stop = schedule.start_thread(every_s=0.05)
    try:
        wait_for(lambda: len(list_backups(schedule.folder)) == 1, what="first backup")
    finally:
        stop()
    time.sleep(0.1)
    assert len(list_backups(schedule.folder)) == 1  # due every 6 h, not every check

    bad = tmp_path / "blocked"
    bad.write_text("x")
    problems: list[str] = []
    failing = BackupSchedule(_context(db_path, backup_every_hours=6, backup_dir=bad))
    stop = failing.start_thread(on_problem=problems.append, every_s=0.05)
    try:
        wait_for(lambda: bool(problems), what="a reported problem")
    finally:
        stop()
    assert problems[0].startswith("scheduled backup failed:") and str(bad) in problems[0]
    ctx.close()


async def test_the_console_takes_scheduled_backups_off_the_ui_thread(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "BACKUP_FIRST_S", 0.05)  # soon after start...
    monkeypatch.setattr(app_module, "BACKUP_CHECK_S", 0.1)  # ...then often, finding it fresh
    ctx = _context(db_path, clock=lambda: datetime.now(UTC), backup_every_hours=6)
    seed(ctx.store, FROZEN_NOW)
    folder = ctx.settings.resolved_backup_dir()
    app = make_app(ctx, dispatch=False)
    async with app.run_test() as pilot:
        for _ in range(100):
            if list_backups(folder):
                break
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        workers = [w.name for w in app.workers]
    backups = list_backups(folder)
    assert len(backups) == 1, "one backup: later checks find it fresh"
    assert "scheduled backup" in workers or backups  # ran as a worker, never inline
    conn = sqlite3.connect(backups[0].path)
    assert conn.execute("SELECT count(*) FROM person").fetchone()[0] == 10
    conn.close()
    ctx.close()


def test_dispatch_takes_a_scheduled_backup_and_says_where(tmp_path: Path, db_path: Path) -> None:
    """`mim-console dispatch` (here without Twilio: it still runs, and still backs up)."""
    Store(db_path).close()
    env = {**os.environ, "MIM_CONSOLE_DB": str(db_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mim_console", "dispatch"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    folder = db_path.parent / "backups"
    try:
        wait_for(lambda: bool(list_backups(folder)), within=20, what="dispatch's backup")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"a backup every 6 h into {folder}" in " ".join(out.split())


def test_watch_keeps_the_backup_schedule_too(db_path: Path) -> None:
    """`mim-console watch` may be the only thing running for hours during an incident."""
    ctx = _context(db_path, clock=lambda: FROZEN_NOW)
    seed(ctx.store, FROZEN_NOW)
    code = IncidentService(ctx).declare(title="Cards down", severity="SEV1", categories=["cards"])
    ctx.close()
    folder = db_path.parent / "backups"
    assert not list_backups(folder)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mim_console", "--db", str(db_path), "watch", code.code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: bool(list_backups(folder)), within=20, what="watch's backup")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    conn = sqlite3.connect(list_backups(folder)[0].path)
    found = conn.execute("SELECT count(*) FROM incident WHERE code = ?", [code.code]).fetchone()
    conn.close()
    assert found == (1,)


def test_backup_every_hours_is_checked_where_it_is_written(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('backup_every_hours = "often"\n')
    with pytest.raises(UserError, match=r"config.toml: backup_every_hours must be a number"):
        load_settings(config, environ={})
    config.write_text("backup_every_hours = -1\n")
    with pytest.raises(UserError, match="0 or more"):
        load_settings(config, environ={})
    config.write_text("backup_keep = 0\n")
    with pytest.raises(UserError, match="backup_keep must be a whole number, 1 or more"):
        load_settings(config, environ={})
    config.write_text("backup_every_hours = 0\nbackup_keep = 5\n")
    settings = load_settings(config, environ={})
    assert settings.backup_every is None and settings.backup_keep == 5
    config.write_text("backup_every_hours = 1.5\n")
    assert load_settings(config, environ={}).backup_every == timedelta(hours=1, minutes=30)


def test_backup_list_says_where_and_when(db_path: Path) -> None:
    Store(db_path).close()
    out = CliRunner().invoke(main, ["--db", str(db_path), "backup", "--list"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "a backup every 6 h while a console" in text
    assert "one after every incident close" in text
    assert str((db_path.parent / "backups").absolute()) in text
    info = json.loads(CliRunner().invoke(main, ["--db", str(db_path), "info", "--json"]).output)
    assert info["latest_backup"] is None and info["backup_every_hours"] == 6
    taken = CliRunner().invoke(main, ["--db", str(db_path), "backup", "--json"])
    info = json.loads(CliRunner().invoke(main, ["--db", str(db_path), "info", "--json"]).output)
    assert info["latest_backup"] == json.loads(taken.output)["path"]


# --- backup on close --------------------------------------------------------------------------


def test_closing_an_incident_takes_a_backup_holding_the_close(db_path: Path) -> None:
    ctx = _context(db_path, clock=lambda: FROZEN_NOW)
    seed(ctx.store, FROZEN_NOW)
    service = IncidentService(ctx)
    code = service.declare(title="Payments down", severity="SEV1", categories=["cards"]).code
    service.close(code)
    assert service.warnings == []
    backups = list_backups(ctx.settings.resolved_backup_dir())
    assert len(backups) == 1
    conn = sqlite3.connect(backups[0].path)
    status = conn.execute("SELECT status FROM incident WHERE code = ?", [code]).fetchone()[0]
    conn.close()
    assert status == "closed", "the backup is taken after the close is committed"
    ctx.close()


def test_a_failed_backup_never_stops_the_close(db_path: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "backups-blocked"
    blocker.write_text("a file, not a folder")
    ctx = _context(db_path, clock=lambda: FROZEN_NOW, backup_dir=blocker)
    seed(ctx.store, FROZEN_NOW)
    service = IncidentService(ctx)
    code = service.declare(title="Payments down", severity="SEV1", categories=["cards"]).code
    closed = service.close(code)
    assert closed.status.value == "closed"
    assert service.incident(code).status.value == "closed"
    assert len(service.warnings) == 1
    assert service.warnings[0].startswith(f"{code} is closed, but the backup after closing failed")
    assert str(blocker) in service.warnings[0]
    _, warning = backup_after_close(ctx, code, FROZEN_NOW)
    assert warning
    ctx.close()

    # Through the CLI: exit 0 (the close happened) and the warning on the way out.
    again = _context(db_path, clock=lambda: FROZEN_NOW)
    code2 = IncidentService(again).declare(title="Again", severity="SEV2", categories=["cards"])
    again.close()
    config = tmp_path / "config.toml"
    config.write_text(f'backup_dir = "{blocker}"\n')
    result = CliRunner().invoke(
        main, ["--db", str(db_path), "--config", str(config), "close", code2.code]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"{code2.code} closed" in text and "the backup after closing failed" in text


# --- consistency under a writer in another process ---------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, sqlite3, time, pathlib
    db, stop = sys.argv[1], pathlib.Path(sys.argv[2])
    conn = sqlite3.connect(db, isolation_level=None, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    n = 0
    while not stop.exists():
        # A pair in one transaction: a party and the timeline event that records it.
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute("INSERT INTO party (name) VALUES (?)", [f"W{n}"])
        conn.execute(
            "INSERT INTO event (at, actor, kind, text) VALUES (?, 'w', 'party', ?)",
            ["2026-03-02T08:00:00+00:00", str(cur.lastrowid)],
        )
        conn.execute("COMMIT")
        n += 1
        if n % 25 == 0:
            print(n, flush=True)
    conn.close()
    """
)


def _pairs(path: Path) -> tuple[str, int, int, int]:
    conn = sqlite3.connect(path)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        parties = conn.execute("SELECT count(*) FROM party").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM event WHERE kind = 'party'").fetchone()[0]
        unmatched = conn.execute(
            "SELECT count(*) FROM party WHERE CAST(id AS TEXT) NOT IN "
            "(SELECT text FROM event WHERE kind = 'party')"
        ).fetchone()[0]
    finally:
        conn.close()
    return check, parties, events, unmatched


@pytest.mark.parametrize("rounds", [6, pytest.param(40, marks=pytest.mark.slow)])
def test_backups_taken_while_another_process_writes_restore_consistently(
    db_path: Path, tmp_path: Path, rounds: int
) -> None:
    store = Store(db_path)
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db_path), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    folder = tmp_path / "backups"
    taken = []
    try:
        assert writer.stdout is not None
        writer.stdout.readline()  # it is writing
        for i in range(rounds):
            at = T0 + timedelta(seconds=i)
            # Both ways: the scheduled one (own connection) and the on-demand one (shared).
            if i % 2:
                taken.append(take_backup_of_file(db_path, folder, at, keep=rounds))
            else:
                taken.append(take_backup(store, folder, at, keep=rounds))
            time.sleep(0.01)
    finally:
        stop.touch()
        writer.wait(timeout=30)
    assert writer.returncode == 0
    counts = []
    for backup in taken:
        check, parties, events, unmatched = _pairs(backup.path)
        assert check == "ok"
        assert parties == events and unmatched == 0, "a backup never holds half a pair"
        counts.append(parties)
    assert counts == sorted(counts) and counts[-1] > counts[0], "the writer kept writing"
    # A restore of a middle backup gives back exactly that snapshot, in the live file.
    middle = taken[len(taken) // 2]
    restore(store, middle.path, folder, T0 + timedelta(minutes=5), keep=rounds)
    assert _pairs(db_path) == ("ok", counts[len(taken) // 2], counts[len(taken) // 2], 0)
    store.close()


# --- a damaged database -------------------------------------------------------------------------


def test_damaged_database_names_the_latest_backup_and_restore_fixes_it(
    db_path: Path, tmp_path: Path
) -> None:
    ctx = _context(db_path)
    seed(ctx.store, FROZEN_NOW)
    folder = ctx.settings.resolved_backup_dir()
    take_backup(ctx.store, folder, T0 - timedelta(hours=1))
    latest = take_backup(ctx.store, folder, T0)
    ctx.close()
    for extra in ("-wal", "-shm"):
        Path(f"{db_path}{extra}").unlink(missing_ok=True)
    db_path.write_bytes(b"garbage, not SQLite " * 500)

    with pytest.raises(DamagedDatabase) as caught:
        _context(db_path).store  # noqa: B018
    message = str(caught.value)
    assert str(latest.path) in message and f"mim-console restore {latest.path}" in message

    runner = CliRunner()
    refused = runner.invoke(main, ["--db", str(db_path), "status", "MI-1"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    text = "".join(refused.output.split())
    assert "isdamaged" in text and f"mim-consolerestore{latest.path}".replace(" ", "") in text
    assert db_path.read_bytes().startswith(b"garbage"), "nothing was written to it"

    restored = runner.invoke(main, ["--db", str(db_path), "restore", str(latest.path), "--yes"])
    assert restored.exit_code == 0, restored.output
    kept = [p for p in folder.iterdir() if p.name.startswith("damaged-")]
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"garbage"), "kept, not deleted"
    store = Store(db_path)
    try:
        assert store.query("SELECT count(*) AS n FROM person")[0]["n"] == 10
    finally:
        store.close()


def test_damaged_database_without_backups_says_so(db_path: Path) -> None:
    db_path.write_bytes(b"\x00" * 100 + b"nonsense" * 100)
    result = CliRunner().invoke(main, ["--db", str(db_path), "incidents"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "is damaged" in text and "no backup was found in" in text
    assert "mim-console restore FILE" in text


def test_restoring_a_damaged_backup_over_a_damaged_database_changes_nothing(
    db_path: Path, tmp_path: Path
) -> None:
    db_path.write_bytes(b"garbage " * 300)
    bad_backup = tmp_path / "bad.db"
    bad_backup.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    result = CliRunner().invoke(main, ["--db", str(db_path), "restore", str(bad_backup), "--yes"])
    assert result.exit_code == 1
    assert db_path.read_bytes() == b"garbage " * 300
    assert not list((db_path.parent).glob(".*restoring*"))


def test_restore_tells_a_backup_file_from_an_incident(db_path: Path, tmp_path: Path) -> None:
    """`restore FILE` (database) and `restore INCIDENT` (service restored) share one name."""
    ctx = _context(db_path, clock=lambda: FROZEN_NOW)
    seed(ctx.store, FROZEN_NOW)
    code = IncidentService(ctx).declare(title="Down", severity="SEV1", categories=["cards"]).code
    ctx.close()
    runner = CliRunner()
    done = runner.invoke(main, ["--db", str(db_path), "restore", code])
    assert done.exit_code == 0, done.output
    assert f"{code} restored" in done.output
    store = Store(db_path)
    assert store.query("SELECT status FROM incident")[0]["status"] == "restored"
    store.close()
    neither = runner.invoke(main, ["--db", str(db_path), "restore", "MI-1999-999"])
    assert neither.exit_code == 1
    assert "not a file either" in " ".join(neither.output.split())
    missing = runner.invoke(main, ["--db", str(db_path), "restore", str(tmp_path / "gone.db")])
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_restore_over_a_malformed_database_in_the_same_process(
    db_path: Path,
) -> None:
    """A file SQLite opens but quick_check refuses (pages damaged, header intact): restored in
    the same process that was refused it, the new database and its WAL stay healthy."""
    import gc

    ctx = _context(db_path)
    seed(ctx.store, FROZEN_NOW)
    folder = ctx.settings.resolved_backup_dir()
    good = take_backup(ctx.store, folder, T0)
    with ctx.store.write() as db:
        for i in range(300):
            db.execute(
                "INSERT INTO event (at, actor, kind, text) VALUES (?, 'x', 'note', ?)",
                [T0.isoformat(), "filler " * 40 + str(i)],
            )
    ctx.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ctx.close()
    with open(db_path, "r+b") as f:  # a page in the middle, header intact
        f.seek(4096 * 6)
        f.write(b"\xa5" * 4096 * 3)
    with pytest.raises(DamagedDatabase):
        Store(db_path)

    result = CliRunner().invoke(main, ["--db", str(db_path), "restore", str(good.path), "--yes"])
    assert result.exit_code == 0, result.output
    store = Store(db_path)
    with store.write() as db:
        db.execute("INSERT INTO party (name) VALUES ('After restore')")
    gc.collect()  # any stray connection to the damaged file would close (and unlink) now
    assert Path(f"{db_path}-wal").exists()
    other = Store(db_path)
    try:
        assert other.query("SELECT count(*) AS n FROM party WHERE name = 'After restore'")[0]["n"]
        assert other.query("PRAGMA integrity_check")[0]["integrity_check"] == "ok"
    finally:
        other.close()
        store.close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    offsets=st.lists(st.integers(0, 100_000), min_size=1, max_size=10, unique=True),
    keep=st.integers(1, 4),
    every_h=st.integers(1, 12),
)
def test_retention_and_due_whatever_the_order_backups_come_in(
    tmp_path_factory: pytest.TempPathFactory, offsets: list[int], keep: int, every_h: int
) -> None:
    """Backups in any order (a clock set back): the one just taken always survives, with the
    newest of the others up to `keep`; one is due exactly when the newest is `every` old."""
    base = tmp_path_factory.mktemp("r")
    store = Store(base / "m.db")
    folder = base / "backups"
    model: list[int] = []
    try:
        for offset in offsets:
            taken = take_backup(store, folder, T0 + timedelta(seconds=offset), keep=keep)
            assert taken.path.exists() and taken.size > 0
            model = [offset, *sorted(model, reverse=True)[: keep - 1]]
    finally:
        store.close()
    kept = [b.taken_at for b in list_backups(folder)]
    newest = sorted(model, reverse=True)
    assert kept == [T0 + timedelta(seconds=s) for s in newest]
    assert all(p.suffix == ".db" or p.name == ".lock" for p in folder.iterdir())
    every = timedelta(hours=every_h)
    last = T0 + timedelta(seconds=newest[0])
    assert not backup_due(folder, last + every - timedelta(seconds=1), every)
    assert backup_due(folder, last + every, every)


def test_a_clock_set_back_does_not_stop_the_schedule(db_path: Path) -> None:
    ctx = _context(db_path, backup_every_hours=6)
    ctx.store  # noqa: B018
    schedule = BackupSchedule(ctx)
    future = schedule.check(T0 + timedelta(days=2))  # taken while the clock ran ahead
    assert future is not None
    now = schedule.check(T0)  # the clock was corrected: still backed up, once
    assert now is not None and now.path.exists() and future.path.exists()
    assert schedule.check(T0 + timedelta(hours=1)) is None
    assert schedule.check(T0 + timedelta(hours=6)) is not None
    ctx.close()
