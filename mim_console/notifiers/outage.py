"""Back from an outage: the alerts that waited only because the provider could not be reached go
out at once, instead of each sitting out its own backoff (up to a minute).

While the provider is unreachable (no answer, timeouts, 5xx), every failed try backs off
(``domain/backoff.py``), so after a 30 s outage the waiting alerts were due anywhere in the next
30 s although the provider answered again. Two things here, driven by the send loop
(``Outgoing.fill``):

* **Probe:** while the latest request failed and nothing is in flight, one waiting alert (the one
  due soonest) is made due every ``outage_probe_s`` — a real try, so the first answer after the
  outage is noticed within about a second, and it is an alert going out, not an extra request.
* **Reset:** when requests succeed again (``Reach`` flips to reachable), every queued alert
  backing off after a failed try becomes due now — except those refused for an account-wide
  reason (bad credentials, the sender: ``domain/twilio_errors.py``), which wait for the settings
  to be fixed, and those told to slow down (429: its ``Retry-After`` is honoured). The send
  loop then sends them at its usual pace (``max_in_flight``, the call pacer): nothing here
  bypasses it. An alert whose last try may have reached the provider is
  still looked up before it is sent again (``uncertain``).

A provider that flaps (answers, fails, answers) gets at most one reset per ``_MIN_GAP_S``, so its
backoff still protects it. ``DispatcherConfig.recover_at_once = False`` turns both off (the
behaviour before, for bench/recovery.py's comparison).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from mim_console.clock import Clock
from mim_console.data import outbox
from mim_console.data.store import Store
from mim_console.domain.twilio_errors import describe
from mim_console.errors import UserError
from mim_console.notifiers.logmask import masked_logger
from mim_console.notifiers.reach import Reach

log = masked_logger("mim_console.dispatcher")

_MIN_GAP_S = 5.0  # between two resets: a flapping provider keeps most of its backoff
# Waits that are not the outage's: our credentials (HTTP statuses, when Twilio gave no code),
# and "too many requests", whose Retry-After is honoured, never cut short.
_NOT_OUTAGE = (401, 403, 429, 20429)


def outage_wait(code: int | None) -> bool:
    """Whether an alert whose last try failed with ``code`` waits only for the provider to
    answer again: no code (no answer, a timeout, a dropped connection) or one that is not about
    our account's settings nor a rate limit (5xx, an unknown code on a transient answer)."""
    if code is None:
        return True
    return code not in _NOT_OUTAGE and not describe(code).account_wide


class Recovery:
    """The probe and the reset; ``changed`` is told whenever ``reach`` flips."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        reach: Reach,
        poke: Callable[[], None],
        *,
        probe_s: float = 1.0,
        enabled: bool = True,
    ) -> None:
        self.store = store
        self.clock = clock
        self.reach = reach
        self.poke = poke
        self.probe_s = probe_s
        self.enabled = enabled
        self._back = False
        self._last_reset = -_MIN_GAP_S
        self._next_probe = 0.0
        self.resets = 0  # for tests and the bench: how many resets, and alerts made due
        self.made_due = 0

    def changed(self) -> None:
        """``Reach`` flipped (first contact, lost or back): a reset on the next turn if back."""
        if self.reach.state is True:
            self._back = True

    async def turn(self, now: datetime, *, busy: bool) -> None:
        """Once per send-loop turn; ``busy``: requests in flight or claimed (those probe)."""
        if not self.enabled:
            return
        mono = time.monotonic()
        if self._back:
            self._back = False
            if mono - self._last_reset >= _MIN_GAP_S:
                self._last_reset = mono
                await self._run(self._reset, now)
        elif self.reach.state is False and not busy and mono >= self._next_probe:
            self._next_probe = mono + self.probe_s
            await self._run(self._probe, now)

    async def _run(self, step: Callable[[datetime], int], now: datetime) -> None:
        try:
            moved = await asyncio.to_thread(step, now)
        except UserError as exc:  # storage trouble: the alerts keep their backoff
            log.warning("cannot make waiting alerts due: %s", exc)
            return
        if moved:
            self.poke()

    def _waiting(self, now: datetime) -> list[tuple[int, datetime]]:
        with self.store.read() as db:
            rows = outbox.waiting_on_errors(db, now)
        return [(alert_id, due) for alert_id, code, due in rows if outage_wait(code)]

    def _reset(self, now: datetime) -> int:
        waiting = self._waiting(now)
        if not waiting:
            return 0
        with self.store.write() as db:
            moved = outbox.due_now(db, [alert_id for alert_id, _ in waiting], now)
        self.resets += 1
        self.made_due += moved
        log.info("provider answers again: %d alert(s) held back by the outage due now", moved)
        return moved

    def _probe(self, now: datetime) -> int:
        waiting = self._waiting(now)
        if not waiting or waiting[0][1] <= now + timedelta(seconds=self.probe_s):
            return 0  # nothing waits, or a try is due soon anyway
        with self.store.write() as db:
            return outbox.due_now(db, [waiting[0][0]], now)
