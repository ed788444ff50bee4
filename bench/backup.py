"""Backups and statistics on the large database: how long a backup takes, whether writers wait
for it, and how long `mim-console stats` takes over every past incident.

    python bench/backup.py [--db /tmp/large.db] [--rounds 3]

Builds the database with bench/gen_large.py when it is absent. Prints the machine first, then
one line per figure (the numbers docs/performance.md records).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gen_large import generate
from mim_console.config import Settings
from mim_console.data.backup import take_backup, take_backup_of_file
from mim_console.data.store import Store
from mim_console.services import stats
from mim_console.services.context import Context

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def writer_latencies(db: Path, stop: threading.Event, out: list[float]) -> None:
    """Another process's console: a small write transaction every 5 ms, each timed."""
    store = Store(db)
    try:
        n = 0
        while not stop.is_set():
            start = time.perf_counter()
            with store.write() as w:
                w.execute(
                    "INSERT INTO event (at, actor, kind, text) VALUES (?, 'bench', 'note', ?)",
                    [T0.isoformat(), f"w{n}"],
                )
            out.append(time.perf_counter() - start)
            n += 1
            time.sleep(0.005)
    finally:
        store.close()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "large.db")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"nproc {os.cpu_count()}, {platform.machine()}, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d}, load {os.getloadavg()[0]:.1f}"
    )
    if not args.db.exists():
        print(f"generating {args.db} …")
        generate(args.db, 10_000, 200, 200, 500, 200_000)
    size = args.db.stat().st_size
    print(f"database {args.db}: {size / 1e6:.1f} MB")
    folder = Path(tempfile.mkdtemp(prefix="mim-bench-backups-"))

    store = Store(args.db)
    own, shared = [], []
    for i in range(args.rounds):
        start = time.perf_counter()
        take_backup_of_file(args.db, folder, T0 + timedelta(minutes=i), keep=2)
        own.append(time.perf_counter() - start)
        start = time.perf_counter()
        take_backup(store, folder, T0 + timedelta(minutes=i, seconds=30), keep=2)
        shared.append(time.perf_counter() - start)
    print(
        f"scheduled backup (own connection), median of {args.rounds}: {ms(statistics.median(own))}"
    )
    print(f"on-demand backup (shared connection), median: {ms(statistics.median(shared))}")

    # Writers during a backup: their commit latency, against the same writer with no backup.
    for label, backup in (("idle", False), ("during backups", True)):
        stop, latencies = threading.Event(), []
        thread = threading.Thread(target=writer_latencies, args=(args.db, stop, latencies))
        thread.start()
        time.sleep(0.3)
        if backup:
            for i in range(args.rounds):
                take_backup_of_file(args.db, folder, T0 + timedelta(hours=1, minutes=i), keep=2)
        else:
            time.sleep(sum(own))
        stop.set()
        thread.join()
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0
        print(
            f"writer commits {label}: {len(latencies)}, median {ms(statistics.median(latencies))}, "
            f"p99 {ms(p99)}, max {ms(latencies[-1])}"
        )
    store.close()

    ctx = Context(Settings(db_path=args.db), clock=lambda: T0)
    for exercises in (False, True):
        start = time.perf_counter()
        found = stats.compute(ctx, exercises=exercises)
        took = time.perf_counter() - start
        print(
            f"stats{' --exercises' if exercises else ''}: {len(found.incidents)} incidents "
            f"in {ms(took)}"
        )
    ctx.close()


if __name__ == "__main__":
    main()
