"""Delivery tracking: polling the status of alerts in flight until they are final.

Polls start ``status_poll_s`` after acceptance and slow down with the alert's age (up to
``status_poll_max_s``), for at most ``status_poll_for_min``; each poll asks the sender of the
alert's channel (``Sender.status``), at most ``max_polls_in_flight`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from mim_console.clock import Clock
from mim_console.data import outbox
from mim_console.data.store import Store
from mim_console.domain.alerts import Alert
from mim_console.errors import UserError
from mim_console.notifiers.base import PermanentSendError, TransientSendError
from mim_console.notifiers.logmask import masked_logger
from mim_console.notifiers.reach import Reach, answered
from mim_console.notifiers.senders import Routes
from mim_console.notifiers.tuning import DispatcherConfig

log = masked_logger("mim_console.dispatcher")


class StatusTracker:
    def __init__(
        self,
        store: Store,
        routes: Routes,
        config: DispatcherConfig,
        clock: Clock,
        reach: Reach,
        notify: Callable[[], None],
    ) -> None:
        self.store = store
        self.routes = routes
        self.config = config
        self.clock = clock
        self.reach = reach
        self.notify = notify
        self.polls: dict[int, asyncio.Task[None]] = {}

    def poll_due(self, now: datetime) -> None:
        """Start the status polls that are due, within the bound."""
        room = self.config.max_polls_in_flight - len(self.polls)
        if room <= 0:
            return
        with self.store.read() as db:
            due = outbox.due_polls(db, now, room + len(self.polls))
        for alert in due:
            if alert.id not in self.polls and len(self.polls) < self.config.max_polls_in_flight:
                self.polls[alert.id] = asyncio.create_task(self._poll_one(alert))

    def _interval(self, alert: Alert, now: datetime) -> datetime | None:
        sent = alert.sent_at or now
        age = (now - sent).total_seconds()
        if age > self.config.status_poll_for_min * 60:
            return None
        step = min(self.config.status_poll_max_s, max(self.config.status_poll_s, age / 4))
        return now + timedelta(seconds=step)

    def _later(self, alert: Alert, reason: str, *, got_answer: bool = True) -> None:
        """The poll failed but may work later: keep the alert's polls going."""
        self.reach.failure(reason, answered=got_answer)
        now = self.clock()
        with contextlib.suppress(UserError), self.store.write() as db:
            outbox.record_status(
                db, alert.id, alert.status, now, next_poll_at=self._interval(alert, now)
            )

    async def _poll_one(self, alert: Alert) -> None:
        assert alert.provider_sid is not None
        sender = self.routes.sender(alert.channel)
        try:
            if sender is None:  # its route is gone (configuration changed): stop polling it
                raise PermanentSendError(f"no sender for channel {alert.channel}")
            status = await asyncio.wait_for(
                sender.status(alert.provider_sid), self.config.request_timeout_s
            )
            self.reach.success()
            now = self.clock()
            with self.store.write() as db:
                outbox.record_status(
                    db,
                    alert.id,
                    status.status,
                    now,
                    next_poll_at=self._interval(alert, now),
                    code=status.error_code,
                    error=status.error_message,
                )
        except PermanentSendError as exc:  # e.g. the SID is unknown: stop polling it
            if exc.account_wide:  # our credentials, not this alert: poll it again later
                self._later(alert, str(exc))
                return
            with contextlib.suppress(UserError), self.store.write() as db:
                outbox.record_status(db, alert.id, alert.status, self.clock(), next_poll_at=None)
            log.warning("alert %d: status poll refused: %s", alert.id, exc)
        except (TransientSendError, TimeoutError, OSError) as exc:
            self._later(alert, str(exc) or "status poll timed out", got_answer=answered(exc))
        except UserError as exc:
            log.error("alert %d: %s", alert.id, exc)
        finally:
            self.polls.pop(alert.id, None)
            self.notify()
