"""Crash safety end to end: `mim-console dispatch` subprocesses killed with SIGKILL mid fan-out.

The stand-in runs in this process (its own thread) and keeps the request log; the dispatcher
runs as a real subprocess on a real SQLite file. Every alert must end accepted exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mim_console.clock import utcnow
from mim_console.data import outbox
from mim_console.data.outbox import AlertDraft
from mim_console.data.store import Store
from mim_console.notifiers.standin import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDER,
    StandIn,
    ThreadedStandIn,
)
from tests.slow_gate import slow_only_when_asked  # noqa: F401

FAN_OUT = 200


@pytest.fixture
def standin() -> Iterator[ThreadedStandIn]:
    s = StandIn.start_in_thread(latency=0.08)
    yield s
    s.stop()


def spawn(db_path: Path, standin: ThreadedStandIn) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "MIM_TWILIO_FROM": DEFAULT_SENDER,
        "MIM_TWILIO_API_URL": standin.url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "mim_console", "--db", str(db_path), "dispatch", "--lease-ttl", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def fan_out(db_path: Path, n: int = FAN_OUT) -> None:
    store = Store(db_path)
    drafts = [AlertDraft(f"+3584{i:07d}", "sms", "alert", f"MI-1 alert #{i}") for i in range(n)]
    with store.write() as db:
        outbox.enqueue(db, drafts, utcnow())
    store.close()


def creates(standin: ThreadedStandIn) -> int:
    return sum(1 for r in standin.request_log() if r.method == "POST")


def wait_for(cond: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def accepted(db_path: Path) -> int:
    store = Store(db_path)
    try:
        with store.read() as db:
            return outbox.counts(db)["accepted"]
    finally:
        store.close()


def assert_exactly_once(db_path: Path, standin: ThreadedStandIn, n: int = FAN_OUT) -> None:
    sent = Counter(m.body for m in standin.messages(direction="outbound-api"))
    expected = {f"MI-1 alert #{i}" for i in range(n)}
    lost = expected - set(sent)
    doubled = {body: k for body, k in sent.items() if k > 1}
    assert not lost, f"{len(lost)} alert(s) never sent"
    assert not doubled, f"sent more than once: {doubled}"
    store = Store(db_path)
    rows = store.query("SELECT body, provider_sid FROM alert")
    store.close()
    by_body = {m.body: m.sid for m in standin.messages(direction="outbound-api")}
    assert all(r["provider_sid"] == by_body[r["body"]] for r in rows)


def stop_cleanly(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()


def crash_rounds(db_path: Path, standin: ThreadedStandIn, rounds: int, seed: int) -> None:
    rng = random.Random(seed)
    fan_out(db_path)
    for _ in range(rounds):
        before = creates(standin)
        proc = spawn(db_path, standin)
        try:
            # Kill at a random moment once this process has started sending (or soon after,
            # when everything is already sent): mid-claim, mid-request, mid-commit.
            wait_for(
                lambda b=before: creates(standin) > b or accepted(db_path) == FAN_OUT,  # type: ignore[misc]
                30,
                "sending",
            )
            time.sleep(rng.uniform(0.0, 0.5))
        finally:
            proc.kill()
            proc.wait(10)
    proc = spawn(db_path, standin)
    try:
        wait_for(lambda: accepted(db_path) == FAN_OUT, 60, "every alert accepted")
    finally:
        stop_cleanly(proc)
    assert_exactly_once(db_path, standin)


def test_kill_9_three_rounds(db_path: Path, standin: ThreadedStandIn) -> None:
    crash_rounds(db_path, standin, rounds=3, seed=1)


@pytest.mark.slow
def test_kill_9_twenty_rounds(db_path: Path, standin: ThreadedStandIn) -> None:
    crash_rounds(db_path, standin, rounds=20, seed=20)


def holder_pid(db_path: Path) -> int | None:
    store = Store(db_path)
    try:
        rows = store.query("SELECT holder FROM lease")
    finally:
        store.close()
    return int(rows[0]["holder"].split(":")[1]) if rows else None


def test_two_processes_send_once_and_hand_over(db_path: Path, standin: ThreadedStandIn) -> None:
    Store(db_path).close()
    procs = {p.pid: p for p in (spawn(db_path, standin), spawn(db_path, standin))}
    try:
        wait_for(lambda: holder_pid(db_path) in procs, 30, "a lease holder")
        fan_out(db_path)
        wait_for(lambda: creates(standin) >= 40, 30, "the fan-out to start")
        first = holder_pid(db_path)
        assert first is not None
        procs[first].kill()
        procs[first].wait(10)
        wait_for(lambda: holder_pid(db_path) not in (None, first), 10, "the standby to take over")
        wait_for(lambda: accepted(db_path) == FAN_OUT, 60, "every alert accepted")
        survivor = procs[holder_pid(db_path) or 0]
        stop_cleanly(survivor)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
    assert_exactly_once(db_path, standin)
