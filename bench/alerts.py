"""Alert fan-out through the whole dispatcher: outbox rows in SQLite → lease-fenced claims →
TwilioNotifier → the stand-in (in its own process, so its CPU is not counted here).

For 50 and 100 in flight: wall time from the commit of 500 alerts until all are accepted (their
SIDs stored), against the floor (alerts / in flight × latency); when the first request reached
the stand-in after the commit; and this process's CPU time per alert (dispatcher bookkeeping,
SQLite writes, the SDK and aiohttp together). For comparison, in the same run: the same creates
through the SDK alone (no outbox), and a plain sequential loop over the SDK's synchronous client.

Run: ``python bench/alerts.py [--alerts 500] [--latency-ms 150] [--rounds 3] [--sequential 40]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from twilio.rest import Client

from mim_console.clock import from_iso, utcnow
from mim_console.config import TwilioSettings
from mim_console.data import outbox
from mim_console.data.outbox import AlertDraft
from mim_console.data.store import Store
from mim_console.notifiers.dispatcher import Dispatcher, DispatcherConfig
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_SENDER


def _control(url: str, action: str) -> object:
    data = None if action == "log" else b"{}"
    request = urllib.request.Request(
        f"{url}/_standin/{action}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _accepted(store: Store) -> int:
    with store.read() as db:
        return outbox.counts(db)["accepted"]


async def _watch_loop(stalls: list[float], stop: asyncio.Event) -> None:
    """How late a 5 ms timer fires: what a console sharing this loop would feel."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        stalls.append(time.perf_counter() - before - 0.005)


async def _fan_out(url: str, alerts: int, in_flight: int) -> tuple[float, float, float, float]:
    """(wall s, first request ms after commit, CPU s, worst loop stall ms) for one fan-out."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        settings = TwilioSettings(
            account_sid=DEFAULT_ACCOUNT_SID,
            auth_token=DEFAULT_AUTH_TOKEN,
            sender=DEFAULT_SENDER,
            api_url=url,
        )
        notifier = TwilioNotifier(settings, timeout=30)
        routes = twilio_routes(notifier)
        d = Dispatcher(store, routes, config=DispatcherConfig(max_in_flight=in_flight))
        task = asyncio.create_task(d.run())
        # Warm-up: lease taken, connection pool open (not a cold-start test).
        with store.write() as db:
            outbox.enqueue(db, [AlertDraft("+358400000000", "sms", "test", "warm-up")], utcnow())
        while _accepted(store) < 1:  # noqa: ASYNC110 - watching another component's writes
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        _control(url, "clear_log")
        drafts = [
            AlertDraft(f"+3584{i:08d}", "sms", "alert", "MI-2026-007 bench alert. Reply 1 to join.")
            for i in range(alerts)
        ]
        # Committed as another process would (no wake-up call): the dispatcher's own polling
        # must notice it.
        with store.write() as db:
            outbox.enqueue(db, drafts, utcnow())
        committed = utcnow()
        cpu0 = time.process_time()  # from the commit on: queueing is the declaring code's cost
        # Watched from the commit on: the bench's own 500-row insert is not the dispatcher's.
        stalls: list[float] = []
        watching = asyncio.Event()
        watcher = asyncio.create_task(_watch_loop(stalls, watching))
        while _accepted(store) < alerts + 1:  # noqa: ASYNC110 - coarse: the end time is read back
            await asyncio.sleep(0.02)
        cpu = time.process_time() - cpu0
        watching.set()
        await watcher
        with store.read() as db:
            last = db.execute("SELECT MAX(sent_at) FROM alert WHERE purpose = 'alert'").fetchone()
        wall = (from_iso(last[0]) - committed).total_seconds()
        d.stop()
        await task
        await notifier.aclose()
        store.close()
    log = _control(url, "log")
    assert isinstance(log, list)
    first = min(from_iso(e["at"]) for e in log if e["method"] == "POST")
    return wall, (first - committed).total_seconds() * 1000, cpu, max(stalls) * 1000


async def _raw(url: str, alerts: int, in_flight: int) -> tuple[float, float, float]:
    """The same creates with no outbox, lease or bookkeeping: what the dispatcher adds to."""
    settings = TwilioSettings(
        account_sid=DEFAULT_ACCOUNT_SID,
        auth_token=DEFAULT_AUTH_TOKEN,
        sender=DEFAULT_SENDER,
        api_url=url,
    )
    notifier = TwilioNotifier(settings, timeout=30)
    await notifier.send_sms("+358400000000", "warm-up")
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with gate:
            await notifier.send_sms(f"+3584{i:08d}", "MI-2026-007 bench alert. Reply 1 to join.")

    _control(url, "clear_log")
    cpu0, wall0, started = time.process_time(), time.perf_counter(), utcnow()
    await asyncio.gather(*(one(i) for i in range(alerts)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await notifier.aclose()
    log = _control(url, "log")
    assert isinstance(log, list)
    first = min(from_iso(e["at"]) for e in log if e["method"] == "POST")
    return wall, cpu, (first - started).total_seconds() * 1000


def _sequential(url: str, requests: int) -> float:
    client = Client(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    client.api.base_url = url
    client.messages.create(to="+358400000000", from_=DEFAULT_SENDER, body="warm-up")
    wall0 = time.perf_counter()
    for i in range(requests):
        client.messages.create(to=f"+3584{i:08d}", from_=DEFAULT_SENDER, body="bench alert")
    return time.perf_counter() - wall0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=40, help="0 to skip")
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mim_console.standin",
            "--latency-ms",
            str(args.latency_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        print(
            f"machine: nproc {os.cpu_count()}, {platform.machine()}, "
            f"python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d}"
        )
        print(f"{args.alerts} SMS alerts, {args.latency_ms:g} ms latency, median of {args.rounds}")
        print()
        print(
            "| path | in flight | wall (s) | floor (s) | × floor | first request (ms) "
            "| CPU ms / alert | worst loop stall (ms) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for in_flight in (50, 100):
            floor = args.alerts / in_flight * latency
            runs = []
            for _ in range(args.rounds):
                _control(url, "reset")
                runs.append(asyncio.run(_fan_out(url, args.alerts, in_flight)))
            wall = statistics.median(r[0] for r in runs)
            first = statistics.median(r[1] for r in runs)
            cpu_ms = statistics.median(r[2] for r in runs) / args.alerts * 1000
            stall = statistics.median(r[3] for r in runs)
            print(
                f"| dispatcher | {in_flight} | {wall:.2f} | {floor:.2f} | {wall / floor:.2f} | "
                f"{first:.0f} | {cpu_ms:.2f} | {stall:.0f} |"
            )
            raw = []
            for _ in range(args.rounds):
                _control(url, "reset")
                raw.append(asyncio.run(_raw(url, args.alerts, in_flight)))
            wall = statistics.median(r[0] for r in raw)
            cpu_ms = statistics.median(r[1] for r in raw) / args.alerts * 1000
            first = statistics.median(r[2] for r in raw)
            print(
                f"| SDK alone (no outbox) | {in_flight} | {wall:.2f} | {floor:.2f} | "
                f"{wall / floor:.2f} | {first:.0f} | {cpu_ms:.2f} | |"
            )
        if args.sequential:
            _control(url, "reset")
            per = _sequential(url, args.sequential) / args.sequential
            total = per * args.alerts
            print(
                f"| sync SDK, sequential | 1 | {total:.1f} (from {args.sequential}) | "
                f"{args.alerts * latency:.1f} | {total / (args.alerts * latency):.2f} | | | |"
            )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
