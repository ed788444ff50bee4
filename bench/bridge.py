"""The incident bridge against the stand-in: pacing, how soon a join shows, what polling costs.

The stand-in runs in its own process (``python -m mim_console.standin``: its CPU is not the
console's), with Twilio's default of 1 call per second; the console too paces at
``[twilio] calls_per_second = 1``. One incident pages ``--people`` specialists (default 20)
with channel ``bridge``; every callee joins the conference 2 s after answering and stays.

* pacing: the first and the last call as the stand-in recorded them; the floor is ``people /
  cps`` seconds (the issue: the last created within 1.1 × that);
* latency: each join in the stand-in (its participant's ``date_created``) to the timeline's
  ``bridge`` event that recorded it (the presence poll's moment), worst case ≤ 3 s wanted;
* polling cost: the dispatcher's process CPU over ``--window`` seconds with the incident open
  and everyone on the bridge, with the presence poll on, then with it off (the difference is the
  poll's share), as a % of one core.

    python bench/bridge.py [--people 20] [--window 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mim_console.clock import to_iso
from mim_console.config import BridgeSettings, Settings, TwilioSettings
from mim_console.domain.bridge import conference_name
from mim_console.services import dispatching
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_SENDER


def start_standin() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mim_console.standin"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    return process, url


def control(url: str, action: str, **args: object) -> object:
    request = urllib.request.Request(
        f"{url}/_standin/{action}",
        data=json.dumps(args).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def seed(ctx: Context, people: int) -> None:
    stamp = to_iso(datetime.now(UTC))
    with ctx.store.write() as db:
        group = db.execute(
            "INSERT INTO specialist_group (name, categories) VALUES ('Bridge', '[\"bridge\"]')"
        ).lastrowid
        for n in range(people):
            person = db.execute(
                "INSERT INTO person (name, mobile, active, created_at, updated_at) "
                "VALUES (?, ?, 1, ?, ?)",
                [f"Person {n:02d}", f"+35840{n:07d}", stamp, stamp],
            ).lastrowid
            db.execute(
                "INSERT INTO group_member (group_id, person_id, position) VALUES (?, ?, ?)",
                [group, person, n],
            )


async def run(people: int, window: float) -> None:
    standin, url = start_standin()
    folder = Path(tempfile.mkdtemp(prefix="mim-bridge-bench-"))
    try:
        twilio = TwilioSettings(
            account_sid=DEFAULT_ACCOUNT_SID,
            auth_token=DEFAULT_AUTH_TOKEN,
            sender=DEFAULT_SENDER,
            api_url=url,
            calls_per_second=1.0,
        )
        settings = Settings(
            db_path=folder / "mim.db", twilio=twilio, bridge=BridgeSettings(mode="twilio")
        )
        ctx = Context(settings=settings, actor="bench")
        seed(ctx, people)
        svc = IncidentService(ctx)
        d = dispatching.for_context(ctx)
        task = asyncio.create_task(dispatching.run_with_context(ctx, d))
        declared = time.time()
        inc = svc.declare(
            title="Bridge bench", severity="SEV1", group_refs=["Bridge"], channel="bridge"
        )
        d.wake()
        name = conference_name(inc.code)
        deadline = time.monotonic() + people * 2 + 60
        while time.monotonic() < deadline:
            rc = svc.roll_call(inc.code)
            if rc.bridge.on_bridge == people:
                break
            await asyncio.sleep(0.5)
        state = control(url, "state")
        assert isinstance(state, dict)
        calls = [c for c in state["calls"] if c["direction"] == "outbound-api"]
        made = sorted(parsedate_to_datetime(c["date_created"]).timestamp() for c in calls)
        [conference] = [c for c in state["conferences"] if c["friendly_name"] == name]
        joined_at = {
            p["call_sid"]: parsedate_to_datetime(p["date_created"]).timestamp()
            for p in conference["participants"]
        }
        seen_at = {
            str(e.data.get("call_sid")): e.at.timestamp()
            for e in svc.timeline(inc.code)
            if e.kind == "bridge" and e.data.get("change") == "joined"
        }
        # Twilio stamps whole seconds: a join is at most 1 s later than its stamp says.
        lags = [seen_at[sid] - at for sid, at in joined_at.items() if sid in seen_at]
        cpu_on = await cpu_share(window)
        polls_on = d.bridge.polls if d.bridge else 0
        watcher, d.bridge = d.bridge, None
        cpu_off = await cpu_share(window)
        d.bridge = watcher
        d.stop()
        await task
        floor = people / 1.0
        print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(f"calls placed: {len(calls)} of {people}; on the bridge: {len(joined_at)}")
        first, last = made[0] - declared, made[-1] - declared
        print(
            f"first call {first:.2f} s after declaring, last {last:.2f} s (floor {floor:.0f} s, "
            f"1.1 x = {1.1 * floor:.1f} s); span {made[-1] - made[0]:.2f} s"
        )
        lags.sort()
        print(
            f"join -> on the bridge in the console: median {lags[len(lags) // 2]:.2f} s, "
            f"max {lags[-1]:.2f} s (Twilio's stamps are whole seconds: up to 1 s of it is that)"
        )
        print(
            f"dispatcher CPU, incident open, {people} on the bridge, presence poll on: "
            f"{cpu_on:.2f} % of a core ({polls_on} polls)"
        )
        print(f"the same with the presence poll off: {cpu_off:.2f} % of a core")
        print(f"the poll's share: {cpu_on - cpu_off:.2f} % of a core")
        ctx.close()
    finally:
        standin.terminate()
        standin.wait(10)


async def cpu_share(window: float) -> float:
    start_cpu, start = time.process_time(), time.monotonic()
    await asyncio.sleep(window)
    return 100 * (time.process_time() - start_cpu) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    asyncio.run(run(args.people, args.window))


if __name__ == "__main__":
    main()
