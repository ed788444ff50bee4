"""One dispatcher per database: a lease row with a holder and an expiry, renewed by heartbeat.

Whoever holds an unexpired lease sends; everyone else stands by and takes over once the expiry
passes without a renewal (the holder died or hung). The lease is checked again inside the very
transaction that claims alerts (``outbox.claim_due``), so a process that lost its lease while
paused can never claim: that check, not the heartbeat, is what keeps two senders apart.

Expiry uses wall-clock UTC because several processes compare it; a holder's own view of its
lease also keeps a monotonic deadline, so a clock jump cannot make it believe it still holds.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from mim_console.clock import Clock, from_iso, to_iso, utcnow
from mim_console.data.store import Store

DISPATCHER = "dispatcher"


def new_holder_id() -> str:
    """Unique per process start: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    expires_at: datetime


def current(db: Database, name: str = DISPATCHER) -> LeaseInfo | None:
    row = db.execute("SELECT name, holder, expires_at FROM lease WHERE name = ?", [name]).fetchone()
    if row is None:
        return None
    return LeaseInfo(row[0], row[1], from_iso(row[2]))


def holds(db: Database, holder: str, now: datetime, name: str = DISPATCHER) -> bool:
    """Whether ``holder`` has the unexpired lease (call inside the claiming transaction)."""
    info = current(db, name)
    return info is not None and info.holder == holder and info.expires_at > now


def held_by_another(
    db: Database, own: str | None, now: datetime, name: str = DISPATCHER
) -> LeaseInfo | None:
    """The unexpired lease when a process other than ``own`` holds it (another console or
    `mim-console dispatch` sends and runs the timers), else None."""
    info = current(db, name)
    if info is None or info.expires_at <= now or info.holder == own:
        return None
    return info


class Lease:
    """This process's side of the lease: acquire, renew (heartbeat), release."""

    def __init__(
        self,
        store: Store,
        *,
        holder: str | None = None,
        name: str = DISPATCHER,
        ttl_s: float = 5.0,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.holder = holder or new_holder_id()
        self.name = name
        self.ttl_s = ttl_s
        self.clock = clock
        self._deadline = 0.0  # monotonic: after this we no longer trust that we hold it

    def try_acquire(self) -> bool:
        """Take or renew the lease if it is free, expired or already ours; False otherwise."""
        started = time.monotonic()
        now = self.clock()
        with self.store.write() as db:
            info = current(db, self.name)
            if info is not None and info.holder != self.holder and info.expires_at > now:
                self._deadline = 0.0
                return False
            db.execute(
                "INSERT INTO lease (name, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, "
                "expires_at = excluded.expires_at",
                [self.name, self.holder, to_iso(now + timedelta(seconds=self.ttl_s))],
            )
        # Count from before the write: waiting on the busy lock must not extend our belief.
        self._deadline = started + self.ttl_s
        return True

    def held(self, margin_s: float = 0.5) -> bool:
        """Cheap local check before each send: we renewed recently enough to still hold it."""
        return time.monotonic() + margin_s < self._deadline

    def release(self) -> None:
        """Hand over at once on a clean exit instead of making a standby wait for the expiry."""
        self._deadline = 0.0
        with self.store.write() as db:
            db.execute("DELETE FROM lease WHERE name = ? AND holder = ?", [self.name, self.holder])

    def info(self) -> LeaseInfo | None:
        with self.store.read() as db:
            return current(db, self.name)
