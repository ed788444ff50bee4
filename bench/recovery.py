"""Recovery after an outage: how long after Twilio answers again the waiting alerts are out.

The stand-in (its own event loop, in a thread) is unreachable (connections refused) or answers
503 to everything for ``--outage-s`` while the alerts are queued; then it answers again. Figure:
the time from that moment to the last alert accepted (its SID stored), with the backoff reset of
notifiers/outage.py on and off, side by side in one run, against the floor: the alerts (and,
after a 503, the lookups first: a 503 may have created the message) over the configured rate
(``max_in_flight`` requests in flight, each taking the stand-in's latency). Also: the requests
the dispatcher made during the outage (the probe must not add load).

Run: ``python bench/recovery.py [--outage-s 30] [--alerts 38 500] [--kinds down 503]
[--latency-ms 200] [--in-flight 20]``. The dispatcher's defaults otherwise (backoff 1 s doubling
to 60 s, inbound poll every 3 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mim_console.clock import from_iso, utcnow
from mim_console.config import TwilioSettings
from mim_console.data import outbox
from mim_console.data.outbox import AlertDraft
from mim_console.data.store import Store
from mim_console.notifiers.dispatcher import Dispatcher, DispatcherConfig
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.standin import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDER,
    StandIn,
    Timing,
)
from mim_console.standin.threaded import ThreadedStandIn


@dataclass(frozen=True)
class Round:
    kind: str
    alerts: int
    reset: bool
    after_s: float  # from Twilio answering again to the last alert accepted
    floor_s: float
    outage_requests: int
    made_due: int


def _accepted(store: Store) -> int:
    with store.read() as db:
        return outbox.counts(db)["accepted"]


async def _round(
    kind: str, alerts: int, reset: bool, args: argparse.Namespace, standin: ThreadedStandIn
) -> Round:
    standin.reset()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        settings = TwilioSettings(
            account_sid=DEFAULT_ACCOUNT_SID,
            auth_token=DEFAULT_AUTH_TOKEN,
            sender=DEFAULT_SENDER,
            api_url=standin.url,
        )
        notifier = TwilioNotifier(settings, timeout=10)
        config = DispatcherConfig(max_in_flight=args.in_flight, recover_at_once=reset)
        d = Dispatcher(store, twilio_routes(notifier), config=config)
        task = asyncio.create_task(d.run())
        if kind == "503":
            standin.fault("503", count=10_000_000)
        else:
            standin.go_down()
        drafts = [
            AlertDraft(f"+3584{i:08d}", "sms", "alert", f"MI-2026-007 bench alert {i}. Reply 1.")
            for i in range(alerts)
        ]
        with store.write() as db:
            outbox.enqueue(db, drafts, utcnow())
        d.wake()
        await asyncio.sleep(args.outage_s)
        outage_requests = d.requests
        if kind == "503":
            standin.clear_faults()
        else:
            standin.come_up()
        back: datetime = utcnow()
        deadline = time.monotonic() + 180
        while _accepted(store) < alerts and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        with store.read() as db:
            last = db.execute("SELECT MAX(sent_at) FROM alert").fetchone()[0]
            done = outbox.counts(db)["accepted"]
        d.stop()
        await task
        await notifier.aclose()
        store.close()
    if done < alerts:
        raise SystemExit(f"{kind} {alerts}: only {done} accepted after 180 s")
    rate = args.in_flight / (args.latency_ms / 1000)
    requests = alerts * (2 if kind == "503" else 1)  # after a 503: look up, then send
    return Round(
        kind,
        alerts,
        reset,
        (from_iso(last) - back).total_seconds(),
        requests / rate,
        outage_requests,
        d.recovery.made_due,
    )


async def _main(args: argparse.Namespace) -> list[Round]:
    timing = Timing(sms_sent=0.5, sms_delivered=2.0)
    standin = StandIn.start_in_thread(timing=timing)
    standin.set_latency(args.latency_ms / 1000)
    rounds = []
    try:
        for kind in args.kinds:
            for alerts in args.alerts:
                for reset in (False, True):
                    result = await _round(kind, alerts, reset, args, standin)
                    print(_line(result), flush=True)
                    rounds.append(result)
    finally:
        standin.stop()
    return rounds


def _line(r: Round) -> str:
    switch = "reset on " if r.reset else "reset off"
    ratio = r.after_s / r.floor_s
    return (
        f"{r.kind:>4} {r.alerts:>4} alerts  {switch}  last accepted {r.after_s:6.2f} s after "
        f"Twilio answered  (floor {r.floor_s:.2f} s, ×{ratio:.2f})  requests during the "
        f"outage {r.outage_requests:>4}  made due at once {r.made_due}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--outage-s", type=float, default=30.0)
    parser.add_argument("--alerts", type=int, nargs="+", default=[38, 500])
    parser.add_argument("--kinds", nargs="+", choices=["down", "503"], default=["down", "503"])
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--in-flight", type=int, default=20)
    args = parser.parse_args()
    print(
        f"{platform.node()} · {platform.processor() or platform.machine()} · "
        f"{os.cpu_count()} CPUs · Python {platform.python_version()} · {utcnow():%Y-%m-%d %H:%M}Z"
    )
    print(
        f"outage {args.outage_s:g} s, stand-in latency {args.latency_ms:g} ms, "
        f"{args.in_flight} in flight → {args.in_flight / (args.latency_ms / 1000):g} requests/s"
    )
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
