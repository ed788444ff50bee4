"""Back from an outage (issue 14): the alerts that waited for Twilio go out at once when it
answers again, not each after its own backoff. The stand-in over real HTTP, a real SQLite file.

The checks are about order, not wall-clock bounds (the machine is shared and noisy): every
waiting alert became due *before* the earliest moment its own backoff would have allowed, and
all went out exactly once. The timings are measured by bench/recovery.py (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from mim_console.clock import from_iso, to_iso, utcnow
from mim_console.data import outbox
from mim_console.data.store import Store
from mim_console.domain.backoff import BackoffPolicy
from mim_console.notifiers.outage import Recovery, outage_wait
from mim_console.notifiers.reach import Reach
from mim_console.standin import StandIn
from tests.test_dispatcher import FAST, assert_each_sent_once, counts, make, queue, run_until
from tests.test_dispatcher import standin as standin

N = 38
# Waits near the exponential ceiling (2 s, 4 s, 8 s…), no inbound poll to notice the return:
# only the probe can.
OUTAGE = replace(
    FAST,
    inbound_poll_s=600,
    outage_probe_s=0.3,
    backoff=BackoffPolicy(base_s=2.0, cap_s=60.0, max_age_min=30),
)


def due_times(store: Store) -> dict[int, datetime]:
    rows = store.query("SELECT id, next_attempt_at FROM alert WHERE purpose = 'alert'")
    return {r["id"]: from_iso(r["next_attempt_at"]) for r in rows}


def backing_off(store: Store) -> int:
    rows = store.query(
        "SELECT COUNT(*) AS n FROM alert WHERE status = 'queued' AND attempts >= 2 "
        "AND next_attempt_at > ?",
        [to_iso(utcnow())],
    )
    return int(rows[0]["n"])


async def outage_then_back(
    store: Store, standin: StandIn, kind: str, at_once: bool
) -> dict[str, Any]:
    if kind == "503":
        standin.fault("503", count=1_000_000)
    else:
        await standin.go_down()
    queue(store, N)
    d = make(store, standin, replace(OUTAGE, recover_at_once=at_once), rand=lambda: 0.99)
    seen: dict[str, Any] = {}

    async def outage() -> None:
        # Until the alerts failed twice and wait (about 4 s more), all but one the probe tries.
        # Without the probe (the comparison) their backoffs drift apart on a slow machine and
        # all of them may never wait at once: after 15 s, half of them waiting will do.
        started = time.monotonic()
        while (waiting := backing_off(store)) < N - 1:
            if not at_once and waiting >= N // 2 and time.monotonic() - started > 15:
                break
            await asyncio.sleep(0.05)
        seen["waiting"] = due_times(store)
        seen["back"] = utcnow()
        if kind == "503":
            standin.clear_faults()
        else:
            await standin.come_up()

    task = asyncio.create_task(outage())
    await run_until(d, lambda: counts(store)["accepted"] == N, limit_s=60)
    await task
    seen["dispatcher"] = d
    seen["due"] = due_times(store)
    return seen


@pytest.mark.parametrize("kind", ["503", "down"])
async def test_waiting_alerts_are_due_at_once_when_twilio_answers_again(
    store: Store, standin: StandIn, kind: str
) -> None:
    seen = await outage_then_back(store, standin, kind, at_once=True)
    # When Twilio answered again, the alerts were backing off past that moment (all but the
    # one the probe was trying)…
    later = [due for due in seen["waiting"].values() if due > seen["back"]]
    assert len(later) >= N - 1
    own_backoff = min(later)
    assert own_backoff > seen["back"] + timedelta(seconds=1)
    # …and each went out due before its own backoff would have let the first one go.
    assert max(seen["due"].values()) < own_backoff
    assert seen["dispatcher"].recovery.resets >= 1
    assert seen["dispatcher"].recovery.made_due >= 1
    assert_each_sent_once(store, standin, N)


async def test_without_the_reset_alerts_sit_out_their_backoff(
    store: Store, standin: StandIn
) -> None:
    """The behaviour before (the bench's comparison switch): the same outage, no reset."""
    seen = await outage_then_back(store, standin, "down", at_once=False)
    assert seen["dispatcher"].recovery.resets == 0
    # The alerts backing off when Twilio answered again sat out their own backoff.
    later = {i: due for i, due in seen["waiting"].items() if due > seen["back"]}
    assert len(later) >= N // 2
    assert all(seen["due"][i] >= due for i, due in later.items())
    assert_each_sent_once(store, standin, N)


def test_which_waits_are_the_outage() -> None:
    assert outage_wait(None)  # no answer at all, a timeout, a dropped connection
    assert outage_wait(20503) and outage_wait(20500)
    assert not outage_wait(20429)  # "too many requests": its Retry-After is honoured
    assert not outage_wait(20003)  # our credentials: they wait for the settings to be fixed
    assert not outage_wait(21659)  # the sender is not ours
    assert not outage_wait(401)


def test_the_reset_leaves_account_refusals_and_due_alerts_alone(store: Store) -> None:
    ids = queue(store, 4)
    now = utcnow()
    later = now + timedelta(seconds=40)
    with store.write() as db:
        for alert_id, code in zip(ids[:3], (None, 20503, 20003), strict=True):
            outbox.mark_retry(db, alert_id, later, code=code, error="x", uncertain=False)
    reach = Reach(utcnow, lambda: None)
    pokes: list[int] = []
    recovery = Recovery(store, utcnow, reach, lambda: pokes.append(1))
    reach.failure("down")
    reach.success()
    recovery.changed()
    asyncio.run(recovery.turn(now, busy=False))
    due = due_times(store)
    assert due[ids[0]] == now and due[ids[1]] == now  # waited for the outage: due now
    assert due[ids[2]] == later  # refused our credentials: still waiting
    assert due[ids[3]] <= now  # never failed: untouched (due since it was queued)
    assert recovery.made_due == 2 and pokes == [1]
