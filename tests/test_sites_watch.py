"""`mim-console watch` replicates like the console and `dispatch`: the real Litestream binary, a
``file://`` replica in tmp_path, `watch` as a subprocess sending to the stand-in over HTTP.

A `watch` left running at the duty desk may be the only long-running process there; with
`[replica] url` it must run and supervise `litestream replicate`, or the second site would
follow a replica that stopped moving.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mim_console.config import Settings
from mim_console.data import standby
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import StandIn, ThreadedStandIn
from tests.conftest import FROZEN_NOW
from tests.incident_seed import seed
from tests.test_sites import Site, children, copy_query, make_site, replicating, stop, wait_for


def litestream_children(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(b"litestream") for part in cmd) and b"replicate" in cmd:
            found.append(child)
    return found


def drain(fd: int, into: bytearray) -> None:
    """Read a pseudo-terminal until its other end closes (so the writer never blocks)."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        into.extend(chunk)


def count(path: Path, sql: str) -> int:
    rows = copy_query(path, sql)
    return int(str(rows[0][0])) if rows else 0


def declared(site: Site) -> str:
    ctx = Context(settings=Settings(db_path=site.db), actor="duty manager")
    try:
        seed(ctx.store, FROZEN_NOW)
        return IncidentService(ctx).declare(title="Cards down", severity="SEV1").code
    finally:
        ctx.close()


@pytest.fixture
def standin() -> Iterator[ThreadedStandIn]:
    s = StandIn.start_in_thread()
    yield s
    s.stop()


def test_watch_replicates_and_restarts_litestream(tmp_path: Path, standin: ThreadedStandIn) -> None:
    url = (tmp_path / "replica").as_uri()
    a, b = make_site(tmp_path, "site-a", url), make_site(tmp_path, "site-b", url)
    code = declared(a)
    env = {**a.env(standin), "COLUMNS": "120", "LINES": "50"}
    master, slave = pty.openpty()  # a terminal: watch redraws its live view there
    watch = subprocess.Popen(
        [sys.executable, "-m", "mim_console", "watch", code, "--interval", "1"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=a.log.open("ab"),
    )
    os.close(slave)
    screen = bytearray()
    reader = threading.Thread(target=drain, args=(master, screen), daemon=True)
    reader.start()
    try:
        wait_for(lambda: replicating(a), 30, "watch replicating as site A", a.log)
        wait_for(lambda: bool(litestream_children(watch.pid)), 30, "watch's litestream", a.log)
        [first] = litestream_children(watch.pid)
        # watch's dispatcher sends the declaration's alerts; their SIDs reach the replica.
        sent = "SELECT COUNT(*) FROM alert WHERE provider_sid IS NOT NULL"
        wait_for(lambda: count(a.db, sent) > 0, 30, "alerts sent by watch", a.log)
        total = count(a.db, "SELECT COUNT(*) FROM alert")
        wait_for(lambda: count(a.db, sent) == total, 30, "every alert sent", a.log)
        # Supervised: a Litestream that dies is started again.
        os.kill(first, signal.SIGKILL)
        wait_for(
            lambda: litestream_children(watch.pid) not in ([], [first]),
            30,
            "a restarted litestream under watch",
            a.log,
        )
        [second] = litestream_children(watch.pid)

        def at_standby() -> bool:
            copy = b.folder / "drill.db"
            for extra in (copy, copy.with_name("drill.db.standby.json")):
                extra.unlink(missing_ok=True)
            done = b.cli("--db", str(copy), "standby", "--from", url, "--once")
            if done.returncode != 0:  # no snapshot on the replica yet
                assert "no matching backup files" in done.stderr, done.stderr
                return False
            rows = copy_query(copy, sent)
            return bool(rows) and rows[0][0] == total

        wait_for(at_standby, 60, "the sent alerts on the replica", a.log)
        incident = copy_query(b.folder / "drill.db", "SELECT code FROM incident")
        assert incident == [(code,)]
        # watch's banner shows the replica's health and lag, as the console's does.
        wait_for(
            lambda: "✔ replica 0 s behind" in screen.decode(errors="replace"),
            30,
            "the replica line on watch's banner",
            a.log,
        )
    finally:
        stop(watch)
        reader.join(10)
        os.close(master)
    assert watch.returncode == 0
    assert not standby.pid_alive(second), "watch stopped its litestream"
    log = a.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def test_watch_on_the_standby_shows_whose_copy_and_follows(
    tmp_path: Path, standin: ThreadedStandIn
) -> None:
    """At site B (Twilio configured there too), `watch` on the standby's copy: the banner's
    words, the roll call live, nothing sent and nothing written (no dispatcher, no timers)."""
    url = (tmp_path / "replica").as_uri()
    a, b = make_site(tmp_path, "site-a", url), make_site(tmp_path, "site-b", url)
    code = declared(a)
    primary = a.spawn("dispatch", "--lease-ttl", "1")
    follower = watch = None
    master, slave = pty.openpty()
    screen = bytearray()
    reader = threading.Thread(target=drain, args=(master, screen), daemon=True)
    try:
        wait_for(lambda: replicating(a), 30, "site A replicating", a.log)
        follower = b.spawn("standby", "--headless")
        wait_for(lambda: standby.txid_path(b.db).exists(), 60, "the standby's copy", b.log)
        watch = subprocess.Popen(
            [sys.executable, "-m", "mim_console", "watch", code, "--interval", "1"],
            env={**b.env(standin), "COLUMNS": "120", "LINES": "50"},
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=(b.folder / "watch.err").open("ab"),
        )
        os.close(slave)
        reader.start()

        def shown() -> str:
            return screen.decode(errors="replace")

        wait_for(lambda: "STANDBY of site-a, " in shown(), 30, "the standby banner", b.log)
        assert "Dan Biz" in shown()
        joined = a.cli("joined", code, "Dan Biz")
        assert joined.returncode == 0, joined.stderr
        wait_for(lambda: "-> joined" in shown(), 30, "A's change on B's watch", b.log)
        assert watch.poll() is None
    finally:
        for proc in (watch, follower, primary):
            if proc is not None:
                stop(proc)
        if reader.is_alive():
            reader.join(10)
        os.close(master)
    err = (b.folder / "watch.err").read_text(errors="replace")
    assert "Traceback" not in err and "read-only" not in err, err[-3000:]
    assert watch.returncode == 0
    assert standin.request_log() == []  # B's watch sent nothing, looked nothing up
