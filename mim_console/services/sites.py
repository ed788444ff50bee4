"""Two sites: replicate (the primary), follow (the standby), take over (fenced).

The CLI and the console call these; the Litestream processes are in ``data/replica.py``, the
database side (site row, take-over transaction, follower copy) in ``data/sites.py`` and
``data/standby.py``. docs/sites.md tells the whole story for the people who run it.
"""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mim_console.clock import utcnow
from mim_console.data import replica, sites, standby
from mim_console.data.lease import new_holder_id
from mim_console.data.replica import ReplicaPosition
from mim_console.data.replicator import ReplicationStatus, Replicator
from mim_console.data.standby import FollowerStore
from mim_console.data.store import Store
from mim_console.errors import UserError
from mim_console.services.context import Context

#: Added to the old site's lease TTL before a take-over is allowed: covers the standby being a
#: little behind and the two sites' clocks disagreeing by a few seconds.
DEFAULT_MARGIN_S = 10.0


def site_name(ctx: Context) -> str:
    return ctx.settings.replica.site.strip() or socket.gethostname()


def binary(ctx: Context) -> Path:
    return replica.litestream_binary(ctx.settings.replica.litestream)


def is_standby(ctx: Context) -> bool:
    return standby.is_standby_copy(ctx.db_path)


#: The words every write on a standby copy is refused in.
REFUSAL = standby.REFUSAL


def refuse_on_standby(ctx: Context) -> None:
    """A command that would send or write the whole file (`dispatch`, `restore`) is refused on
    a standby copy in the standby's words, before it starts."""
    if is_standby(ctx):
        raise standby.StandbyReadOnly()


# ------------------------------------------------------------------------ replication


def start_replication(ctx: Context, *, lease_ttl_s: float = 5.0) -> Replicator | None:
    """Replicate while this process holds the replica lease (None: `[replica] url` unset, or
    this is a standby copy, which never replicates)."""
    url = ctx.settings.replica.url
    if not url or is_standby(ctx):
        return None
    return Replicator(
        ctx.store, url, site=site_name(ctx), binary=binary(ctx), lease_ttl_s=lease_ttl_s
    ).start()


def replication_info(ctx: Context) -> dict[str, Any]:
    """For `info`: where the replica is, who replicates, how far behind it is."""
    settings = ctx.settings.replica
    data: dict[str, Any] = {"replica_url": settings.url or None, "site": site_name(ctx)}
    if is_standby(ctx):
        status = standby_status(ctx)
        data.update(
            standby_of=status.site or None,
            standby_behind_s=status.behind_s,
            standby_following=status.following,
        )
        return data
    if not settings.url:
        return data
    with ctx.store.read() as db:
        signs = sites.last_signs(db)
    now = utcnow()
    if signs.site is not None:
        data["writer_site"] = signs.site.name
        data["writer_since"] = signs.site.since.isoformat()
        data["writer_replica_url"] = signs.site.replica_url
        if signs.site.reconcile_until is not None and signs.site.reconcile_until > now:
            data["lookups_before_sending_until"] = signs.site.reconcile_until.isoformat()
    holder = signs.replicator
    data["replicating"] = holder is not None and holder.expires_at > now
    data["replicator"] = holder.holder if holder is not None else None
    try:
        exe = binary(ctx)
        position = replica.replica_position(exe, settings.url)
        with tempfile.TemporaryDirectory(prefix="mim-litestream-") as folder:
            config = replica.write_config(Path(folder), ctx.db_path, settings.url)
            local = replica.local_txid(exe, config, ctx.db_path)
    except UserError as exc:
        data["replica_problem"] = str(exc)
        return data
    data["litestream"] = str(exe)
    data["replica_position"] = position.label if position else None
    data["local_txid"] = f"{local:016x}" if local is not None else None
    behind = local is not None and (position is None or position.txid < local)
    data["replica_behind"] = behind
    if position is not None:
        data["replica_written_s_ago"] = round((now - position.at).total_seconds())
    return data


#: A beat older than this: nothing replicates (the replicator beats every second).
BEAT_STALE_S = 15.0


def replication_finding(ctx: Context, now: datetime) -> tuple[bool, str, str] | None:
    """Readiness: (ok, message, fix) about replication, judged from the replicated ``site``
    row alone, so every console agrees; None when this database was never replicated."""
    with ctx.store.read() as db:
        site = sites.current(db)
    if site is None:
        return None
    url = site.replica_url or "its replica"
    age = (now - site.beat_at).total_seconds()
    if age <= BEAT_STALE_S:
        return True, f"site {site.name} replicates to {url}", ""
    minutes = age / 60
    ago = f"{age:.0f} s" if age < 120 else f"{minutes:.0f} min"
    return (
        False,
        f"nothing has replicated to {url} for {ago} (last: site {site.name})",
        "start `mim-console dispatch` (or the console) at the writing site with [replica] url "
        "set; a lost site: `mim-console takeover` at the standby (docs/sites.md)",
    )


def replication_line(status: ReplicationStatus | None) -> tuple[str, bool]:
    """The banner's words for replication and whether all is well ("" when not configured)."""
    if status is None:
        return "", True
    return status.line(), status.healthy or not status.holder


class SiteWatch:
    """The console's view of two sites: on a standby copy, whose copy and how far behind; on
    a primary with `[replica] url`, its replicator (started on the first ``line()``, off the
    UI thread: it opens the store) and how far behind the replica is."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.standby = is_standby(ctx)
        self.replicator: Replicator | None = None
        self._started = False

    @property
    def active(self) -> bool:
        return self.standby or bool(self.ctx.settings.replica.url)

    def line(self) -> tuple[str, bool]:
        """The banner's words and whether all is well (call on a worker thread)."""
        if self.standby:
            status = standby_status(self.ctx)
            return status.line(), status.following
        if not self._started:
            self._started = True
            try:
                self.replicator = start_replication(self.ctx)
            except UserError as exc:
                return f"✖ replica NOT RUNNING: {exc}", False
        if self.replicator is None:
            return "", True
        return replication_line(self.replicator.status())

    def stop(self) -> None:
        if self.replicator is not None:
            self.replicator.stop()


# ------------------------------------------------------------------------ standby


@dataclass(frozen=True)
class StandbyStatus:
    site: str  # whose copy this is (the writer's site as replicated)
    behind_s: float | None  # seconds since the writer's last replicated beat
    following: bool  # a follower is applying the replica's changes
    problem: str

    def line(self) -> str:
        who = self.site or "the primary"
        lag = "lag unknown" if self.behind_s is None else f"{self.behind_s:.0f} s behind"
        head = f"STANDBY of {who}, {lag}"
        if not self.following:
            return f"{head} · ✖ not following{': ' + self.problem if self.problem else ''}"
        return f"{head} · read-only: `mim-console takeover` to take over"


class _Following:
    """The follower this process runs (the standby console shows its state)."""

    follower: replica.Follower | None = None


def standby_status(ctx: Context, now: datetime | None = None) -> StandbyStatus:
    at = now or utcnow()
    with ctx.store.read() as db:
        site = sites.current(db)
    follower = _Following.follower
    if follower is not None:
        following = follower.running()
        problem = "" if following else follower.proc.problem()
    else:
        marker = standby.read_marker(ctx.db_path) or {}
        following = standby.pid_alive(marker.get("pid"))
        problem = "" if following else "no `mim-console standby` runs for this copy"
    return StandbyStatus(
        site=site.name if site else "",
        behind_s=max(0.0, (at - site.beat_at).total_seconds()) if site else None,
        following=following,
        problem=problem,
    )


def _check_target(db_path: Path) -> bool:
    """May a standby write its copy to ``db_path``? True when a copy is there to overwrite."""
    marker = standby.read_marker(db_path)
    if marker is not None:
        pid = marker.get("pid")
        if pid != os.getpid() and standby.pid_alive(pid):
            raise UserError(f"a standby (pid {pid}) already follows into {db_path}")
        return db_path.exists()
    if db_path.exists() and db_path.stat().st_size > 0:
        raise UserError(
            f"{db_path} is a database, not a standby copy: a standby never overwrites one; "
            "choose another --db"
        )
    return False


def restore_copy(ctx: Context, url: str, db_path: Path) -> Path:
    """`standby --once`: a read-only copy of the replica's latest state at ``db_path``."""
    force = _check_target(db_path)
    standby.write_marker(db_path, url=url, pid=None, started=utcnow().isoformat())
    try:
        replica.restore_once(binary(ctx), url, db_path, force=force)
    except BaseException:
        if not force:
            standby.clear_marker(db_path)
        raise
    os.chmod(db_path, 0o600)
    return db_path


def start_following(ctx: Context, url: str, db_path: Path, wait_s: float = 120) -> replica.Follower:
    """`standby`: follow the replica into ``db_path`` (returns once the copy can be opened)."""
    force = _check_target(db_path)
    exe = binary(ctx)
    _wait_for_replica(exe, url, wait_s)
    standby.write_marker(db_path, url=url, pid=os.getpid(), started=utcnow().isoformat())
    follower = replica.Follower(exe, url, db_path, force=force)
    try:
        follower.start(wait_s)
    except BaseException:
        standby.write_marker(db_path, url=url, pid=None, started=utcnow().isoformat())
        if not force and not db_path.exists():
            standby.clear_marker(db_path)
        raise
    _Following.follower = follower
    return follower


def _wait_for_replica(exe: Path, url: str, wait_s: float) -> None:
    """A standby started before the primary shipped its first snapshot waits for it."""
    deadline = time.monotonic() + wait_s
    while replica.replica_position(exe, url) is None:
        if time.monotonic() > deadline:
            raise UserError(f"{url} holds no database yet (is the primary replicating to it?)")
        time.sleep(1.0)


def stop_following(db_path: Path) -> None:
    follower, _Following.follower = _Following.follower, None
    if follower is not None:
        follower.stop()
    marker = standby.read_marker(db_path)
    if marker is not None and marker.get("pid") == os.getpid():
        standby.write_marker(db_path, **{**marker, "pid": None})


# ------------------------------------------------------------------------ take-over


@dataclass(frozen=True)
class TakeoverResult:
    record: sites.TakeoverRecord
    url: str
    db_path: Path
    replicated: bool
    problem: str


def _wait_caught_up(
    db_path: Path, position: ReplicaPosition | None, pid: Any, wait_s: float = 15.0
) -> None:
    """Let the running follower apply everything the replica holds before it is stopped."""
    if position is None or not standby.pid_alive(pid):
        return
    deadline = time.monotonic() + wait_s
    path = standby.txid_path(db_path)
    while time.monotonic() < deadline:
        try:
            if int(path.read_text(encoding="ascii").strip(), 16) >= position.txid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)


def _stop_standby_process(pid: Any, wait_s: float = 20.0) -> None:
    if not standby.pid_alive(pid) or pid == os.getpid():
        return
    os.kill(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and standby.pid_alive(pid):
        time.sleep(0.1)
    if standby.pid_alive(pid):
        raise UserError(f"the standby (pid {pid}) did not stop; stop it and run takeover again")


def take_over(
    ctx: Context,
    *,
    force: bool = False,
    reason: str = "",
    margin_s: float = DEFAULT_MARGIN_S,
    say: Callable[[str], None] = lambda _text: None,
) -> TakeoverResult:
    """Make this site the writer of the standby copy at ``ctx.db_path``, fenced.

    Refused while the old site shows a sign of life younger than its lease TTL plus
    ``margin_s`` (its dispatcher's or replicator's lease, its replicated beat, or a change
    shipped to the replica): two writers would page people twice. ``force`` after a human
    decision (the old site is known dead or cut off), recorded with ``reason``.
    """
    db_path = ctx.db_path
    marker = standby.read_marker(db_path)
    if marker is None:
        raise UserError(
            f"{db_path} is not a standby copy (no {standby.marker_path(db_path).name}): "
            "nothing to take over; start one with `mim-console standby --from URL`"
        )
    if force and not reason.strip():
        raise UserError("--force needs --reason: who decided, and why the old site is gone")
    url = ctx.settings.replica.url or str(marker.get("url") or "")
    if not url:
        raise UserError("no replica URL: set [replica] url (the one the old site replicated to)")
    exe = binary(ctx)
    now = utcnow()
    position = replica.replica_position(exe, url)
    pid = marker.get("pid")
    _wait_caught_up(db_path, position, pid)
    margin = timedelta(seconds=margin_s)
    store = ctx.store
    with store.read() as db:
        signs = sites.last_signs(db)
    alive_until = signs.fresh_until(margin)
    # The replica's times are whole seconds: one more for the part cut off.
    shipped_until = position.at + margin + timedelta(seconds=1) if position else None
    fresh = [m for m in (alive_until, shipped_until) if m is not None and m > now]
    if fresh and not force:
        wait = max((m - now).total_seconds() for m in fresh)
        old = signs.site.name if signs.site else "the primary"
        raise UserError(
            f"refused: {old} showed a sign of life too recently (its lease, beat or replica "
            f"change); it may still be sending. Wait {wait:.0f} s and retry, or, once you know "
            "it is down or cut off, `takeover --force --reason '…'`"
        )
    say("stopping the standby's follower")
    _stop_standby_process(pid)
    if _Following.follower is not None:
        stop_following(db_path)
    again = replica.replica_position(exe, url)
    if position is not None and again is not None and again.txid > position.txid and not force:
        raise UserError("refused: the replica moved while taking over; the primary still writes")
    ctx.close()
    standby.clear_marker(db_path)
    for extra in (standby.txid_path(db_path),):
        extra.unlink(missing_ok=True)
    label = position.label if position else "empty replica"
    holder = new_holder_id()
    writable = Store(db_path)
    try:
        with writable.write() as db:
            record = sites.take_over(
                db,
                site=site_name(ctx),
                holder=holder,
                actor=ctx.actor,
                url=url,
                now=utcnow(),
                position=label,
                forced=force,
                reason=reason.strip(),
            )
    finally:
        writable.close()
    say(f"site {record.site} writes now; {record.marked} unsent alert(s) will be looked up first")
    problem = ""
    try:
        ship_once(exe, db_path, url)
    except UserError as exc:
        problem = str(exc)
    return TakeoverResult(record, url, db_path, replicated=not problem, problem=problem)


def ship_once(exe: Path, db_path: Path, url: str) -> None:
    """One `litestream replicate -once`: the take-over is on the replica before anyone acts."""
    with tempfile.TemporaryDirectory(prefix="mim-litestream-") as folder:
        config = replica.write_config(Path(folder), db_path, url)
        replica.run_litestream(exe, ["replicate", "-once", "-config", str(config)], timeout=120)


__all__ = [
    "DEFAULT_MARGIN_S",
    "REFUSAL",
    "FollowerStore",
    "SiteWatch",
    "StandbyStatus",
    "TakeoverResult",
    "is_standby",
    "refuse_on_standby",
    "replication_info",
    "replication_line",
    "restore_copy",
    "site_name",
    "standby_status",
    "start_following",
    "start_replication",
    "stop_following",
    "take_over",
]
