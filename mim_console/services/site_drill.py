"""`mim-console drill takeover`: the whole two-site story rehearsed on copies.

A scratch folder gets a copy of this database (the live one is only read), a scratch
``file://`` replica and two scratch "sites". Site A runs `mim-console dispatch` on the copy with
every Twilio setting removed from its environment, so nothing can be sent; site B follows with
`mim-console standby --headless`. Then, step by step and timed: B refuses a write; `takeover` at
B is refused while A lives; A and its Litestream are killed with SIGKILL (a sudden loss);
`takeover` is retried until A's lease lapses; B's copy is compared with A's, table by table.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mim_console.data import drill_copies
from mim_console.errors import UserError
from mim_console.services.context import Context

_SECRET_ENV = ("TWILIO_", "MIM_TWILIO_", "MIM_CONSOLE_", "MIM_REPLICA_", "MIM_MODEM_")
COMPARED = ("person", "party", "incident", "participant", "alert", "event", "setting")


@dataclass
class Step:
    what: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class DrillReport:
    folder: Path
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


class _Site:
    def __init__(self, root: Path, name: str, url: str) -> None:
        self.folder = root / name
        self.folder.mkdir(parents=True)
        self.name = name
        self.db = self.folder / "mim.db"
        self.config = self.folder / "config.toml"
        self.log = self.folder / "out.log"
        self.config.write_text(f'[replica]\nurl = "{url}"\nsite = "{name}"\n', encoding="utf-8")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SECRET_ENV)}
        env.update(MIM_CONSOLE_CONFIG=str(self.config), MIM_CONSOLE_DB=str(self.db))
        env["MIM_CONSOLE_ACTOR"] = "drill"
        return env

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "mim_console", *args],
            env=self.env(),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mim_console", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )


def _wait(cond: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _kill_site(proc: subprocess.Popen[bytes]) -> None:
    found = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    for pid in found.stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    proc.kill()
    proc.wait(10)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def drill_takeover(
    ctx: Context, *, keep: bool = False, say: Callable[[str], None] = lambda _t: None
) -> DrillReport:
    """Rehearse replicate → follow → refuse → lose the site → take over, on copies."""
    if not ctx.db_path.exists():
        raise UserError(f"{ctx.db_path}: no database to drill on")
    root = Path(tempfile.mkdtemp(prefix="mim-drill-takeover-"))
    os.chmod(root, 0o700)
    report = DrillReport(root)
    url = (root / "replica").as_uri()
    a, b = _Site(root, "drill-site-a", url), _Site(root, "drill-site-b", url)
    primary = follower = None
    started = time.monotonic()

    def step(what: str, ok: bool, since: float, detail: str = "") -> None:
        report.steps.append(Step(what, ok, time.monotonic() - since, detail))
        tail = f": {detail}" if detail else ""
        say(f"{'✔' if ok else '✖'} {what} ({time.monotonic() - since:.1f} s){tail}")
        if not ok:
            raise _Stop

    try:
        t = time.monotonic()
        drill_copies.copy_without_leases(ctx.store, a.db)
        step("copied this database for site A (nothing is sent: no Twilio settings)", True, t)
        t = time.monotonic()
        primary = a.spawn("dispatch", "--lease-ttl", "1")
        beat = lambda: drill_copies.has_site(a.db, "drill-site-a")  # noqa: E731
        step("site A replicates to the scratch replica", _wait(beat, 60), t, url)
        t = time.monotonic()
        follower = b.spawn("standby", "--headless")
        copy = b.db.with_name(b.db.name + "-txid")
        step("site B follows the replica", _wait(copy.exists, 120), t)
        t = time.monotonic()
        refused = b.run("party", "add", "Drill party")
        words = "standby: read-only"
        step("site B refuses a write", refused.returncode == 1 and words in refused.stderr, t)
        t = time.monotonic()
        early = b.run("takeover", "--margin", "2")
        step(
            "take-over refused while site A lives",
            early.returncode == 1 and "refused" in early.stderr,
            t,
        )
        t = time.monotonic()
        _kill_site(primary)
        primary = None
        step("site A lost without warning (kill -9 of its dispatcher and Litestream)", True, t)
        t = time.monotonic()
        deadline = time.monotonic() + 120
        done = b.run("takeover", "--margin", "2")
        while done.returncode != 0 and "refused" in done.stderr and time.monotonic() < deadline:
            time.sleep(1)
            done = b.run("takeover", "--margin", "2")
        step(
            "take-over at site B once site A's lease lapsed",
            done.returncode == 0,
            t,
            done.stderr.strip().splitlines()[-1] if done.returncode else "",
        )
        with contextlib.suppress(subprocess.TimeoutExpired):
            follower.wait(20)
        t = time.monotonic()
        mine = drill_copies.table_counts(a.db, COMPARED)
        theirs = drill_copies.table_counts(b.db, COMPARED)
        same = {k: v for k, v in mine.items() if theirs.get(k) != v and k != "event"}
        step(
            "site B holds what site A wrote (rows per table)",
            not same and theirs["event"] >= mine["event"],
            t,
            ", ".join(f"{k} {v}" for k, v in theirs.items()),
        )
        t = time.monotonic()
        wrote = b.run("party", "add", "Drill party")
        step("site B writes now", wrote.returncode == 0, t)
    except _Stop:
        pass
    finally:
        _stop(follower)
        _stop(primary)
        say(f"drill took {time.monotonic() - started:.0f} s")
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return report


class _Stop(Exception):
    """A failed step ends the drill (the report says which)."""
