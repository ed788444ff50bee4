"""The modem route's own cost per alert, on Gammu's dummy driver (no serial line, no network).

A real GSM modem takes 3-10 s per SMS part; this measures what the console adds around each
submission: the claim (a committed transaction, lease checked), Gammu's encoding and ``SendSMS``
in the worker thread, and the mark. For N alerts queued at once: wall time until every one is
marked sent, per alert, and this process's CPU time per alert.

Run: ``python bench/modem.py [--alerts 200] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from mim_console.clock import utcnow
from mim_console.config import ModemSettings
from mim_console.data import outbox
from mim_console.data.lease import Lease
from mim_console.data.outbox import AlertDraft
from mim_console.data.store import Store
from mim_console.domain.alerts import Channel, Purpose
from mim_console.notifiers.modem import GammuModem
from mim_console.notifiers.modem_route import ModemRoute, ModemRouteConfig

TEXT = (
    "MI-2026-007 SEV1 Card payments failing. Join the bridge +358 9 123 4567 PIN 4242. Reply 1 K7"
)


def gammurc(folder: Path) -> Path:
    device = folder / "phone"
    device.mkdir(parents=True)
    rc = folder / "gammurc"
    rc.write_text(
        f"[gammu]\nmodel = dummy\nconnection = none\ndevice = {device}\n"
        f"logfile = {folder / 'gammu.log'}\nlogformat = textall\n",
        encoding="utf-8",
    )
    return rc


async def one_round(alerts: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = Store(folder / "mim.db")
        lease = Lease(store, holder="bench", ttl_s=600)
        assert lease.try_acquire()
        settings = ModemSettings(gammurc=gammurc(folder), use="always")
        done = asyncio.Event()

        def changed() -> None:
            if route.sent >= alerts:
                done.set()

        route = ModemRoute(
            store,
            GammuModem(settings),
            settings,
            holder="bench",
            lease_held=lambda: True,
            twilio_silent_for=lambda: None,
            config=ModemRouteConfig(idle_s=0.01, inbox_poll_s=3600, health_every_s=3600),
            on_change=changed,
        )
        drafts = [
            AlertDraft(f"+3584{i:08d}", Channel.SMS, Purpose.ALERT, TEXT) for i in range(alerts)
        ]
        with store.write() as db:
            outbox.enqueue(db, drafts, utcnow())
        task = asyncio.create_task(route.run())
        wall, cpu = time.perf_counter(), time.process_time()
        await done.wait()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        route.stop()
        await task
        store.close()
        return wall / alerts * 1000, cpu / alerts * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = [asyncio.run(one_round(args.alerts)) for _ in range(args.rounds)]
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()} {platform.python_version()}",
                "alerts": args.alerts,
                "wall_ms_per_alert": round(statistics.median(r[0] for r in results), 2),
                "cpu_ms_per_alert": round(statistics.median(r[1] for r in results), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
