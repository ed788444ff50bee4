"""The primary's side of two sites: ``litestream replicate`` run and supervised under the
replica lease, the beat a standby measures its lag by, and how far behind the replica is.

The Litestream processes themselves and the replica's position are in ``data/replica.py``.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mim_console.clock import Clock, utcnow
from mim_console.data import sites
from mim_console.data.lease import Lease
from mim_console.data.replica import (
    LitestreamProcess,
    ReplicaPosition,
    local_txid,
    replica_position,
    write_config,
)
from mim_console.data.store import Store
from mim_console.errors import UserError

log = logging.getLogger("mim_console.replica")

#: The lease that says which process replicates (its own, beside the dispatcher's: a process
#: without Twilio credentials never takes the dispatcher's, yet its writes must be shipped).
REPLICA_LEASE = sites.REPLICA_LEASE


@dataclass(frozen=True)
class ReplicationStatus:
    """What the banner, `info` and readiness say about replication from this process."""

    url: str
    site: str
    holder: bool  # this process replicates (holds the replica lease)
    running: bool  # its Litestream is alive
    restarts: int
    problem: str  # the last thing that went wrong, in words ("" when nothing did)
    local_txid: int | None
    replica: ReplicaPosition | None
    lag_s: float | None  # seconds the replica has been behind the database (0: caught up)
    checked_at: datetime | None

    @property
    def healthy(self) -> bool:
        return self.running and not self.problem and (self.lag_s is None or self.lag_s < 10)

    def line(self) -> str:
        """One line: ``replica ✔ 0 s behind`` and the like (words carry it, not colour)."""
        if not self.holder:
            return "replica: another mim-console process replicates"
        if not self.running:
            tail = f": {self.problem}" if self.problem else ""
            return f"✖ replica NOT RUNNING (restarts {self.restarts}){tail}"
        if self.lag_s is None:
            return "… replica starting"
        mark = "✔" if self.healthy else "⚠"
        return f"{mark} replica {self.lag_s:.0f} s behind"


class Replicator:
    """Runs and supervises ``litestream replicate`` while this process holds the replica lease.

    A thread of its own beats every ``beat_s``: renew the lease, (re)start Litestream if it is
    not running (after a backoff when it keeps dying), record the beat the standby reads its
    lag from, and every ``check_s`` ask how far the replica is behind. Losing the lease stops
    Litestream at once: a second replicator on one database must never run.
    """

    def __init__(
        self,
        store: Store,
        url: str,
        *,
        site: str,
        binary: Path,
        lease_ttl_s: float = 5.0,
        beat_s: float = 1.0,
        check_s: float = 5.0,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.url = url
        self.site = site
        self.binary = binary
        self.beat_s = beat_s
        self.check_s = check_s
        self.clock = clock
        self.lease = Lease(store, name=REPLICA_LEASE, ttl_s=lease_ttl_s, clock=clock)
        self.restarts = 0
        self.problem = ""
        self.local: int | None = None
        self.replica: ReplicaPosition | None = None
        self.checked_at: datetime | None = None
        self._behind_since: float | None = None
        self._holding = False
        self._proc: LitestreamProcess | None = None
        self._folder = Path(tempfile.mkdtemp(prefix="mim-litestream-"))
        self._config: Path | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_start = 0.0
        self._failures = 0
        self._died = False  # the last Litestream died: the next start is a restart
        self._verified = False  # the replica is not ahead of this database (checked once)
        self._next_check = 0.0
        self._lock = threading.Lock()

    # -- control ------------------------------------------------------------------------
    def start(self) -> Replicator:
        self._thread = threading.Thread(target=self._run, name="mim-replicator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.running() else None

    def status(self) -> ReplicationStatus:
        with self._lock:
            lag = None
            if self.checked_at is not None:
                lag = 0.0
                if self._behind_since is not None:
                    lag = time.monotonic() - self._behind_since
            proc = self._proc
            return ReplicationStatus(
                url=self.url,
                site=self.site,
                holder=self._holding,
                running=proc is not None and proc.running(),
                restarts=self.restarts,
                problem=self.problem,
                local_txid=self.local,
                replica=self.replica,
                lag_s=lag,
                checked_at=self.checked_at,
            )

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._turn()
                self._stop.wait(self.beat_s)
        finally:
            self._stop_litestream()
            if self._holding:
                self._checkpoints(automatic=True)
                with contextlib.suppress(UserError):
                    self.lease.release()
            self._holding = False
            shutil.rmtree(self._folder, ignore_errors=True)

    def _turn(self) -> None:
        try:
            holding = self.lease.try_acquire()
        except UserError as exc:
            self.problem = f"lease: {exc}"
            holding = False
        if not holding:
            if self._holding:
                log.warning("replicator %s lost the replica lease", self.lease.holder)
                self._checkpoints(automatic=True)
            self._holding = False
            self._stop_litestream()
            return
        if not self._holding:
            self._checkpoints(automatic=False)
        self._holding = True
        try:
            sites.beat(self.store, self.site, self.lease.holder, self.url, self.clock())
        except UserError as exc:
            log.warning("replica beat not recorded: %s", exc)
        self._ensure_running()
        mono = time.monotonic()
        if mono >= self._next_check and self._proc is not None and self._proc.running():
            self._next_check = mono + self.check_s
            self._check()

    def _checkpoints(self, *, automatic: bool) -> None:
        """While Litestream runs beside this process, it checkpoints, not our connection.

        Litestream's docs: the application's automatic checkpoints race Litestream's (it
        recovers, at the price of a fresh snapshot). The process that replicates is the one
        that writes most (the dispatcher shares its connection), so its connection stops
        checkpointing while it replicates and starts again when it stops; other processes
        commit rarely and only checkpoint past 1,000 WAL pages, which Litestream's own
        checkpoints (every minute, or at 1,000 pages) keep the WAL below.
        """
        pages = 1000 if automatic else 0
        try:
            with self.store.read() as db:
                db.execute(f"PRAGMA wal_autocheckpoint = {pages}")
        except UserError as exc:  # pragma: no cover - the connection is already open
            log.warning("wal_autocheckpoint: %s", exc)

    def _replica_ahead(self) -> str:
        """Why this database must not be shipped to the replica, or "".

        A replica holding more than this database knows was written by another site (a
        take-over): shipping this database over it would mix two histories. Checked before
        each first start; a take-over's own `replicate -once` has aligned its copy already.
        """
        assert self._config is not None
        try:
            local = local_txid(self.binary, self._config, self.store.path)
            remote = replica_position(self.binary, self.url)
        except UserError as exc:
            return str(exc)
        if remote is not None and (local is None or remote.txid > local):
            return (
                f"the replica {self.url} is ahead of {self.store.path} "
                f"(txid {remote.txid:016x} > {local or 0:016x}): another site writes it; "
                "make this site a standby (docs/sites.md, fail back)"
            )
        return ""

    def _ensure_running(self) -> None:
        proc = self._proc
        if proc is not None and proc.running():
            if time.monotonic() - proc.started_at > 30:
                self._failures = 0  # it has stayed up: the next death restarts at once
            return
        mono = time.monotonic()
        if proc is not None:  # it died
            code = proc.exit_code()
            self.problem = proc.problem() or f"litestream exited with status {code}"
            log.warning("litestream replicate exited (%s): %s", code, self.problem)
            self._proc = None
            self._died = True
            self._failures += 1
            self._next_start = mono + min(30.0, 2.0 ** (self._failures - 1) - 1)
        if mono < self._next_start:
            return
        try:
            self._config = write_config(self._folder, self.store.path, self.url)
            if not self._verified:
                refused = self._replica_ahead()
                if refused:
                    self.problem = refused
                    self._next_start = mono + 30.0
                    log.error("not replicating: %s", refused)
                    return
                self._verified = True
            new = LitestreamProcess(self.binary, ["replicate", "-config", str(self._config)])
            new.start()
        except OSError as exc:
            self.problem = f"cannot start litestream: {exc}"
            self._failures += 1
            self._next_start = mono + min(30.0, 2.0**self._failures)
            return
        if self._died:
            self.restarts += 1
            self._died = False
        self._proc = new
        log.info("litestream replicating %s to %s (pid %s)", self.store.path, self.url, new.pid)

    def _check(self) -> None:
        assert self._config is not None
        try:
            local = local_txid(self.binary, self._config, self.store.path)
            replica = replica_position(self.binary, self.url)
        except UserError as exc:
            self.problem = str(exc)
            return
        with self._lock:
            self.local = local
            self.replica = replica
            self.checked_at = self.clock()
            behind = local is not None and (replica is None or replica.txid < local)
            if not behind:
                self._behind_since = None
                self.problem = ""
            elif self._behind_since is None:
                # Seen behind for the first time: count from the previous check at most.
                self._behind_since = time.monotonic()

    def _stop_litestream(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.stop()
