"""The outbox dispatcher: sends committed alerts, tracks them, reads replies (asyncio).

Runs as a task inside the TUI's event loop or standalone (``run_forever``, `mim-console
dispatch`). Only the process holding the database lease sends, polls and reads replies; others
stand by and take over within a few seconds when the holder stops renewing.

Crash safety comes from the order of writes: an alert is claimed (``sending``) in a committed
transaction before its request leaves, and its SID is stored the moment the answer arrives. An
alert found ``sending`` without a SID on start or takeover, or one whose last try timed out
(``uncertain``), is looked up at the provider by recipient and text before any resend.

Database calls are short blocking sqlite calls made straight from the loop: measured in
bench/alerts.py, each costs tens of microseconds, less than handing it to a thread would.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from mim_console.clock import Clock, from_iso, to_iso, utcnow
from mim_console.data import outbox, verification
from mim_console.data.lease import Lease
from mim_console.data.outbox import Alert, AlertDraft
from mim_console.data.store import Store
from mim_console.domain.backoff import BackoffPolicy
from mim_console.domain.replies import Meaning, choose_incident, help_text, parse_reply
from mim_console.domain.templates import EXERCISE_PREFIX
from mim_console.errors import UserError
from mim_console.notifiers.base import (
    InboundMessage,
    Notifier,
    PermanentSendError,
    SendError,
    SendResult,
    SentRecord,
    TransientSendError,
)
from mim_console.notifiers.logmask import masked_logger

log = masked_logger("mim_console.dispatcher")  # phone numbers masked in every line


@dataclass(frozen=True)
class DispatcherConfig:
    max_in_flight: int = 20
    start_per_turn: int = 8  # new requests started per loop turn (ramp-up, see _fill)
    lease_ttl_s: float = 5.0
    heartbeat_s: float = 1.0
    idle_poll_s: float = 0.02  # look for alerts committed by other processes this often
    tick_s: float = 1.0  # on_tick cadence (escalation timers)
    request_timeout_s: float = 20.0
    status_poll_s: float = 2.0  # first delivery-status poll after acceptance
    status_poll_max_s: float = 30.0  # polls slow down with age up to this interval
    status_poll_for_min: float = 120.0  # then stop polling an alert that never finishes
    max_polls_in_flight: int = 4
    inbound_poll_s: float = 3.0
    inbound_lookback_min: float = 60.0  # first inbound poll of an empty database
    reconcile_margin_s: float = 120.0  # clock skew allowance when looking up sent messages
    help_every_min: float = 60.0  # at most one help SMS per number this often
    drain_s: float = 10.0  # on stop, wait this long for requests already sent
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)


@dataclass(frozen=True)
class DispatcherSnapshot:
    """What the UI shows: who sends, how far alerts got, whether the provider answers."""

    holder: bool
    holder_id: str
    blocked: str | None  # why this process cannot send at all (no credentials), or None
    counts: dict[str, int]
    in_flight: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None

    @property
    def reachable(self) -> bool | None:
        return reachable(self.last_success_at, self.last_failure_at)


def reachable(last_success: datetime | None, last_failure: datetime | None) -> bool | None:
    """True/False by the latest request's outcome; None before any request."""
    if last_success is None and last_failure is None:
        return None
    if last_failure is None:
        return True
    return last_success is not None and last_success >= last_failure


class Dispatcher:
    def __init__(
        self,
        store: Store,
        notifier: Notifier | None,
        *,
        config: DispatcherConfig | None = None,
        clock: Clock = utcnow,
        holder: str | None = None,
        sender: str = "",
        blocked: str | None = None,
        on_reply: Callable[[int], object] | None = None,
        on_tick: Callable[[datetime], object] | None = None,
        listener: Callable[[DispatcherSnapshot], None] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.config = config or DispatcherConfig()
        self.clock = clock
        self.lease = Lease(store, holder=holder, ttl_s=self.config.lease_ttl_s, clock=clock)
        self.sender = sender
        self.blocked = (
            blocked
            if blocked is not None
            else (None if notifier is not None else "alerts cannot be sent: no provider configured")
        )
        self.on_reply = on_reply
        self.on_tick = on_tick
        self.listener = listener
        self._rand = rand
        self._holding = False
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._sends: dict[int, asyncio.Task[None]] = {}
        self._polls: dict[int, asyncio.Task[None]] = {}
        self._unrecorded: dict[int, tuple[SendResult, datetime]] = {}  # answered, not yet stored
        self._recording: dict[int, tuple[SendResult, datetime]] = {}  # being stored right now
        self._flusher: asyncio.Task[None] | None = None
        self._ready: deque[Alert] = deque()  # claimed by us, request not started yet
        self._next_poll_check = 0.0
        self._inbound_task: asyncio.Task[None] | None = None
        self._reconcile_task: asyncio.Task[None] | None = None
        self._look = True  # look at the outbox on the next turn (see _should_look)
        self._next_look = 0.0
        self._data_version = -1
        self._changes = -1
        self._inbound_since: datetime | None = None
        self._last_success: datetime | None = None
        self._last_failure: datetime | None = None
        self._last_error: str | None = None
        self._notify_pending = False
        self.requests = 0  # sends and lookups made by this process (for tests and the bench)

    # ----------------------------------------------------------------- public
    @classmethod
    def from_settings(
        cls, store: Store, notifier: Notifier | None, settings: Any, **kwargs: Any
    ) -> Dispatcher:
        """Config from ``Settings``; without credentials the dispatcher says why and waits."""
        missing = settings.twilio.missing()
        blocked = None
        if missing or notifier is None:
            blocked = "alerts cannot be sent: missing " + (", ".join(missing) or "a notifier")
        config = kwargs.pop("config", None) or DispatcherConfig(
            max_in_flight=max(1, int(settings.max_in_flight)),
            backoff=BackoffPolicy(max_age_min=float(settings.retry_max_age_min)),
        )
        return cls(
            store,
            notifier if blocked is None else None,
            config=config,
            sender=settings.twilio.sender,
            blocked=blocked,
            **kwargs,
        )

    @property
    def holding(self) -> bool:
        return self._holding

    def wake(self) -> None:
        """Look at the outbox now (call after enqueueing in this process)."""
        self._poke()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _poke(self) -> None:
        """Something may be due: look at the outbox on the next loop turn."""
        self._look = True
        self._wake.set()

    def snapshot(self) -> DispatcherSnapshot:
        with self.store.read() as db:
            counts = outbox.counts(db)
        return DispatcherSnapshot(
            holder=self._holding,
            holder_id=self.lease.holder,
            blocked=self.blocked,
            counts=counts,
            in_flight=len(self._sends),
            last_success_at=self._last_success,
            last_failure_at=self._last_failure,
            last_error=self._last_error,
        )

    def run_forever(self) -> None:
        """Standalone: run until ``stop()`` (e.g. from a signal handler)."""
        asyncio.run(self.run())

    async def run(self) -> None:
        """The loop: heartbeat, reconcile on takeover, send, poll, read replies, tick."""
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        if self.blocked:
            log.warning("%s", self.blocked)
        next_heartbeat = 0.0
        next_tick = 0.0
        next_inbound = 0.0
        try:
            while not self._stop.is_set():
                mono = time.monotonic()
                if mono >= next_heartbeat and self.blocked is None:
                    next_heartbeat = mono + self.config.heartbeat_s
                    await self._heartbeat()
                if self._holding and self.lease.held():
                    now = self.clock()
                    if mono >= next_tick:
                        next_tick = mono + self.config.tick_s
                        self._tick(now)
                    await self._fill(now)
                    if mono >= self._next_poll_check:
                        self._next_poll_check = mono + 0.5
                        self._poll_statuses(now)
                    if mono >= next_inbound and self._inbound_task is None:
                        next_inbound = mono + self.config.inbound_poll_s
                        self._inbound_task = asyncio.create_task(self._poll_inbound())
                timeout = self.config.idle_poll_s if self._holding else self.config.heartbeat_s
                if not self._wake.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(timeout):
                            await self._wake.wait()
                self._wake.clear()
        finally:
            await self._shutdown()

    # --------------------------------------------------------------- lease
    async def _heartbeat(self) -> None:
        was = self._holding
        try:
            # In a thread: a commit can stall for tens of ms on a busy disk (WAL checkpoint
            # fsync, measured up to 46 ms here), and the loop may be the console's.
            self._holding = await asyncio.to_thread(self.lease.try_acquire)
        except UserError as exc:  # database busy or unwritable: try again next beat
            log.warning("lease heartbeat failed: %s", exc)
            self._holding = False
        if self._holding and not was:
            log.info("dispatcher %s holds the lease", self.lease.holder)
            # In the background: the heartbeat must go on while lookups wait on the provider.
            # New alerts can be sent meanwhile; only `sending` ones are being settled.
            # The list is taken now, before this process claims anything as holder: an alert
            # claimed later is ours in flight, never "in doubt" (a race that doubled sends).
            doubtful = self._in_doubt()
            if doubtful and (self._reconcile_task is None or self._reconcile_task.done()):
                self._reconcile_task = asyncio.create_task(self._reconcile(doubtful))
            self._notify()
        elif was and not self._holding:
            log.warning("dispatcher %s lost the lease", self.lease.holder)
            self._ready.clear()  # no longer ours to release: the new holder reconciles them
            self._notify()

    def _in_doubt(self) -> list[Alert]:
        """Every ``sending`` alert without a SID that this process is not still handling."""
        try:
            with self.store.read() as db:
                found = outbox.in_doubt(db)
        except UserError as exc:
            log.error("reconcile: %s", exc)
            return []
        ours = {*self._sends, *self._unrecorded, *self._recording, *(a.id for a in self._ready)}
        return [a for a in found if a.id not in ours]

    async def _reconcile(self, doubtful: list[Alert]) -> None:
        """Look each doubtful alert up at the provider before it may be sent again."""
        log.info("reconciling %d alert(s) claimed but not confirmed", len(doubtful))
        # One number at a time so two alerts with the same text never adopt the same SID.
        by_number: dict[str, list[Alert]] = {}
        for alert in doubtful:
            by_number.setdefault(alert.to_number, []).append(alert)
        sem = asyncio.Semaphore(self.config.max_in_flight)

        async def settle(alerts: list[Alert]) -> None:
            async with sem:
                for alert in alerts:
                    if not self.lease.held():
                        return
                    try:
                        found = await self._lookup(alert)
                    except (SendError, TimeoutError, OSError) as exc:
                        # Still unknown: stays marked uncertain, looked up again before a send.
                        self._failure(str(exc) or "lookup timed out")
                        self._retry(alert, None, f"lookup failed: {exc}", uncertain=True)
                        continue
                    now = self.clock()
                    with self.store.write() as db:
                        if found is not None and self._adopt(db, alert, found, now):
                            continue
                        outbox.requeue_checked(db, alert.id, now)

        try:
            await asyncio.gather(*(settle(alerts) for alerts in by_number.values()))
        except UserError as exc:  # storage trouble: whatever is left is settled next takeover
            log.error("reconcile: %s", exc)
        except Exception:  # never let a bug here stop the dispatcher
            log.exception("reconcile failed")
        self._poke()

    # ---------------------------------------------------------------- sending
    async def _fill(self, now: datetime) -> None:
        """Start sends up to the concurrency bound, from a buffer of claimed alerts.

        Claims come in batches of up to ``max_in_flight`` (one transaction each) rather than one
        per finished request: measured, per-request claims were most of the bookkeeping cost.
        A claimed alert not yet sent is safe to hold: a crash leaves it ``sending`` without a SID,
        which reconciliation looks up (finds nothing) and queues again.
        """
        room = self.config.max_in_flight - len(self._sends)
        if room <= 0:
            return
        if len(self._ready) < room:
            await self._claim(now, self.config.max_in_flight - len(self._ready))
            room = self.config.max_in_flight - len(self._sends)
        if self._start_ready(self.config.start_per_turn) and self._ready:
            # Let the first requests reach the wire before preparing the next ones: started all
            # at once, the first request waited for every other's preparation (measured).
            self._poke()

    def _start_ready(self, budget: int) -> int:
        """Start up to ``budget`` claimed alerts within the concurrency bound; how many."""
        if not self._holding:
            return 0
        started = 0
        room = self.config.max_in_flight - len(self._sends)
        while started < min(room, budget) and self._ready:
            alert = self._ready.popleft()
            self._sends[alert.id] = asyncio.create_task(self._send(alert))
            started += 1
        if started:
            self._notify()
        return started

    def _should_look(self, mono: float) -> bool:
        """Whether the outbox may hold something due: asked to, this process or another one
        wrote, a retry fell due, or a second passed. Idle, this roughly halves the dispatcher's
        CPU (measured: looking every 20 ms cost ~5 % of a core)."""
        if self._look or mono >= self._next_look:
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
        self._look = False
        try:
            claimed, next_due = await asyncio.to_thread(self._claim_sync, now, limit)
        except UserError as exc:
            log.warning("cannot claim alerts: %s", exc)
            self._next_look = mono + 1.0
            return
        self._ready.extend(claimed)
        wait = 1.0 if next_due is None else (next_due - now).total_seconds()
        self._next_look = mono + min(1.0, max(0.0, wait))
        if len(claimed) == limit:
            self._look = True  # there may be more

    def _claim_sync(self, now: datetime, limit: int) -> tuple[list[Alert], datetime | None]:
        with self.store.read() as db:
            due = outbox.next_due_at(db)
        if due is None or due > now:
            return [], due
        with self.store.write() as db:
            claimed = outbox.claim_due(db, self.lease.holder, now, limit)
            return claimed, outbox.next_due_at(db)

    def _release_ready(self) -> None:
        """Hand back claimed alerts this process never sent (clean stop)."""
        ids = [a.id for a in self._ready]
        self._ready.clear()
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
            self._sends.pop(alert.id, None)
            # The next claimed alert goes out from here, without a turn of the main loop
            # (measured: one loop turn per finished request was a third of the bookkeeping).
            if self._stop.is_set() or not self._start_ready(1) or len(self._ready) < 2:
                self._poke()
            self._notify()

    async def _send_one(self, alert: Alert) -> None:
        assert self.notifier is not None
        if not self.lease.held():
            return  # the new holder reconciles it: never send on a lease we may have lost
        try:
            if alert.uncertain:
                found = await self._lookup(alert)
                if found is not None:
                    with self.store.write() as db:
                        if self._adopt(db, alert, found, self.clock()):
                            return
                    # An unknown SID taken by another alert: fall through and send.
                if not self.lease.held():
                    return
            self.requests += 1
            # asyncio.timeout, not wait_for: no extra task per request (measured on the hot path).
            async with asyncio.timeout(self.config.request_timeout_s):
                result = await self._request(alert)
        except PermanentSendError as exc:
            self._success()  # the provider answered: it is reachable
            if exc.status in (401, 403):
                # Our credentials, not this alert: keep it queued and say so, do not fail it.
                self._failure(str(exc))
                self._retry(alert, None, str(exc), code=exc.code, uncertain=alert.uncertain)
                return
            with self.store.write() as db:
                outbox.mark_failed(db, alert.id, self.clock(), code=exc.code, reason=str(exc))
            log.info("alert %d refused: %s", alert.id, exc)
            return
        except TransientSendError as exc:
            self._failure(str(exc))
            # A 429 means "not created"; anything else may have been, so look before resending.
            self._retry(
                alert,
                exc.retry_after,
                str(exc),
                code=exc.code,
                uncertain=exc.status != 429,
                reached=exc.status is not None,  # None: no HTTP answer at all
            )
            return
        except (TimeoutError, OSError) as exc:
            reason = (
                "no answer from the provider in time"
                if isinstance(exc, TimeoutError)
                else (f"connection failed: {exc}")
            )
            self._failure(reason)
            self._retry(alert, None, reason, uncertain=True, reached=False)
            return
        self._success()
        self._record_accepted(alert.id, result)

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
            self._notify()

    def _flush_accepted(self) -> None:
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
        assert self.notifier is not None
        if alert.channel == "voice":
            return await self.notifier.place_call(alert.to_number, alert.body)
        return await self.notifier.send_sms(alert.to_number, alert.body)

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
        self._poke()

    async def _lookup(self, alert: Alert) -> SentRecord | None:
        """The provider's record of this alert, if an earlier try reached it."""
        assert self.notifier is not None
        if alert.channel not in ("sms", "voice"):
            return None  # chat webhooks keep no log: a doubtful post is posted again
        since = alert.created_at - timedelta(seconds=self.config.reconcile_margin_s)
        self.requests += 1
        records = await asyncio.wait_for(
            self.notifier.sent_to(alert.to_number, since, alert.channel),
            self.config.request_timeout_s,
        )
        self._success()
        with self.store.read() as db:
            taken = outbox.known_sids(db, [r.sid for r in records])
        for record in sorted(records, key=lambda r: r.created_at):
            if record.sid in taken or record.created_at < since:
                continue
            if alert.channel == "sms" and record.body.strip() != alert.body.strip():
                continue
            return record
        return None

    def _adopt(self, db: Any, alert: Alert, record: SentRecord, now: datetime) -> bool:
        if outbox.known_sids(db, [record.sid]):
            return False
        log.info("alert %d was already accepted as %s: adopted, not resent", alert.id, record.sid)
        return outbox.mark_accepted(
            db, alert.id, record.sid, record.status, now, self.config.status_poll_s
        )

    # --------------------------------------------------------------- tracking
    def _poll_statuses(self, now: datetime) -> None:
        room = self.config.max_polls_in_flight - len(self._polls)
        if room <= 0:
            return
        with self.store.read() as db:
            due = [a for a in outbox.due_polls(db, now, room + len(self._polls))]
        for alert in due:
            if alert.id not in self._polls and len(self._polls) < self.config.max_polls_in_flight:
                self._polls[alert.id] = asyncio.create_task(self._poll_one(alert))

    def _poll_interval(self, alert: Alert, now: datetime) -> datetime | None:
        sent = alert.sent_at or now
        age = (now - sent).total_seconds()
        if age > self.config.status_poll_for_min * 60:
            return None
        step = min(self.config.status_poll_max_s, max(self.config.status_poll_s, age / 4))
        return now + timedelta(seconds=step)

    async def _poll_one(self, alert: Alert) -> None:
        assert self.notifier is not None and alert.provider_sid is not None
        try:
            fetch = (
                self.notifier.call_status
                if alert.channel == "voice"
                else self.notifier.message_status
            )
            status = await asyncio.wait_for(
                fetch(alert.provider_sid), self.config.request_timeout_s
            )
            self._success()
            now = self.clock()
            with self.store.write() as db:
                outbox.record_status(
                    db,
                    alert.id,
                    status.status,
                    now,
                    next_poll_at=self._poll_interval(alert, now),
                    code=status.error_code,
                    error=status.error_message,
                )
        except PermanentSendError as exc:  # e.g. the SID is unknown: stop polling it
            with contextlib.suppress(UserError), self.store.write() as db:
                outbox.record_status(db, alert.id, alert.status, self.clock(), next_poll_at=None)
            log.warning("alert %d: status poll refused: %s", alert.id, exc)
        except (TransientSendError, TimeoutError, OSError) as exc:
            self._failure(str(exc) or "status poll timed out")
            now = self.clock()
            with contextlib.suppress(UserError), self.store.write() as db:
                outbox.record_status(
                    db, alert.id, alert.status, now, next_poll_at=self._poll_interval(alert, now)
                )
        except UserError as exc:
            log.error("alert %d: %s", alert.id, exc)
        finally:
            self._polls.pop(alert.id, None)
            self._notify()

    # ---------------------------------------------------------------- replies
    async def _poll_inbound(self) -> None:
        assert self.notifier is not None
        try:
            since = self._inbound_start()
            messages = await asyncio.wait_for(
                self.notifier.inbound_since(since), self.config.request_timeout_s
            )
            self._success()
            replied: list[int] = []
            # The provider lists newest first: reversed, a stable sort keeps same-second order.
            for message in sorted(reversed(messages), key=lambda m: m.received_at):
                inbound_id = self._store_inbound(message)
                if inbound_id is not None:
                    replied.append(inbound_id)
                if self._inbound_since is None or message.received_at > self._inbound_since:
                    self._inbound_since = message.received_at
            for inbound_id in replied:
                if self.on_reply is not None:
                    try:
                        self.on_reply(inbound_id)
                    except Exception:  # the callback's bug must not stop sending
                        log.exception("on_reply(%d) failed", inbound_id)
            if replied or messages:
                self._notify()
        except (TransientSendError, PermanentSendError, TimeoutError, OSError) as exc:
            self._failure(str(exc) or "inbound poll timed out")
        except UserError as exc:
            log.error("inbound: %s", exc)
        finally:
            self._inbound_task = None

    def _inbound_start(self) -> datetime:
        """Overlap the last poll a little: the SID dedupes, and late arrivals are not missed."""
        if self._inbound_since is None:
            with self.store.read() as db:
                row = db.execute("SELECT MAX(received_at) FROM inbound").fetchone()
            if row[0]:
                self._inbound_since = from_iso(row[0])
            else:
                lookback = timedelta(minutes=self.config.inbound_lookback_min)
                return self.clock() - lookback
        return self._inbound_since - timedelta(minutes=2)

    def _store_inbound(self, message: InboundMessage) -> int | None:
        """Record one inbound SMS (once per SID) and its meaning; the id if someone answered."""
        now = self.clock()
        with self.store.write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO inbound (provider_sid, from_number, body, received_at) "
                "VALUES (?, ?, ?, ?)",
                [message.sid, message.from_number, message.body, to_iso(message.received_at)],
            )
            if cursor.rowcount != 1:
                return None
            inbound_id = int(cursor.lastrowid or 0)
            person_id, incident_id, meaning, help_codes = self._interpret(db, message)
            db.execute(
                "UPDATE inbound SET person_id = ?, incident_id = ?, meaning = ?, "
                "processed_at = ? WHERE id = ?",
                [person_id, incident_id, meaning, to_iso(now), inbound_id],
            )
            if help_codes is not None and self._may_help(db, message.from_number, now):
                outbox.enqueue(
                    db,
                    [
                        AlertDraft(
                            to_number=message.from_number,
                            channel="sms",
                            purpose="help",
                            body=_help_body(db, help_codes),
                            person_id=person_id,
                        )
                    ],
                    now,
                )
                self._poke()
        if meaning == "unknown_number":
            log.info("reply from an unknown number %s logged, not acted on", message.from_number)
        answered = meaning in (Meaning.JOINING, Meaning.UNABLE) and incident_id is not None
        return inbound_id if answered else None

    def _interpret(
        self, db: Any, message: InboundMessage
    ) -> tuple[int | None, int | None, str, list[str] | None]:
        """(person, incident, meaning, help codes or None when no help SMS is due)."""
        if self.sender and message.from_number == self.sender:
            return None, None, "own_message", None
        row = db.execute(
            "SELECT id FROM person WHERE mobile = ? OR phone2 = ? ORDER BY active DESC, id LIMIT 1",
            [message.from_number, message.from_number],
        ).fetchone()
        if row is None:
            return None, None, "unknown_number", None
        person_id = int(row[0])
        active = [
            (int(r[0]), str(r[1]))
            for r in db.execute("SELECT id, reply_code FROM incident WHERE status = 'active'")
        ]
        # The provider stamps replies to the whole second while alerts carry microseconds: a
        # "1" sent within the alert's own second is stamped before it. One second of slack.
        before = message.received_at.replace(microsecond=0) + timedelta(seconds=1)
        alerted = {
            int(r[0])
            for r in db.execute(
                "SELECT DISTINCT incident_id FROM alert WHERE person_id = ? "
                "AND incident_id IS NOT NULL AND purpose != 'help' AND created_at < ?",
                [person_id, to_iso(before)],
            )
        }
        codes = [code for incident_id, code in active if incident_id in alerted] or [
            code for _, code in active
        ]
        # A contact check's answer (its code, or anything from someone on no active incident)
        # verifies the number and is never read as an incident reply: domain/verification.py.
        on_incident = bool(alerted & {i for i, _ in active})
        if verification.answer_reply(
            db,
            person_id,
            message.from_number,
            message.body,
            message.received_at,
            message.sid,
            on_active_incident=on_incident,
        ):
            return person_id, None, "verified", None
        parsed = parse_reply(message.body)
        if not parsed.recognised:
            wants_help = bool(alerted & {i for i, _ in active})
            return person_id, None, Meaning.UNRECOGNISED.value, codes if wants_help else None
        choice = choose_incident(parsed, active, alerted)
        if choice.incident_id is not None:
            return person_id, choice.incident_id, parsed.meaning.value, None
        return person_id, None, choice.resolution.value, codes if choice.needs_help else None

    def _may_help(self, db: Any, number: str, now: datetime) -> bool:
        """Never a loop: one help SMS per number per ``help_every_min``."""
        since = now - timedelta(minutes=self.config.help_every_min)
        row = db.execute(
            "SELECT 1 FROM alert WHERE purpose = 'help' AND to_number = ? AND created_at > ?",
            [number, to_iso(since)],
        ).fetchone()
        return row is None

    # ----------------------------------------------------------------- misc
    def _tick(self, now: datetime) -> None:
        if self.on_tick is None:
            return
        try:
            self.on_tick(now)
        except Exception:  # escalation bugs must not stop sending
            log.exception("on_tick failed")
        self._poke()  # escalation may have queued alerts

    def _success(self) -> None:
        was = reachable(self._last_success, self._last_failure)
        self._last_success = self.clock()
        if was is not True:  # first contact, or back: say so even with nothing else moving
            self._notify()

    def _failure(self, reason: str) -> None:
        was = reachable(self._last_success, self._last_failure)
        self._last_failure = self.clock()
        self._last_error = reason
        if was is not False:  # lost while idle (only the inbound poll asking): the banner says
            self._notify()

    def _notify(self) -> None:
        """Tell the listener, at most once per loop turn (a fan-out finishes hundreds at once)."""
        if self.listener is None or self._notify_pending:
            return
        self._notify_pending = True

        def fire() -> None:
            self._notify_pending = False
            if self.listener is not None:
                try:
                    self.listener(self.snapshot())
                except Exception:
                    log.exception("dispatcher listener failed")

        asyncio.get_running_loop().call_later(0.1, fire)

    async def _shutdown(self) -> None:
        """Let requests already sent finish (so their SIDs are stored), then hand over."""
        pending = [*self._sends.values(), *self._polls.values()]
        for extra in (self._inbound_task, self._reconcile_task, self._flusher):
            if extra is not None and not extra.done():
                pending.append(extra)
        if pending:
            _, late = await asyncio.wait(pending, timeout=self.config.drain_s)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        if self._flusher is not None and not self._flusher.done():  # started by the last sends
            await asyncio.wait([self._flusher], timeout=5.0)
        self._flush_accepted()
        if self._holding and self.lease.held(margin_s=0):
            self._release_ready()
        if self._holding:
            with contextlib.suppress(UserError):
                self.lease.release()
        self._holding = False


def _help_body(db: Any, reply_codes: list[str]) -> str:
    """The help SMS, marked ``EXERCISE`` when every incident it names is a drill (never when a
    real one is among them: nobody may take a real incident for a drill)."""
    text = help_text(reply_codes)
    if not reply_codes:
        return text
    marks = ",".join("?" * len(reply_codes))
    flags = [
        int(r[0])
        for r in db.execute(
            f"SELECT exercise FROM incident WHERE status = 'active' AND reply_code IN ({marks})",
            list(reply_codes),
        )
    ]
    if flags and all(flags):
        return f"{EXERCISE_PREFIX} {text}"
    return text


def make_notifier(settings: Any, store: Store | None = None) -> Notifier | None:
    """Twilio, with chat rows routed to their webhooks; None without Twilio credentials (the
    dispatcher then says why)."""
    if not settings.twilio.configured:
        return None
    from mim_console.notifiers.chat import ChatRouting, store_resolver
    from mim_console.notifiers.twilio import TwilioNotifier

    resolve = store_resolver(store) if store is not None else None
    return ChatRouting(TwilioNotifier(settings.twilio), resolve=resolve)


def for_context(ctx: Any, **kwargs: Any) -> Dispatcher:
    """A dispatcher for a ``Context``: its store and settings, the real clock (leases span
    processes, so a test's frozen clock must not reach them). Call inside the running loop:
    the notifier's connection pool belongs to it."""
    return Dispatcher.from_settings(
        ctx.store, make_notifier(ctx.settings, ctx.store), ctx.settings, **kwargs
    )


async def run_with_context(ctx: Any, dispatcher: Dispatcher | None = None, **kwargs: Any) -> None:
    """Run until stopped, closing the notifier's connections at the end."""
    d = dispatcher or for_context(ctx, **kwargs)
    try:
        await d.run()
    finally:
        if d.notifier is not None:
            await d.notifier.aclose()


def start_in_thread(
    ctx: Any,
    *,
    on_reply: Callable[[int], object] | None = None,
    on_tick: Callable[[datetime], object] | None = None,
    listener: Callable[[DispatcherSnapshot], None] | None = None,
) -> Callable[[], None]:
    """Run a dispatcher on its own loop in a daemon thread (for `watch`); returns a stopper.

    Raises ``UserError`` without Twilio credentials: nothing could be sent.
    """
    missing = ctx.settings.twilio.missing()
    if missing:
        raise UserError("Twilio is not configured: set " + ", ".join(missing))
    loop = asyncio.new_event_loop()
    box: dict[str, Dispatcher] = {}
    ready = threading.Event()

    async def main() -> None:
        d = for_context(ctx, on_reply=on_reply, on_tick=on_tick, listener=listener)
        box["d"] = d
        ready.set()
        await run_with_context(ctx, d)

    def target() -> None:
        try:
            loop.run_until_complete(main())
        except Exception:  # reported in the log; the caller keeps running
            log.exception("dispatcher thread stopped")
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=target, name="mim-dispatcher", daemon=True)
    thread.start()
    ready.wait(10)

    def stopper() -> None:
        d = box.get("d")
        if d is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(d.stop)
        thread.join(d.config.drain_s + 5 if d else 5)

    return stopper


def settings_config(settings: Any, **overrides: Any) -> DispatcherConfig:
    base = DispatcherConfig(
        max_in_flight=max(1, int(settings.max_in_flight)),
        backoff=BackoffPolicy(max_age_min=float(settings.retry_max_age_min)),
    )
    return replace(base, **overrides)
