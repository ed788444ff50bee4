""" "Who is on duty at t": 50 rotations with five years of overrides, in a real SQLite file.

Builds the rotations (weekly, daily and 12-hour shifts in five zones, 2 to 8 members) with two
overlapping overrides a week each for five years (≈ 26,000 overrides), loads them back through
the repository, then times:

* ``on_duty(t)`` for one rotation at random instants over the five years (per query);
* the whole board: all 50 rotations at one instant (what the home view asks);
* ``piece_at`` (who and until when), and the next handoff;
* loading all rotations with their overrides from SQLite, and the first query after loading
  (it flattens the overrides once).

    python bench/duty_lookup.py [--rotations 50] [--years 5] [--queries 20000]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mim_console.clock import to_iso
from mim_console.data import rotations as repo
from mim_console.data.store import Store

ZONES = ["Europe/Helsinki", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]
SHAPES = [("weeks", 1), ("days", 1), ("hours", 12), ("days", 2)]
START = date(2024, 1, 1)


def build(path: Path, rotations: int, years: int, seed: int = 11) -> int:
    rnd = random.Random(seed)
    store = Store(path)
    stamp = to_iso(datetime(2024, 1, 1, tzinfo=UTC))
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    span = timedelta(days=365 * years)
    overrides = 0
    with store.write() as db:
        db.execute("INSERT INTO party (id, name) VALUES (1, 'Bench')")
        for pid in range(1, 401):
            db.execute(
                "INSERT INTO person (id, name, mobile, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [pid, f"Person {pid}", f"+35840{pid:07d}", stamp, stamp],
            )
        for party in range(2, rotations + 1):
            db.execute("INSERT INTO party (id, name) VALUES (?, ?)", [party, f"Party {party}"])
        for rid in range(1, rotations + 1):
            unit, length = SHAPES[rid % len(SHAPES)]
            role = "duty_manager" if rid == 1 else "party"
            db.execute(
                "INSERT INTO rotation (id, name, role, party_id, shift_unit, shift_length, "
                "handoff_time, handoff_weekday, timezone, start_date) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    rid,
                    f"Rotation {rid}",
                    role,
                    None if rid == 1 else rid,
                    unit,
                    length,
                    f"{rnd.choice([0, 2, 8, 9, 20]):02d}:{rnd.choice([0, 30]):02d}",
                    rnd.randrange(7) if unit == "weeks" else None,
                    ZONES[rid % len(ZONES)],
                    START.isoformat(),
                ],
            )
            members = rnd.sample(range(1, 401), rnd.randint(2, 8))
            for position, person in enumerate(members):
                db.execute("INSERT INTO rotation_member VALUES (?, ?, ?)", [rid, person, position])
            week = timedelta(weeks=1)
            moment = t0
            while moment < t0 + span:
                for _ in range(2):
                    start = moment + timedelta(minutes=rnd.randrange(7 * 24 * 60))
                    end = start + timedelta(hours=rnd.randint(2, 72))
                    db.execute(
                        "INSERT INTO rotation_override (rotation_id, person_id, starts_at, "
                        "ends_at, reason) VALUES (?, ?, ?, ?, 'bench')",
                        [rid, rnd.randrange(1, 401), to_iso(start), to_iso(end)],
                    )
                    overrides += 1
                moment += week
    store.close()
    return overrides


def per_call_us(
    func: Callable[[datetime], object], args: Sequence[datetime], repeat: int = 3
) -> float:
    """Best of ``repeat`` runs, microseconds per call."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for arg in args:
            func(arg)
        best = min(best, (time.perf_counter() - started) / len(args))
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=50)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--queries", type=int, default=20000)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="duty-bench-"))
    path = folder / "bench.db"
    overrides = build(path, args.rotations, args.years)
    store = Store(path)

    started = time.perf_counter()
    with store.read() as db:
        rotations = repo.list_rotations(db)
    load_ms = (time.perf_counter() - started) * 1000
    middle = datetime(2026, 6, 1, tzinfo=UTC)
    started = time.perf_counter()
    with store.read() as db:
        near = repo.list_rotations(db, (middle - timedelta(days=60), middle + timedelta(days=400)))
        for rotation in near:
            rotation.on_duty(middle)
    window_ms = (time.perf_counter() - started) * 1000
    rnd = random.Random(3)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    seconds = 365 * args.years * 86400
    instants = [t0 + timedelta(seconds=rnd.randrange(seconds)) for _ in range(args.queries)]

    started = time.perf_counter()
    for rotation in rotations:
        rotation.on_duty(instants[0])
    first_ms = (time.perf_counter() - started) * 1000

    one = rotations[len(rotations) // 2]
    on_duty_us = per_call_us(one.on_duty, instants)
    piece_us = per_call_us(one.piece_at, instants)
    handoff_us = per_call_us(lambda t: one.handoffs(t, 1), instants[: args.queries // 10])
    all_us = [per_call_us(r.on_duty, instants[:2000], repeat=1) for r in rotations]
    board_us = per_call_us(
        lambda t: [r.on_duty(t) for r in rotations], instants[: args.queries // 10]
    )
    store.close()
    for leftover in folder.iterdir():
        leftover.unlink()
    folder.rmdir()

    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}"
    )
    print(f"date: {datetime.now(UTC):%Y-%m-%d}")
    print(f"{len(rotations)} rotations, {overrides} overrides over {args.years} years")
    print(f"load all rotations with overrides from SQLite: {load_ms:.1f} ms")
    print(
        f"load with only the overrides near t (what `duty` does) + first query: {window_ms:.1f} ms"
    )
    print(f"first query of each rotation (flattens its overrides): {first_ms:.1f} ms for all")
    print(f"on_duty(t), one rotation: {on_duty_us:.1f} µs per query")
    print(
        f"on_duty(t), per rotation: median {statistics.median(all_us):.1f} µs, "
        f"max {max(all_us):.1f} µs"
    )
    print(f"piece_at(t) (who and until when): {piece_us:.1f} µs")
    print(f"next handoff after t: {handoff_us:.1f} µs")
    print(f"all {len(rotations)} rotations at one instant: {board_us / 1000:.3f} ms")


if __name__ == "__main__":
    main()
