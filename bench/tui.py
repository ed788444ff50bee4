"""Console benchmarks: cold start, Directory filter latency, a busy roll call, memory.

    python bench/gen_large.py /tmp/large.db
    python bench/tui.py /tmp/large.db [--runs 5] [--json]

Cold start is measured side by side with an empty Textual app in the same run: each is a fresh
``python`` process timed from spawn until its first screen is painted (headless), alternating so
that disk cache and CPU frequency treat both alike. The other figures run in this process with
Textual's Pilot driving the real app on a copy of the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# --- children: one cold start each ------------------------------------------------------------


def painted(app: Any) -> None:
    """Called once the first screen with its data has been painted: report when (monotonic
    clock, shared by all processes on Linux) and the CPU spent so far, then leave."""
    report = {
        "painted_at": time.monotonic(),
        "cpu_at_paint_s": time.process_time(),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(report), flush=True)
    app.exit()


def child_empty() -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import Footer, Header, Static

    class Empty(App[None]):
        def compose(self) -> ComposeResult:
            yield Header()
            yield Static("empty")
            yield Footer()

        def on_mount(self) -> None:
            self.call_after_refresh(painted, self)

    Empty().run(headless=True)


def child_duty(db: str) -> None:
    """`mim-console --db DB` through the real entry point (`mim_console.cli:main`), headless:
    the only change is that the console is told to run headless and to watch for the first
    painted Duty screen with its data. Nothing is imported ahead of the entry point (the CLI
    starts opening the database before it imports Textual)."""
    import mim_console.cli.tui as console_command
    from mim_console.cli import main

    def watch(app: Any) -> None:
        from mim_console.screens.duty import DutyScreen

        def check() -> None:
            screen = app.screen
            if isinstance(screen, DutyScreen) and screen.shown_once:
                app.call_after_refresh(painted, app)
            else:
                app.set_timer(0.002, check)

        check()

    real_run_console = console_command.run_console

    def headless(context: Any) -> None:
        real_run_console(context, headless=True, on_start=watch)

    console_command.run_console = headless
    main(["--db", db], standalone_mode=False)


def cold_start(db: Path, runs: int) -> dict[str, Any]:
    """Both apps started ``runs`` times, alternating, after one discarded start of each.

    Timed from just before the spawn to the moment the child has painted its first screen (the
    Duty screen with its data); CPU is the child's own up to that moment (all its threads).
    Work the console goes on doing after that (a readiness check, the dispatcher) is not in
    the figure, nor is shutting down.

    The children may write bytecode (into a private cache directory, not the source tree), as
    an installed package has it: with PYTHONDONTWRITEBYTECODE set, every start would compile the
    console's own modules again while Textual's come precompiled, which is not what a duty
    manager's machine does.
    """
    wall: dict[str, list[float]] = {"empty": [], "duty": []}
    cpu: dict[str, list[float]] = {"empty": [], "duty": []}
    rss: list[float] = []
    with tempfile.TemporaryDirectory(prefix="mim-pyc-") as pyc:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = pyc
        for run in range(runs + 1):
            for mode in ("empty", "duty"):
                args = [sys.executable, str(Path(__file__)), "--child", mode, str(db)]
                started = time.monotonic()
                done = subprocess.run(
                    args, capture_output=True, text=True, check=True, cwd=ROOT, env=env
                )
                report = json.loads(done.stdout.strip().splitlines()[-1])
                if run == 0:
                    continue  # the warm-up: fills the bytecode cache and the disk cache
                wall[mode].append(report["painted_at"] - started)
                cpu[mode].append(report["cpu_at_paint_s"])
                if mode == "duty":
                    rss.append(report["maxrss_mb"])
    e, d = statistics.median(wall["empty"]), statistics.median(wall["duty"])
    ce, cd = statistics.median(cpu["empty"]), statistics.median(cpu["duty"])
    return {
        "empty_app_s": round(e, 3),
        "duty_screen_s": round(d, 3),
        "ratio": round(d / e, 2),
        "ratio_per_pair": sorted(
            round(b / a, 2) for a, b in zip(wall["empty"], wall["duty"], strict=True)
        ),
        "empty_app_cpu_s": round(ce, 3),
        "duty_screen_cpu_s": round(cd, 3),
        "cpu_ratio": round(cd / ce, 2),
        "duty_maxrss_mb": round(max(rss), 1),
        "runs": runs,
    }


# --- in-process: directory filter, roll call under load ----------------------------------------


def press(app: Any, key: str) -> None:
    """A key as the terminal driver delivers it (Pilot's press also waits for idle CPU,
    which under load measures the machine, not the console)."""
    from textual import events

    name = {" ": "space"}.get(key, key)
    event = events.Key(name, key if len(key) == 1 else None)
    event.set_sender(app)
    app._driver.send_message(event)


async def until(condition: Callable[[], bool], step: float = 0.0005) -> None:
    """Wait for the UI to reach a state (its messages run on this same event loop)."""
    while True:
        if condition():
            return
        await asyncio.sleep(step)


async def directory_filter(db: Path, text: str, rounds: int = 3) -> dict[str, Any]:
    """Type ``text`` into the Directory filter, then delete it with Backspace, ``rounds`` times.

    Typing forward narrows the previous matches; each Backspace widens the query, so the
    filter runs over all 10,000 people again: the worst case. Each keystroke is timed from
    the key's delivery to the list painted with its result.
    """
    from textual.widgets import Input

    from mim_console.app import make_app
    from mim_console.config import Settings
    from mim_console.screens.directory import DirectoryScreen
    from mim_console.services.context import Context

    context = Context(settings=Settings(db_path=db))
    app = make_app(context, dispatch=False)
    typing: list[float] = []
    deleting: list[float] = []
    cpu: list[float] = []
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.go(DirectoryScreen())
        screen = app.screen
        assert isinstance(screen, DirectoryScreen)
        await until(lambda: screen.shown_once)
        screen.query_one("#dir-filter", Input).focus()
        await pilot.pause()
        rows = 0
        for _ in range(rounds):
            for key, into in [
                *((ch, typing) for ch in text),
                *(("backspace", deleting),) * len(text),
            ]:
                generation = screen.generation
                painted = asyncio.Event()
                started, cpu_started = time.perf_counter(), time.process_time()
                press(app, key)
                await until(lambda g=generation: screen.generation != g)  # type: ignore[misc]
                app.call_after_refresh(painted.set)
                await painted.wait()
                into.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
                if key != "backspace":
                    rows = screen.query_one("#dir-table").row_count  # type: ignore[attr-defined]
                await pilot.pause()
    context.close()
    both = typing + deleting

    def ms(values: list[float], q: float) -> float:
        return round(sorted(values)[max(0, int(len(values) * q + 0.5) - 1)] * 1000, 1)

    return {
        "keystrokes": len(both),
        "median_ms": round(statistics.median(both) * 1000, 1),
        "p95_ms": ms(both, 0.95),
        "max_ms": round(max(both) * 1000, 1),
        "typing_median_ms": round(statistics.median(typing) * 1000, 1),
        "backspace_median_ms": round(statistics.median(deleting) * 1000, 1),
        "cpu_median_ms": round(statistics.median(cpu) * 1000, 1),
        "rows_after_typing": rows,
        "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def busy_incident(db: Path, participants: int) -> tuple[int, list[int]]:
    """An active incident with ``participants`` people, written straight into the copy."""
    conn = sqlite3.connect(db)
    now = datetime.now(UTC).isoformat()
    cur = conn.execute(
        "INSERT INTO incident (code, reply_code, title, severity, status, declared_at) "
        "VALUES ('MI-2099-001', 'Z9', 'Bench: everything is down', 'SEV1', 'active', ?)",
        [now],
    )
    incident_id = int(cur.lastrowid or 0)
    people = [r[0] for r in conn.execute("SELECT id FROM person LIMIT ?", [participants])]
    conn.executemany(
        "INSERT INTO participant (incident_id, person_id, role, party_id, state, alerted_at, "
        "state_changed_at) SELECT ?, id, 'mrt', party_id, 'alerted', ?, ? FROM person WHERE id = ?",
        [(incident_id, now, now, pid) for pid in people],
    )
    conn.commit()
    ids = [
        r[0]
        for r in conn.execute("SELECT id FROM participant WHERE incident_id = ?", [incident_id])
    ]
    conn.close()
    return incident_id, ids


CHURN = """
import sqlite3, sys, time
db, incident = sys.argv[1], int(sys.argv[2])
per_second, seconds = int(sys.argv[3]), float(sys.argv[4])
conn = sqlite3.connect(db, timeout=10)
ids = [r[0] for r in conn.execute("SELECT id FROM participant WHERE incident_id = ?", [incident])]
states = ["joined", "alerted", "unable", "escalated"]
n, batch, end = 0, max(1, per_second // 20), time.monotonic() + seconds
while time.monotonic() < end:
    tick = time.monotonic()
    rows = [(states[(n + k) % 4], ids[(n * 7 + k * 13) % len(ids)]) for k in range(batch)]
    conn.executemany("UPDATE participant SET state = ? WHERE id = ?", rows)
    conn.commit()
    n += batch
    time.sleep(max(0.0, 0.05 - (time.monotonic() - tick)))
print(n)
"""


async def busy_roll_call(
    db: Path, participants: int, per_second: int, seconds: float
) -> dict[str, Any]:
    from textual.widgets import DataTable

    from mim_console.app import make_app
    from mim_console.config import Settings
    from mim_console.screens.rollcall import RollCallScreen
    from mim_console.services.context import Context

    incident_id, _ = busy_incident(db, participants)
    context = Context(settings=Settings(db_path=db))
    app = make_app(context, dispatch=False)
    latencies: list[float] = []
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.go(RollCallScreen(str(incident_id)))
        screen = app.screen
        assert isinstance(screen, RollCallScreen)
        await until(lambda: screen.view is not None)
        reloads_before = screen.loads
        writer = await asyncio.create_subprocess_exec(
            *[sys.executable, "-c", CHURN, str(db), str(incident_id), str(per_second)],
            str(seconds),
            stdout=asyncio.subprocess.PIPE,
        )
        table = screen.query_one("#rc-table", DataTable)
        deadline = time.perf_counter() + seconds
        key = "down"
        while time.perf_counter() < deadline:
            row = table.cursor_row
            started = time.perf_counter()
            press(app, key)
            await until(lambda r=row: table.cursor_row != r)  # type: ignore[misc]
            latencies.append(time.perf_counter() - started)
            key = "up" if table.cursor_row >= table.row_count - 1 else key
            await asyncio.sleep(0.05)
        written = int((await writer.communicate())[0].decode().strip() or 0)
        reloads = screen.loads - reloads_before
    context.close()
    return {
        "participants": participants,
        "changes_per_s_target": per_second,
        "changes_written": written,
        "seconds": seconds,
        "reloads_seen": reloads,
        "keys": len(latencies),
        "key_median_ms": round(statistics.median(latencies) * 1000, 1),
        "key_p95_ms": round(sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1000, 1),
        "key_max_ms": round(max(latencies) * 1000, 1),
        "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="console benchmarks")
    parser.add_argument("db", type=Path)
    parser.add_argument("--child", choices=["empty", "duty"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.child == "empty":
        child_empty()
        return
    if args.child == "duty":
        child_duty(str(args.db))
        return
    results: dict[str, Any] = {
        "machine": {
            "nproc": os.cpu_count(),
            "arch": platform.machine(),
            "python": platform.python_version(),
            "date": datetime.now(UTC).date().isoformat(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
    }
    results["cold_start"] = cold_start(args.db, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "bench.db"
        shutil.copy(args.db, copy)
        results["directory_filter"] = asyncio.run(directory_filter(copy, "aino 12"))
        results["roll_call"] = asyncio.run(busy_roll_call(copy, 1000, 200, args.seconds))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for section, values in results.items():
            print(section, json.dumps(values))


if __name__ == "__main__":
    main()
