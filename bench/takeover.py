"""Losing site A mid fan-out: how long from `mim-console takeover` to the first alert sent at
site B, and what site A had committed that site B never got.

Each round: a fresh database at site A, `mim-console dispatch --lease-ttl 1` there (with
`[replica] url` = a ``file://`` folder: it runs the real Litestream), `mim-console standby
--headless` at site B, the Twilio stand-in on its own thread (``--latency-ms`` per request),
and a duty manager at A writing a timeline note every ``--note-ms`` (the events a kill can
lose). ``--alerts`` alerts are committed at once; once the standby has them and a random part
of them has been accepted, A's dispatcher *and* its Litestream are killed with SIGKILL (the
note writer stops in the same instant: it is on A too).

Data lost: site A's file, read after the kill, holds everything A committed; site B's copy at
the take-over holds what reached it. Counted: events at A missing at B (and how many seconds
before the kill the oldest of them was written), alerts missing, and alerts whose acceptance
(SID) A had stored but B had not (these B must find at Twilio, not resend).

Recovery: `takeover --margin 1` is retried every ``--retry-ms`` until the old lease has lapsed;
from the start of the `takeover` that succeeds, `mim-console dispatch` is started at B as soon
as it returns; the figure runs to the first of A's alerts the stand-in accepts from B. Every
round also checks, from the stand-in's log, that each alert was sent exactly once.

Run: ``python bench/takeover.py [--rounds 10] [--alerts 200] [--latency-ms 400]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.replication import env_for, read, spawn, stop, wait
from mim_console.clock import from_iso, utcnow
from mim_console.data import incidents, outbox
from mim_console.data.outbox import AlertDraft
from mim_console.data.store import Store
from mim_console.domain.alerts import Channel, Purpose
from mim_console.standin import StandIn, ThreadedStandIn


def site(base: Path, name: str, url: str) -> Path:
    folder = base / name
    folder.mkdir(parents=True)
    text = f'[replica]\nurl = "{url}"\nsite = "{name}"\n'
    (folder / "config.toml").write_text(text, encoding="utf-8")
    return folder


def cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mim_console", *args],
        env=env_for(folder, None),
        capture_output=True,
        text=True,
        timeout=120,
    )


def kill_site(proc: subprocess.Popen[bytes]) -> None:
    """Kill -9 the process and its children (Litestream) at once: nothing more is shipped."""
    out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
    for child in out.split():
        os.kill(int(child), signal.SIGKILL)
    proc.kill()
    proc.wait(10)


class NoteWriter:
    """The duty manager at site A: a timeline note every ``every_s`` until stopped."""

    def __init__(self, db: Path, every_s: float) -> None:
        self.store = Store(db)
        self.every_s = every_s
        self.written = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.store.write() as db:
                incidents.append_event(
                    db,
                    incident_id=None,
                    at=utcnow(),
                    actor="duty manager",
                    kind="note",
                    text=f"note {self.written}",
                )
            self.written += 1
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.store.close()


def events(db: Path) -> set[tuple[object, ...]]:
    return set(read(db, "SELECT id, at, kind, text FROM event WHERE kind != 'takeover'"))


def alerts(db: Path) -> dict[object, object]:
    return dict(read(db, "SELECT id, provider_sid FROM alert"))


def lost_data(a_db: Path, b_db: Path, killed: datetime) -> dict[str, Any]:
    """What A committed that B's copy does not hold (B read right after the take-over)."""
    at_a, at_b = events(a_db), events(b_db)
    lost = sorted(at_a - at_b, key=lambda row: str(row[1]))
    alerts_a, alerts_b = alerts(a_db), alerts(b_db)
    sid_lost = [i for i, sid in alerts_a.items() if sid is not None and alerts_b.get(i) is None]
    sent_at = dict(read(a_db, "SELECT id, sent_at FROM alert WHERE sent_at IS NOT NULL"))
    oldest_sid = min((from_iso(str(sent_at[i])) for i in sid_lost if i in sent_at), default=None)
    return {
        "events_at_a": len(at_a),
        "events_lost": len(lost),
        "events_lost_s": (killed - from_iso(str(lost[0][1]))).total_seconds() if lost else 0.0,
        "alerts_lost": len(set(alerts_a) - set(alerts_b)),
        "sids_lost": len(sid_lost),
        "sids_lost_s": (killed - oldest_sid).total_seconds() if oldest_sid else 0.0,
    }


def take_over(b: Path, retry_s: float) -> tuple[datetime, datetime, int]:
    """Retry `takeover` until the old lease lapsed; (start of the one that worked, its end,
    how many were refused)."""
    refused = 0
    deadline = time.monotonic() + 120
    while True:
        started = utcnow()
        done = cli(b, "takeover", "--margin", "1")
        if done.returncode == 0:
            return started, utcnow(), refused
        if "refused" not in done.stderr or time.monotonic() > deadline:
            raise SystemExit(f"takeover failed: {done.stderr}")
        refused += 1
        time.sleep(retry_s)


def one(base: Path, standin: ThreadedStandIn, args: argparse.Namespace, rng: random.Random) -> dict:
    url = (base / "replica").as_uri()
    a, b = site(base, "site-a", url), site(base, "site-b", url)
    a_db, b_db = a / "mim.db", b / "mim.db"
    Store(a_db).close()
    primary = spawn(a, standin, "dispatch", "--lease-ttl", "1")
    follower = spawn(b, None, "standby", "--headless")
    second = None
    notes = NoteWriter(a_db, args.note_ms / 1000)
    try:
        wait(lambda: read(a_db, "SELECT 1 FROM site WHERE name = 'site-a'"), 60, "A replicating")
        wait(lambda: (b / "mim.db-txid").exists(), 60, "the standby's copy")
        notes.start()
        prefix = f"r{rng.randrange(10**9)}"
        before = len(standin.messages(direction="outbound-api"))
        store = Store(a_db)
        drafts = [
            AlertDraft(f"+3586{i:07d}", Channel.SMS, Purpose.ALERT, f"{prefix} alert #{i}")
            for i in range(args.alerts)
        ]
        with store.write() as w:
            outbox.enqueue(w, drafts, utcnow())
        store.close()
        first = f"SELECT 1 FROM alert WHERE body = '{prefix} alert #0'"
        wait(lambda: read(b_db, first), 60, "the fan-out at the standby")

        def sent() -> int:
            return len(standin.messages(direction="outbound-api")) - before

        low = max(sent(), args.alerts // 5)
        target = rng.randrange(low, max(low + 1, args.alerts * 4 // 5))
        wait(lambda: sent() >= target, 120, "the fan-out under way")
        time.sleep(rng.random() * args.latency_ms / 1000)  # anywhere in a request's flight
        notes.stop()
        kill_site(primary)
        killed = utcnow()
        started, ended, refused = take_over(b, args.retry_ms / 1000)
        follower.wait(30)
        lost = lost_data(a_db, b_db, killed)
        second = spawn(b, standin, "dispatch", "--lease-ttl", "1")
        dispatch_at = utcnow()
        done = (
            f"SELECT COUNT(*) FROM alert WHERE provider_sid IS NOT NULL AND body LIKE '{prefix}%'"
        )
        wait(lambda: read(b_db, done)[0][0] == args.alerts, 300, "every alert accepted at B")
        mine = [m for m in standin.messages(direction="outbound-api") if m.body.startswith(prefix)]
        at_b = sorted(m.created_at for m in mine if m.created_at > started)
        counts = Counter(m.body for m in mine)
        if len(counts) != args.alerts or max(counts.values()) != 1:
            raise SystemExit(f"lost or doubled: {args.alerts - len(counts)} lost, {counts}")
        return {
            "sent_by_a": len(mine) - len(at_b),  # with those in flight when it died
            "sent_by_b": len(at_b),
            "kill_to_takeover_s": (started - killed).total_seconds(),
            "takeovers_refused": refused,
            "takeover_cmd_s": (ended - started).total_seconds(),
            "dispatch_to_first_s": (at_b[0] - dispatch_at).total_seconds() if at_b else None,
            "takeover_to_first_s": (at_b[0] - started).total_seconds() if at_b else None,
            "takeover_to_all_s": (at_b[-1] - started).total_seconds() if at_b else None,
            "notes_written": notes.written,
            **lost,
        }
    finally:
        for proc in (second, follower, primary):
            if proc is not None:
                stop(proc)


def spread(rows: list[dict], key: str) -> dict[str, float]:
    values = [row[key] for row in rows if row[key] is not None]
    return {"median": statistics.median(values), "max": max(values), "min": min(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=400.0)
    parser.add_argument("--note-ms", type=float, default=100.0)
    parser.add_argument("--retry-ms", type=float, default=500.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    standin = StandIn.start_in_thread(latency=args.latency_ms / 1000)
    rows = []
    try:
        for r in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="mim-bench-recovery-") as folder:
                row = one(Path(folder), standin, args, rng)
            rows.append(row)
            print(
                f"round {r + 1}: A sent {row['sent_by_a']}, B {row['sent_by_b']}; takeover to "
                f"first send {row['takeover_to_first_s']:.2f} s (takeover itself "
                f"{row['takeover_cmd_s']:.2f} s); lost {row['events_lost']} events "
                f"({row['events_lost_s']:.2f} s), {row['alerts_lost']} alerts, "
                f"{row['sids_lost']} SIDs ({row['sids_lost_s']:.2f} s)",
                flush=True,
            )
    finally:
        standin.stop()
    keys = [
        "takeover_to_first_s",
        "takeover_cmd_s",
        "dispatch_to_first_s",
        "takeover_to_all_s",
        "kill_to_takeover_s",
        "events_lost",
        "events_lost_s",
        "alerts_lost",
        "sids_lost",
        "sids_lost_s",
    ]
    summary = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPU, {platform.python_version()}",
        "load": os.getloadavg()[0],
        "date": datetime.now(UTC).date().isoformat(),
        "alerts": args.alerts,
        "latency_ms": args.latency_ms,
        "note_ms": args.note_ms,
        "figures": {key: spread(rows, key) for key in keys},
        "rounds": rows,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
