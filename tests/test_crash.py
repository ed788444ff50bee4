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
from mim_console.domain.alerts import Channel, Purpose
from mim_console.standin import (
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
        [sys.executable, "-m", "mim_console", "--db", str(db_path), "dispatch", "--lease-ttl", "1"]
        + ["--verbose"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(db_path.parent / "dispatch.log").open("ab"),
    )


def fan_out(db_path: Path, prefix: str, n: int = FAN_OUT) -> None:
    store = Store(db_path)
    drafts = [
        AlertDraft(f"+3584{i:07d}", Channel.SMS, Purpose.ALERT, f"{prefix} alert #{i}")
        for i in range(n)
    ]
    with store.write() as db:
        outbox.enqueue(db, drafts, utcnow())
    store.close()


def creates(standin: ThreadedStandIn) -> int:
    return sum(1 for r in standin.request_log() if r.method == "POST")


def wait_for(
    cond: Callable[[], bool], limit_s: float, what: str, db_path: Path | None = None
) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            detail = ""
            if db_path is not None:
                store = Store(db_path)
                detail = str(
                    store.query(
                        "SELECT status, uncertain, attempts, last_error, COUNT(*) AS n FROM alert "
                        "GROUP BY 1, 2, 3, 4"
                    )
                )
                store.close()
                logged = (db_path.parent / "dispatch.log").read_text(errors="replace")
                detail += "\n" + logged[-3000:]
            raise AssertionError(f"timed out waiting for {what} {detail}")
        time.sleep(0.01)


def accepted(db_path: Path) -> int:
    store = Store(db_path)
    try:
        with store.read() as db:
            return outbox.counts(db)["accepted"]
    finally:
        store.close()


def assert_exactly_once(db_path: Path, standin: ThreadedStandIn, prefixes: list[str]) -> None:
    sent = Counter(m.body for m in standin.messages(direction="outbound-api"))
    expected = {f"{prefix} alert #{i}" for prefix in prefixes for i in range(FAN_OUT)}
    lost = expected - set(sent)
    doubled = {body: k for body, k in sent.items() if k > 1}
    assert not lost, f"{len(lost)} alert(s) never sent"
    assert not doubled, f"sent more than once: {doubled}"
    store = Store(db_path)
    rows = store.query("SELECT body, provider_sid FROM alert")
    store.close()
    by_body = {m.body: m.sid for m in standin.messages(direction="outbound-api")}
    assert all(r["provider_sid"] == by_body[r["body"]] for r in rows)


def holder_pid(db_path: Path) -> int | None:
    store = Store(db_path)
    try:
        rows = store.query("SELECT holder FROM lease")
    finally:
        store.close()
    return int(rows[0]["holder"].split(":")[1]) if rows else None


def stop_cleanly(db_path: Path, proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM once it runs (holds the lease): it finishes, releases the lease, exits 0."""
    wait_for(lambda: holder_pid(db_path) == proc.pid, 30, "the lease")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    assert proc.returncode == 0, (db_path.parent / "dispatch.log").read_text()[-3000:]
    assert holder_pid(db_path) is None


def in_doubt(db_path: Path) -> int:
    store = Store(db_path)
    try:
        return len(store.query("SELECT id FROM alert WHERE status = 'sending'"))
    finally:
        store.close()


def crash_rounds(db_path: Path, standin: ThreadedStandIn, rounds: int, seed: int) -> int:
    """Each round: a new 200-alert fan-out, one or two kill -9 at random moments, recovery."""
    rng = random.Random(seed)
    prefixes: list[str] = []
    left_in_doubt = 0  # claimed, maybe sent, no SID: what reconciliation had to settle
    for r in range(rounds):
        prefixes.append(f"R{r}")
        fan_out(db_path, prefixes[-1])
        total = FAN_OUT * len(prefixes)
        for _ in range(1 + (rng.random() < 0.5)):
            before = creates(standin)
            proc = spawn(db_path, standin)
            try:
                # Once this process is sending: mid-claim, mid-request or mid-commit.
                wait_for(
                    lambda b=before, t=total: creates(standin) > b or accepted(db_path) == t,  # type: ignore[misc]
                    30,
                    "sending",
                )
                time.sleep(rng.uniform(0.0, 0.6))
            finally:
                proc.kill()
                proc.wait(10)
            left_in_doubt += in_doubt(db_path)
        proc = spawn(db_path, standin)
        try:
            wait_for(lambda t=total: accepted(db_path) == t, 60, "every alert accepted", db_path)  # type: ignore[misc]
            stop_cleanly(db_path, proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert_exactly_once(db_path, standin, prefixes)
    print(f"{rounds} rounds: {left_in_doubt} alert(s) left in doubt by kills, none lost or doubled")
    return left_in_doubt


def test_kill_9_two_rounds(db_path: Path, standin: ThreadedStandIn) -> None:
    crash_rounds(db_path, standin, rounds=2, seed=1)


@pytest.mark.slow
def test_kill_9_twenty_rounds(db_path: Path, standin: ThreadedStandIn) -> None:
    assert crash_rounds(db_path, standin, rounds=20, seed=20) > 0


def test_two_processes_send_once_and_hand_over(db_path: Path, standin: ThreadedStandIn) -> None:
    Store(db_path).close()
    procs = {p.pid: p for p in (spawn(db_path, standin), spawn(db_path, standin))}
    try:
        wait_for(lambda: holder_pid(db_path) in procs, 30, "a lease holder")
        fan_out(db_path, "R0")
        wait_for(lambda: creates(standin) >= 40, 30, "the fan-out to start")
        first = holder_pid(db_path)
        assert first is not None
        procs[first].kill()
        procs[first].wait(10)
        wait_for(lambda: holder_pid(db_path) not in (None, first), 10, "the standby to take over")
        wait_for(lambda: accepted(db_path) == FAN_OUT, 60, "every alert accepted", db_path)
        survivor = procs[holder_pid(db_path) or 0]
        stop_cleanly(db_path, survivor)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
    assert_exactly_once(db_path, standin, ["R0"])


def test_dispatch_without_credentials_explains_and_stops_on_sigint(db_path: Path) -> None:
    fan_out(db_path, "Q", n=3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mim_console", "--db", str(db_path), "dispatch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()  # printed once the loop is about to run
    assert "dispatcher" in line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "TWILIO_ACCOUNT_SID" in err.decode() and "stay queued" in err.decode()
    store = Store(db_path)
    assert store.query("SELECT COUNT(*) AS n FROM alert WHERE status = 'queued'")[0]["n"] == 3
    assert store.query("SELECT * FROM lease") == []
    store.close()
