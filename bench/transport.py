"""Which HTTP transport under the Twilio SDK's async API: measured, not assumed.

500 message creates against the stand-in (in its own process, so its CPU is not counted) with
150 ms latency per request, at 50 and 100 in flight, for:

* ``aiohttp``: the SDK's ``AsyncTwilioHttpClient`` as subclassed in ``notifiers/twilio.py``;
* ``httpx``: an ``AsyncHttpClient`` subclass over ``httpx.AsyncClient``;
* and, for comparison, a plain sequential loop over the SDK's default synchronous client.

Reports wall time against the floor (requests / in flight × latency) and client CPU time per
request. Run: ``python bench/transport.py [--requests 500] [--rounds 3] [--sequential 40]``.
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
import time
import urllib.request
from datetime import UTC, datetime

from twilio.rest import Client

from mim_console.config import TwilioSettings
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_SENDER


def _settings(url: str) -> TwilioSettings:
    return TwilioSettings(
        account_sid=DEFAULT_ACCOUNT_SID,
        auth_token=DEFAULT_AUTH_TOKEN,
        sender=DEFAULT_SENDER,
        api_url=url,
    )


def _cpu_of(pid: int) -> float | None:
    """CPU seconds used so far by another process (Linux /proc), or None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _control(url: str, action: str) -> None:
    request = urllib.request.Request(
        f"{url}/_standin/{action}", data=b"{}", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        json.load(response)


async def _fan_out(url: str, transport: str, requests: int, in_flight: int) -> tuple[float, float]:
    notifier = TwilioNotifier(_settings(url), transport=transport, timeout=30)
    await notifier.send_sms("+358400000000", "warm-up")  # open the pool: not a cold-start test
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with gate:
            await notifier.send_sms(f"+3584{i:08d}", "MI-2026-007 bench alert. Reply 1 to join.")

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await notifier.aclose()
    return wall, cpu


def _sequential(url: str, requests: int) -> tuple[float, float]:
    client = Client(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    client.api.base_url = url
    client.messages.create(to="+358400000000", from_=DEFAULT_SENDER, body="warm-up")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(requests):
        client.messages.create(to=f"+3584{i:08d}", from_=DEFAULT_SENDER, body="bench alert")
    return time.perf_counter() - wall0, time.process_time() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
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
        print(f"{args.requests} creates, {args.latency_ms:g} ms latency, median of {args.rounds}")
        print()
        print(
            "| transport | in flight | wall (s) | floor (s) | × floor | CPU ms / request "
            "| stand-in CPU ms / request |"
        )
        print("|---|---|---|---|---|---|---|")
        for in_flight in (50, 100):
            floor = args.requests / in_flight * latency
            for transport in ("aiohttp", "httpx"):
                walls, cpus, server_cpus = [], [], []
                for _ in range(args.rounds):
                    _control(url, "reset")
                    before = _cpu_of(server.pid)
                    wall, cpu = asyncio.run(_fan_out(url, transport, args.requests, in_flight))
                    after = _cpu_of(server.pid)
                    walls.append(wall)
                    cpus.append(cpu)
                    if before is not None and after is not None:
                        server_cpus.append(after - before)
                wall = statistics.median(walls)
                cpu_ms = statistics.median(cpus) / args.requests * 1000
                server_ms = (
                    f"{statistics.median(server_cpus) / (args.requests + 1) * 1000:.2f}"
                    if server_cpus
                    else "n/a"
                )
                print(
                    f"| {transport} | {in_flight} | {wall:.2f} | {floor:.2f} | "
                    f"{wall / floor:.2f} | {cpu_ms:.2f} | {server_ms} |"
                )
        if args.sequential:
            _control(url, "reset")
            wall, cpu = _sequential(url, args.sequential)
            projected = wall / args.sequential * args.requests
            floor = args.requests * latency
            print(
                f"| sync SDK, sequential | 1 | {projected:.1f} (from {args.sequential}) "
                f"| {floor:.1f} | {projected / floor:.2f} | {cpu / args.sequential * 1000:.2f} "
                "| |"
            )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
