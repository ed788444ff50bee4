"""Alerts left in doubt by a crash, a kill or a lost lease (claimed, ``sending``, no SID), and
alerts whose last try timed out (``uncertain``): each is looked up at its route
(``Sender.find_sent``) before it may be sent again; a record found is adopted, none found puts
the alert back in the queue. A base of ``Outgoing`` (notifiers/sending.py), which sends.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlite_utils import Database

from mim_console.clock import Clock
from mim_console.data import outbox, sites
from mim_console.data.lease import Lease
from mim_console.data.store import Store
from mim_console.domain.alerts import Alert
from mim_console.errors import UserError
from mim_console.notifiers.base import PermanentSendError, SendError, SendResult, SentRecord
from mim_console.notifiers.logmask import masked_logger
from mim_console.notifiers.reach import Reach, answered
from mim_console.notifiers.senders import Routes
from mim_console.notifiers.tuning import DispatcherConfig

log = masked_logger("mim_console.dispatcher")  # phone numbers masked in every line


class Reconciling:
    """Settling the alerts in doubt; the send side's state is ``Outgoing``'s."""

    store: Store
    routes: Routes
    config: DispatcherConfig
    clock: Clock
    lease: Lease
    reach: Reach
    poke: Callable[[], None]
    requests: int
    reconciling: asyncio.Task[None] | None
    _more_doubt: list[Alert]
    sends: dict[int, asyncio.Task[None]]
    _unrecorded: dict[int, tuple[SendResult, datetime]]
    _recording: dict[int, tuple[SendResult, datetime]]
    ready: deque[Alert]

    # Outgoing's, on the send side: queue again after a backoff; hold for an account refusal.
    _retry: Callable[..., None]
    _hold_for_account: Callable[..., None]

    def start_reconcile(self) -> None:
        """On taking the lease: settle what earlier holders left in doubt, in the background
        (the heartbeat must go on while lookups wait on the provider). The list is taken now,
        before this process claims anything as holder: an alert claimed later is ours in
        flight, never "in doubt" (a race that doubled sends)."""
        doubtful = self.in_doubt()
        if not doubtful:
            return
        if self.reconciling is not None and not self.reconciling.done():
            # Lost and taken back while the last one still looks: settled right after it (a
            # dropped list left alerts `sending` for good).
            self._more_doubt.extend(doubtful)
            return
        self.reconciling = asyncio.create_task(self._reconcile_all(doubtful))

    async def _reconcile_all(self, doubtful: list[Alert]) -> None:
        while doubtful:
            await self.reconcile(doubtful)
            later, self._more_doubt = self._more_doubt, []
            if not later or not self.lease.held():
                return
            # Only those still in doubt under the same claim (nobody took them meanwhile).
            now = {(a.id, a.attempts, a.claimed_by) for a in self.in_doubt()}
            doubtful = [a for a in later if (a.id, a.attempts, a.claimed_by) in now]

    def in_doubt(self) -> list[Alert]:
        """Every ``sending`` alert without a SID that this process is not still handling."""
        try:
            with self.store.read() as db:
                found = outbox.in_doubt(db)
        except UserError as exc:
            log.error("reconcile: %s", exc)
            return []
        ours = {*self.sends, *self._unrecorded, *self._recording, *(a.id for a in self.ready)}
        return [a for a in found if a.id not in ours]

    async def reconcile(self, doubtful: list[Alert]) -> None:
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
                        if isinstance(exc, PermanentSendError) and exc.account_wide:
                            self._hold_for_account(alert, exc, uncertain=True)  # looked up later
                            continue
                        # Still unknown: stays marked uncertain, looked up again before a send.
                        self.reach.failure(str(exc) or "lookup timed out", answered=answered(exc))
                        self._retry(alert, None, f"lookup failed: {exc}", uncertain=True)
                        continue
                    now = self.clock()
                    with self.store.write() as db:
                        if found is not None and self._adopt(db, alert, found, now):
                            continue
                        outbox.requeue_checked(db, alert, now)

        try:
            await asyncio.gather(*(settle(alerts) for alerts in by_number.values()))
        except UserError as exc:  # storage trouble: whatever is left is settled next takeover
            log.error("reconcile: %s", exc)
        except Exception:  # never let a bug here stop the dispatcher
            log.exception("reconcile failed")
        self.poke()

    async def _lookup(self, alert: Alert) -> SentRecord | None:
        """The provider's record of this alert, if an earlier try reached it."""
        sender = self.routes.sender(alert.channel)
        if sender is None or not sender.keeps_log:
            return None  # e.g. chat webhooks keep no log: a doubtful post is posted again
        margin = timedelta(seconds=self.config.reconcile_margin_s)
        since = alert.created_at - margin
        if alert.uncertain:
            with self.store.read() as db:
                # After a take-over: the old site may have sent it long before (docs/sites.md).
                floor = sites.lookback_from(db, alert.created_at)
            if floor is not None:
                since = min(since, floor - margin)
        self.requests += 1
        records = await asyncio.wait_for(
            sender.find_sent(alert, since), self.config.request_timeout_s
        )
        self.reach.success()
        with self.store.read() as db:
            taken = outbox.known_sids(db, [r.sid for r in records])
        for record in sorted(records, key=lambda r: r.created_at):
            if record.sid in taken or record.created_at < since:
                continue
            return record
        return None

    def _adopt(self, db: Database, alert: Alert, record: SentRecord, now: datetime) -> bool:
        if outbox.known_sids(db, [record.sid]):
            return False
        log.info("alert %d was already accepted as %s: adopted, not resent", alert.id, record.sid)
        return outbox.mark_accepted(
            db, alert.id, record.sid, record.status, now, self.config.status_poll_s
        )
