"""Replication to a second site during a fan-out: how far behind the standby is, and what
replicating costs the fan-out, side by side with replication off in the same run.

Each round, twice (replication off, then on): a fresh database, `mim-console dispatch` as a
subprocess (with `[replica] url` = a ``file://`` folder when on), the Twilio stand-in on its own
thread (``--latency-ms`` per request); when on, `mim-console standby --headless` follows the
replica into a copy. 500 alerts are committed at once; the fan-out time runs from that commit
until every alert's SID is stored at the primary. The standby's lag, per alert, is the time from
its SID being stored at the primary (``sent_at``) to its SID first seen in the standby's copy
(sampled every ``--sample-ms``).

Run: ``python bench/replication.py [--alerts 500] [--latency-ms 100] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from mim_console.clock import from_iso, utcnow
from mim_console.data import outbox
from mim_console.data.outbox import AlertDraft
from mim_console.data.store import Store
from mim_console.domain.alerts import Channel, Purpose
from mim_console.standin import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDER,
    StandIn,
    ThreadedStandIn,
)


def env_for(folder: Path, standin: ThreadedStandIn | None) -> dict[str, str]:
    env = {
        **os.environ,
        "MIM_CONSOLE_CONFIG": str(folder / "config.toml"),
        "MIM_CONSOLE_DB": str(folder / "mim.db"),
    }
    if standin is not None:
        env.update(
            TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
            MIM_TWILIO_FROM=DEFAULT_SENDER,
            MIM_TWILIO_API_URL=standin.url,
        )
    return env


def spawn(folder: Path, standin: ThreadedStandIn | None, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mim_console", *args],
        env=env_for(folder, standin),
        stdout=(folder / "out.log").open("ab"),
        stderr=subprocess.STDOUT,
    )


def read(path: Path, sql: str) -> list[tuple[object, ...]]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def wait(cond: object, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {what}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def one(base: Path, standin: ThreadedStandIn, n: int, replicate: bool, sample_s: float) -> dict:
    primary = base / ("on" if replicate else "off") / "a"
    second = primary.parent / "b"
    primary.mkdir(parents=True)
    second.mkdir()
    url = (primary.parent / "replica").as_uri()
    text = f'[replica]\nurl = "{url}"\nsite = "A"\n' if replicate else ""
    (primary / "config.toml").write_text(text, encoding="utf-8")
    (second / "config.toml").write_text(f'[replica]\nurl = "{url}"\n', encoding="utf-8")
    db, copy = primary / "mim.db", second / "mim.db"
    Store(db).close()
    dispatcher = spawn(primary, standin, "dispatch")
    follower = None
    try:
        wait(lambda: read(db, "SELECT 1 FROM lease WHERE name = 'dispatcher'"), 30, "the lease")
        if replicate:
            follower = spawn(second, None, "standby", "--headless")
            wait(lambda: (second / "mim.db-txid").exists(), 60, "the standby's copy")
        store = Store(db)
        drafts = [
            AlertDraft(f"+3585{i:07d}", Channel.SMS, Purpose.ALERT, f"bench #{i}") for i in range(n)
        ]
        with store.write() as w:
            outbox.enqueue(w, drafts, utcnow())
        committed = utcnow()
        store.close()
        seen: dict[str, datetime] = {}
        done_at = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if done_at is None:
                count = read(db, "SELECT COUNT(*) FROM alert WHERE provider_sid IS NOT NULL")
                if count and count[0][0] == n:
                    done_at = utcnow()
            if replicate:
                now = utcnow()
                for (sid,) in read(
                    copy, "SELECT provider_sid FROM alert WHERE provider_sid IS NOT NULL"
                ):
                    seen.setdefault(str(sid), now)
                if len(seen) == n:
                    break
            elif done_at is not None:
                break
            time.sleep(sample_s)
        if done_at is None:
            raise SystemExit("the fan-out did not finish")
        result = {"fan_out_s": (done_at - committed).total_seconds()}
        if replicate:
            sent = {
                str(sid): from_iso(str(at))
                for sid, at in read(db, "SELECT provider_sid, sent_at FROM alert")
                if sid is not None
            }
            lags = [(seen[sid] - at).total_seconds() for sid, at in sent.items() if sid in seen]
            result.update(
                lag_median_s=statistics.median(lags),
                lag_max_s=max(lags),
                lag_n=len(lags),
                standby_done_s=(max(seen.values()) - committed).total_seconds(),
            )
        return result
    finally:
        if follower is not None:
            stop(follower)
        stop(dispatcher)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample-ms", type=float, default=50.0)
    args = parser.parse_args()
    standin = StandIn.start_in_thread(latency=args.latency_ms / 1000)
    rows = []
    try:
        for r in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="mim-bench-repl-") as folder:
                base = Path(folder)
                off = one(base, standin, args.alerts, False, args.sample_ms / 1000)
                on = one(base, standin, args.alerts, True, args.sample_ms / 1000)
            rows.append({"round": r + 1, "off": off, "on": on})
            print(
                f"round {r + 1}: fan-out {off['fan_out_s']:.2f} s off, {on['fan_out_s']:.2f} s on;"
                f" standby lag median {on['lag_median_s']:.2f} s, max {on['lag_max_s']:.2f} s"
                f" (last alert at the standby {on['standby_done_s']:.2f} s after the commit)",
                flush=True,
            )
    finally:
        standin.stop()

    def med(key: str, mode: str) -> float:
        return statistics.median(row[mode][key] for row in rows)

    summary = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPU, {platform.python_version()}",
        "date": datetime.now(UTC).date().isoformat(),
        "alerts": args.alerts,
        "latency_ms": args.latency_ms,
        "fan_out_off_s": med("fan_out_s", "off"),
        "fan_out_on_s": med("fan_out_s", "on"),
        "lag_median_s": med("lag_median_s", "on"),
        "lag_max_s": max(row["on"]["lag_max_s"] for row in rows),
        "rounds": rows,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
