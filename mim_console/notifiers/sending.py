"""Alerts out: claiming due rows, sending each by its channel's sender, recording answers,
retrying with backoff; alerts left in doubt by a crash or a lost lease are reconciled by its
base (notifiers/reconcile.py).

Crash safety comes from the order of writes: an alert is claimed (``sending``) in a committed
transaction before its request leaves, and its SID is stored the moment the answer arrives. An
alert found ``sending`` without a SID on start or takeover, or one whose last try timed out
(``uncertain``), is looked up at its route (``Sender.find_sent``) before any resend.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from mim_console.clock import Clock
from mim_console.data import outbox
from mim_console.data.lease import Lease
from mim_console.data.store import Store
from mim_console.domain.alerts import Alert, Channel
from mim_console.domain.twilio_errors import whole_account
from mim_console.errors import UserError
from mim_console.notifiers.base import (
    PermanentSendError,
    SendResult,
    TransientSendError,
)
from mim_console.notifiers.logmask import masked_logger
from mim_console.notifiers.outage import Recovery
from mim_console.notifiers.reach import Reach, answered
from mim_console.notifiers.reconcile import Reconciling
from mim_console.notifiers.senders import Routes
from mim_console.notifiers.tuning import DispatcherConfig

log = masked_logger("mim_console.dispatcher")  # phone numbers masked in every line


class Outgoing(Reconciling):
    """The send side of the dispatcher; the loop (``Dispatcher.run``) drives it."""

    def __init__(
        self,
        store: Store,
        routes: Routes,
        *,
        config: DispatcherConfig,
        clock: Clock,
        lease: Lease,
        reach: Reach,
        holding: Callable[[], bool],
        stopping: Callable[[], bool],
        poke: Callable[[], None],
        notify: Callable[[], None],
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.routes = routes
        self.config = config
        self.clock = clock
        self.lease = lease
        self.reach = reach
        self.holding = holding
        self.stopping = stopping
        self.poke = poke
        self.notify = notify
        self._rand = rand
        self.sends: dict[int, asyncio.Task[None]] = {}
        self._unrecorded: dict[int, tuple[SendResult, datetime]] = {}  # answered, not yet stored
        self._recording: dict[int, tuple[SendResult, datetime]] = {}  # being stored right now
        self._flusher: asyncio.Task[None] | None = None
        self.ready: deque[Alert] = deque()  # claimed by us, request not started yet
        self.reconciling: asyncio.Task[None] | None = None
        self._more_doubt: list[Alert] = []  # found on a later take-over while one reconciled
        self.look = True  # look at the outbox on the next turn (see _should_look)
        self._next_look = 0.0
        self._data_version = -1
        self._changes = -1
        self.requests = 0  # sends and lookups made by this process (for tests and the bench)
        # Channels a lane (the modem) takes right now: not claimed here meanwhile.
        self.held_back: Callable[[], frozenset[Channel]] = frozenset
        self._recheck_at = 0.0  # monotonic: when a paused channel may try one alert again
        self._rechecks: set[int] = set()  # claimed to re-check a refusal: sent even so
        self.recovery: Recovery | None = None  # back from an outage: waiting alerts due at once

    def pending(self) -> list[asyncio.Task[None]]:
        """Tasks to let finish on the way out."""
        tasks = list(self.sends.values())
        for extra in (self.reconciling, self._flusher):
            if extra is not None and not extra.done():
                tasks.append(extra)
        return tasks

    async def drain_flusher(self) -> None:
        if self._flusher is not None and not self._flusher.done():  # started by the last sends
            await asyncio.wait([self._flusher], timeout=5.0)

    async def fill(self, now: datetime) -> None:
        """Start sends up to the concurrency bound, from a buffer of claimed alerts.

        Claims come in batches of up to ``max_in_flight`` (one transaction each) rather than one
        per finished request: measured, per-request claims were most of the bookkeeping cost.
        A claimed alert not yet sent is safe to hold: a crash leaves it ``sending`` without a SID,
        which reconciliation looks up (finds nothing) and queues again.
        """
        if self.recovery is not None:
            await self.recovery.turn(now, busy=bool(self.sends or self.ready))
        room = self.config.max_in_flight - len(self.sends)
        if room <= 0:
            return
        if len(self.ready) < room:
            await self._claim(now, self.config.max_in_flight - len(self.ready))
            room = self.config.max_in_flight - len(self.sends)
        if self._start_ready(self.config.start_per_turn) and self.ready:
            # Let the first requests reach the wire before preparing the next ones: started all
            # at once, the first request waited for every other's preparation (measured).
            self.poke()

    def _start_ready(self, budget: int) -> int:
        """Start up to ``budget`` claimed alerts within the concurrency bound; how many."""
        if not self.holding():
            return 0
        started = 0
        room = self.config.max_in_flight - len(self.sends)
        paused = self.reach.paused()
        while started < min(room, budget) and self.ready:
            alert = self.ready.popleft()
            if alert.channel in paused and alert.id not in self._rechecks:
                # Claimed before the refusal: back to the queue, unsent.
                self._release([alert.id])
                continue
            self.sends[alert.id] = asyncio.create_task(self._send(alert))
            started += 1
        if started:
            self.notify()
        return started

    def _should_look(self, mono: float) -> bool:
        """Whether the outbox may hold something due: asked to, this process or another one
        wrote, a retry fell due, or a second passed. Idle, this roughly halves the dispatcher's
        CPU (measured: looking every 20 ms cost ~5 % of a core)."""
        if self.look or mono >= self._next_look:
            return True
        changes = self.store.db.conn.total_changes  # writes through our own connection
        if changes != self._changes:
            self._changes = changes
            return True
        try:
            version = self.store.data_version()
        except UserError:
            return True
        if version != self._data_version:
            self._data_version = version
            return True
        return False

    async def _claim(self, now: datetime, limit: int) -> None:
        mono = time.monotonic()
        if not self._should_look(mono):
            return
        self.look = False
        try:
            claimed, next_due = await asyncio.to_thread(self._claim_sync, now, limit)
        except UserError as exc:
            log.warning("cannot claim alerts: %s", exc)
            self._next_look = mono + 1.0
            return
        self.ready.extend(claimed)
        wait = 1.0 if next_due is None else (next_due - now).total_seconds()
        self._next_look = mono + min(1.0, max(0.0, wait))
        if len(claimed) == limit:
            self.look = True  # there may be more

    def _claim_sync(self, now: datetime, limit: int) -> tuple[list[Alert], datetime | None]:
        held = self.held_back()
        paused = self.reach.paused()
        # Paced calls only a turn or two ahead; a lane's channels (the modem) not at all; a
        # refused account's not either, but one alert every ``refusal_recheck_s`` to re-check.
        batches = [
            (kept, most)
            for batch, most in self.routes.claim_batches(limit)
            if (kept := tuple(c for c in batch if c not in held and c not in paused))
        ]
        recheck: tuple[Channel, ...] = ()
        if paused and time.monotonic() >= self._recheck_at:
            self._recheck_at = time.monotonic() + self.config.refusal_recheck_s
            recheck = tuple(c for c in self.routes.channels if c in paused and c not in held)
            if recheck:
                batches.append((recheck, 1))
        channels = [c for batch, _ in batches for c in batch]
        with self.store.read() as db:
            due = outbox.next_due_at(db, channels)
        if due is None or due > now:
            return [], due
        with self.store.write() as db:
            claimed = []
            for batch, most in batches:
                got = outbox.claim_due(db, self.lease.holder, now, most, batch)
                if batch is recheck:  # the one alert that tries a refused account again
                    self._rechecks.update(a.id for a in got)
                claimed += got
            return claimed, outbox.next_due_at(db, channels)

    def release_ready(self) -> None:
        """Hand back claimed alerts this process never sent (clean stop)."""
        ids = [a.id for a in self.ready]
        self.ready.clear()
        self._release(ids)

    def _release(self, ids: list[int]) -> None:
        if ids:
            with contextlib.suppress(UserError), self.store.write() as db:
                outbox.release_claims(db, ids, self.lease.holder)

    async def _send(self, alert: Alert) -> None:
        try:
            await self._send_one(alert)
        except UserError as exc:  # storage trouble: the row stays `sending`, reconciled later
            log.error("alert %d: %s", alert.id, exc)
        except Exception:  # one alert must never stop the dispatcher
            log.exception("alert %d: unexpected error", alert.id)
            with contextlib.suppress(UserError):
                self._retry(alert, None, "unexpected error (see the log)", uncertain=True)
        finally:
            self.sends.pop(alert.id, None)
            self._rechecks.discard(alert.id)
            # The next claimed alert goes out from here, without a turn of the main loop
            # (measured: one loop turn per finished request was a third of the bookkeeping).
            if self.stopping() or not self._start_ready(1) or len(self.ready) < 2:
                self.poke()
            self.notify()

    async def _send_one(self, alert: Alert) -> None:
        if not self.lease.held():
            # Never send on a lease we may have lost; never sent, so back to the queue (the
            # new holder would otherwise have to look it up first).
            self._release([alert.id])
            return
        try:
            if alert.uncertain:
                found = await self._lookup(alert)
                if found is not None:
                    with self.store.write() as db:
                        if self._adopt(db, alert, found, self.clock()):
                            return
                    # An unknown SID taken by another alert: fall through and send.
                if not self.lease.held():
                    self._release([alert.id])
                    return
            await self.routes.wait_turn(alert.channel)  # calls per second: before the timeout
            if not self.lease.held():
                self._release([alert.id])
                return
            self.requests += 1
            # asyncio.timeout, not wait_for: no extra task per request (measured on the hot path).
            async with asyncio.timeout(self.config.request_timeout_s):
                result = await self._request(alert)
        except PermanentSendError as exc:
            self.reach.success()  # the provider answered: it is reachable
            if exc.account_wide:
                self._hold_for_account(alert, exc)
                return
            if exc.status in (401, 403):
                # Our credentials, not this alert: keep it queued and say so, do not fail it.
                self.reach.failure(str(exc), answered=True)
                self._retry(alert, None, str(exc), code=exc.code, uncertain=alert.uncertain)
                return
            with self.store.write() as db:
                outbox.mark_failed(db, alert.id, self.clock(), code=exc.code, reason=str(exc))
            log.info("alert %d refused: %s", alert.id, exc)
            return
        except TransientSendError as exc:
            self.reach.failure(str(exc), answered=answered(exc))
            # A 429 means "not created", a refused connection "not sent"; anything else may have
            # been created, so look before resending (and never let the modem take it).
            self._retry(
                alert,
                exc.retry_after,
                str(exc),
                code=exc.code,
                uncertain=exc.status != 429 and not exc.not_sent,
                reached=exc.status is not None,  # None: no HTTP answer at all
            )
            return
        except (TimeoutError, OSError) as exc:
            reason = (
                "no answer from the provider in time"
                if isinstance(exc, TimeoutError)
                else (f"connection failed: {exc}")
            )
            self.reach.failure(reason)
            self._retry(alert, None, reason, uncertain=True, reached=False)
            return
        self.reach.success()
        if alert.channel in self.reach.paused():
            self.reach.accepted(alert.channel)
            self.poke()  # the alerts kept are due now
        self._record_accepted(alert.id, result)

    def _hold_for_account(
        self, alert: Alert, exc: PermanentSendError, *, uncertain: bool = False
    ) -> None:
        """Twilio refuses our account, not this alert: pause the channels it concerns (every
        channel of the account for the credentials, this one for a sending number), keep the
        alert queued without spending its retries, and say so once."""
        client = getattr(self.routes.sender(alert.channel), "client", None)
        shared = self.routes.sharing(client) if whole_account(exc.code) else frozenset()
        if self.reach.refused(exc.code, str(exc), shared | {alert.channel}):
            self._recheck_at = time.monotonic() + self.config.refusal_recheck_s
        if whole_account(exc.code):
            self.reach.failure(str(exc), answered=True)
        with self.store.write() as db:
            outbox.mark_retry(
                db,
                alert.id,
                self.clock(),
                code=exc.code,
                error=str(exc),
                uncertain=uncertain or alert.uncertain,
            )
        self.poke()

    def _record_accepted(self, alert_id: int, result: SendResult) -> None:
        """Store the SID at once, together with every other answer that arrives meanwhile: one
        transaction for many (measured: one commit per alert was the fan-out's biggest cost).
        A crash before it commits is what reconciliation is for.
        """
        self._unrecorded[alert_id] = (result, self.clock())
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while self._unrecorded:
            batch, self._unrecorded = self._unrecorded, {}
            self._recording = batch
            try:
                await asyncio.to_thread(self._write_accepted, batch)
            finally:
                self._recording = {}
            self.notify()

    def flush_accepted(self) -> None:
        """Synchronously, on the way out."""
        batch, self._unrecorded = self._unrecorded, {}
        self._write_accepted(batch)

    def _write_accepted(self, batch: dict[int, tuple[SendResult, datetime]]) -> None:
        if not batch:
            return
        try:
            with self.store.write() as db:
                outbox.mark_accepted_many(
                    db,
                    [(i, result.sid, result.status, at) for i, (result, at) in batch.items()],
                    self.config.status_poll_s,
                )
        except UserError as exc:  # rows stay `sending`: reconciled by lookup, never resent blind
            log.error("could not record %d accepted alert(s): %s", len(batch), exc)

    async def _request(self, alert: Alert) -> SendResult:
        sender = self.routes.sender(alert.channel)
        if sender is None:  # claimed before its route was removed: say so, never guess one
            raise PermanentSendError(f"nothing can send {alert.channel} alerts here")
        return await sender.send(alert)

    def _retry(
        self,
        alert: Alert,
        retry_after: float | None,
        reason: str,
        *,
        code: int | None = None,
        uncertain: bool,
        reached: bool = True,
    ) -> None:
        """Queue ``alert`` again after a backoff. An alert gives up at the maximum age only when
        the provider answered (429, 5xx, bad credentials): while it cannot be reached at all,
        alerts keep waiting, however long the outage, and go out when it answers again (their
        age shows in the outbox and the call sheet dialog)."""
        now = self.clock()
        policy = self.config.backoff
        attempt = max(1, alert.attempts)
        when = policy.next_attempt(
            created_at=alert.created_at,
            now=now,
            attempt=attempt,
            rand=self._rand(),
            retry_after=retry_after,
        )
        if when is None and not reached:
            when = now + timedelta(seconds=policy.delay(attempt, self._rand()))
        with self.store.write() as db:
            if when is None:
                age = self.config.backoff.max_age_min
                outbox.mark_failed(
                    db, alert.id, now, code=code, reason=f"gave up after {age:g} min: {reason}"
                )
                # A try that may have landed stays findable: keep its uncertainty visible.
            else:
                outbox.mark_retry(db, alert.id, when, code=code, error=reason, uncertain=uncertain)
        self.poke()
