"""The dispatcher lease on a real SQLite file, including two processes racing for it."""

from __future__ import annotations

import multiprocessing
import time
from datetime import datetime, timedelta
from pathlib import Path

from mim_console.data import lease as lease_mod
from mim_console.data.lease import Lease
from mim_console.data.store import Store
from tests.conftest import FROZEN_NOW


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_first_taker_holds_and_others_wait(store: Store) -> None:
    clock = Clock(FROZEN_NOW)
    a = Lease(store, holder="a", ttl_s=5, clock=clock)
    b = Lease(store, holder="b", ttl_s=5, clock=clock)
    assert a.try_acquire() and a.held()
    assert not b.try_acquire() and not b.held()
    info = a.info()
    assert info is not None and info.holder == "a"
    assert info.expires_at == FROZEN_NOW + timedelta(seconds=5)


def test_renewal_keeps_it_and_expiry_hands_it_over(store: Store) -> None:
    clock = Clock(FROZEN_NOW)
    a = Lease(store, holder="a", ttl_s=5, clock=clock)
    b = Lease(store, holder="b", ttl_s=5, clock=clock)
    assert a.try_acquire()
    clock.now += timedelta(seconds=4)
    assert a.try_acquire()  # heartbeat
    clock.now += timedelta(seconds=4)
    assert not b.try_acquire()  # renewed 4 s ago: still a's
    clock.now += timedelta(seconds=1.5)
    assert b.try_acquire()  # a missed its heartbeat
    assert not a.try_acquire()
    with store.read() as db:
        assert lease_mod.holds(db, "b", clock.now)
        assert not lease_mod.holds(db, "a", clock.now)


def test_release_frees_it_at_once(store: Store) -> None:
    clock = Clock(FROZEN_NOW)
    a = Lease(store, holder="a", clock=clock)
    b = Lease(store, holder="b", clock=clock)
    assert a.try_acquire()
    a.release()
    assert not a.held()
    assert b.try_acquire()
    a.release()  # releasing someone else's lease does nothing
    assert b.info() is not None and b.info().holder == "b"  # type: ignore[union-attr]


def test_local_belief_expires_without_renewal(store: Store) -> None:
    a = Lease(store, holder="a", ttl_s=0.3)
    assert a.try_acquire() and a.held(margin_s=0.05)
    time.sleep(0.3)
    assert not a.held(margin_s=0.05)


def test_holder_ids_are_unique() -> None:
    assert len({lease_mod.new_holder_id() for _ in range(100)}) == 100


def _race(path: str, holder: str, results: multiprocessing.Queue[tuple[str, bool]]) -> None:
    store = Store(path)
    results.put((holder, Lease(store, holder=holder, ttl_s=30).try_acquire()))
    store.close()


def test_only_one_of_many_processes_wins(db_path: Path) -> None:
    Store(db_path).close()
    ctx = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[tuple[str, bool]] = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(db_path), f"p{i}", results)) for i in range(6)]
    for p in procs:
        p.start()
    outcome = [results.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    winners = [holder for holder, won in outcome if won]
    assert len(winners) == 1
    store = Store(db_path)
    assert store.query("SELECT holder FROM lease")[0]["holder"] == winners[0]
    store.close()
