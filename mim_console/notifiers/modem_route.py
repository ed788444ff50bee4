"""The modem route's loop: send the alerts the modem takes, read its inbox, watch its health.

Runs beside the Twilio send loop in the process that holds the dispatcher lease (only there is
the modem opened). One alert at a time, decision makers first (data/modem_queue.py chooses),
every send claimed in a committed transaction before ``SendSMS`` and marked right after: a crash
between the two leaves "may have been sent" in the timeline, never a silent resend.

The routing policy (``[modem] use``) is decided per turn by ``domain.modem.takes_waiting`` from
how long Twilio has been silent; alerts the duty manager sent this way are the modem's always.
Replies read from the modem go to the same receiver as Twilio's (deduplicated by their id).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from mim_console.clock import Clock, utcnow
from mim_console.config import ModemSettings
from mim_console.data import incidents, modem_queue
from mim_console.data.store import Store
from mim_console.domain import modem as policy
from mim_console.domain.alerts import Alert, Channel
from mim_console.domain.replies import InboundReply
from mim_console.errors import UserError
from mim_console.notifiers.base import ReplyReceiver
from mim_console.notifiers.logmask import masked_logger
from mim_console.notifiers.modem import (
    GammuModem,
    ModemInDoubt,
    ModemRefused,
    ModemUnavailable,
)

log = masked_logger("mim_console.modem_route")

ACTOR = "modem"


@dataclass(frozen=True)
class ModemRouteConfig:
    idle_s: float = 0.5  # look for work this often when there is none
    inbox_poll_s: float = 5.0
    health_every_s: float = 60.0
    retry_s: float = 15.0  # an alert the modem could not take is tried again after this


@dataclass(frozen=True)
class ModemSnapshot:
    """What the banner shows about the modem route."""

    active: bool  # the modem takes every waiting SMS alert now (always, or the fallback)
    waiting: int  # alerts the modem will send
    in_doubt: int  # waiting for reconciliation or "send anyway"
    per_minute: float | None
    ok: bool | None  # None before the first health check
    health: str
    sent: int  # sent by this process
    twilio: bool = True  # Twilio is configured beside the modem

    @property
    def banner_text(self) -> str:
        """``modem: 14 waiting, ~2 min``, or what is wrong with it."""
        if self.ok is False:
            return f"modem ✖ {self.health}"
        doubt = f", {self.in_doubt} in doubt" if self.in_doubt else ""
        if self.waiting:
            return policy.queue_text(self.waiting, self.per_minute) + doubt
        if self.ok is None:
            return "modem: not checked yet" + doubt
        return ("modem: sending SMS" if self.active else "modem ready") + doubt


class ModemRoute:
    def __init__(
        self,
        store: Store,
        modem: GammuModem,
        settings: ModemSettings,
        *,
        holder: str,
        lease_held: Callable[[], bool],
        twilio_silent_for: Callable[[], float | None],
        twilio_blocked: Callable[[], bool] = lambda: False,
        receiver: ReplyReceiver | None = None,
        clock: Clock = utcnow,
        config: ModemRouteConfig | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.modem = modem
        self.settings = settings
        self.holder = holder
        self.lease_held = lease_held
        self.twilio_silent_for = twilio_silent_for
        self.twilio_blocked = twilio_blocked
        self.receiver = receiver
        self.clock = clock
        self.config = config or ModemRouteConfig()
        self.on_change = on_change
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._settled = False
        self._next_inbox = 0.0
        self._next_health = 0.0
        self._paused_until = 0.0  # monotonic: the modem is unavailable, do not claim
        self._health: policy.ModemHealth | None = None
        self.sent = 0

    # ------------------------------------------------------------ public
    def active(self) -> bool:
        return policy.takes_waiting(
            self.settings.use,
            twilio_blocked=self.twilio_blocked(),
            twilio_silent_s=self.twilio_silent_for(),
            fallback_after_s=self.settings.fallback_after_s,
        )

    def holds_back(self) -> frozenset[Channel]:
        """While the modem takes every waiting SMS, Twilio's send loop leaves SMS to it."""
        return frozenset({Channel.SMS}) if self.active() else frozenset()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def snapshot(self) -> ModemSnapshot:
        active = self.active()
        with self.store.read() as db:
            found = modem_queue.queue(db)
        health = self._health
        return ModemSnapshot(
            active=active,
            waiting=found.waiting(active),
            in_doubt=found.in_doubt,
            per_minute=self.modem.per_minute,
            ok=None if health is None else health.ok,
            health="not checked yet" if health is None else health.summary(),
            sent=self.sent,
            twilio=not self.twilio_blocked(),
        )

    async def run(self) -> None:
        """Until ``stop()``; idle while this process does not hold the lease."""
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        try:
            while not self._stop.is_set():
                worked = False
                if self.lease_held():
                    try:
                        worked = await self._turn()
                    except UserError as exc:  # storage trouble: try again next turn
                        log.error("modem route: %s", exc)
                    except Exception:  # a bug here must not stop the Twilio loop
                        log.exception("modem route failed")
                else:
                    self._settled = False  # settle again on the next takeover
                if not worked:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.config.idle_s):
                            await self._wake.wait()
                    self._wake.clear()
        finally:
            await self.modem.aclose()

    # ------------------------------------------------------------ one turn
    async def _turn(self) -> bool:
        """Settle, health, inbox, then one send; whether it sent (look again at once)."""
        if not self._settled:
            self._settle()
            self._settled = True
        mono = time.monotonic()
        if mono >= self._next_health:
            self._next_health = mono + self.config.health_every_s
            await self._check_health()
        if mono >= self._next_inbox:
            self._next_inbox = mono + self.config.inbox_poll_s
            await self._read_inbox()
        if mono < self._paused_until:
            return False
        return await self._send_next()

    def _settle(self) -> None:
        now = self.clock()
        with self.store.write() as db:
            interrupted = modem_queue.settle_interrupted(db, self.holder, now)
            for alert in interrupted:
                _timeline(
                    db,
                    alert,
                    now,
                    "may have been sent by the modem (the console stopped "
                    "while sending): not resent; send it anyway if they did not get it",
                )
        if interrupted:
            log.warning(
                "%d modem send(s) interrupted: marked 'may have been sent'", len(interrupted)
            )
            self._changed()

    async def _send_next(self) -> bool:
        now = self.clock()
        with self.store.write() as db:
            claimed = modem_queue.claim_next(db, self.holder, now, automatic=self.active())
        if claimed is None:
            return False
        alert, assigned = claimed
        self._changed()
        if not self.lease_held():  # lost while claiming: never sent, so handed back as it was
            with contextlib.suppress(UserError), self.store.write() as db:
                modem_queue.release(
                    db, alert.id, self.holder, route=modem_queue.MODEM if assigned else None
                )
            return False
        keep = assigned or self.settings.use == "always"
        try:
            result = await self.modem.send_sms(alert.to_number, alert.body)
        except ModemRefused as exc:
            with self.store.write() as db:
                modem_queue.mark_refused(db, alert.id, self.clock(), error=str(exc))
        except ModemUnavailable as exc:
            self._paused_until = time.monotonic() + min(self.config.retry_s, 5.0)
            retry_at = self.clock() + timedelta(seconds=self.config.retry_s)
            with self.store.write() as db:
                modem_queue.mark_not_sent(
                    db, alert.id, retry_at, error=f"modem: {exc}", code=exc.code, keep_route=keep
                )
        except (ModemInDoubt, TimeoutError) as exc:
            reason = str(exc) or "the modem did not answer in time"
            with self.store.write() as db:
                modem_queue.mark_in_doubt(db, alert.id, error=f"may have been sent: {reason}")
                _timeline(
                    db,
                    alert,
                    self.clock(),
                    f"may have been sent by the modem ({reason}): "
                    "not resent; send it anyway if they did not get it",
                )
        else:
            with self.store.write() as db:
                modem_queue.mark_sent(db, alert.id, result.sid, self.clock())
            self.sent += 1
            self._changed()
            return True
        self._changed()
        return False

    async def _read_inbox(self) -> None:
        if self.receiver is None:
            return
        try:
            read = await self.modem.read_inbox()
        except (ModemUnavailable, ModemInDoubt, ModemRefused, TimeoutError) as exc:
            log.info("modem inbox not read: %s", exc)
            return
        done: list[int] = []
        for item in read.texts:
            if self.settings.number and item.message.from_number == self.settings.number:
                done.extend(item.locations)  # our own test message looping back
                continue
            message = item.message
            reply = InboundReply(
                sender=message.from_number,
                body=message.body,
                provider_id=message.sid,
                received_at=message.received_at,
                route=Channel.SMS,
            )
            try:
                self.receiver.receive(reply)
            except UserError as exc:  # stays in the modem: read again next time (deduplicated)
                log.error("modem reply not stored: %s", exc)
                continue
            done.extend(item.locations)
        for report in read.reports:
            outcome = "delivered" if report.delivered else "not delivered"
            log.info("modem message %d to %s: %s", report.reference, report.number, outcome)
            done.append(report.location)
        if done:
            with contextlib.suppress(ModemUnavailable, ModemInDoubt, ModemRefused, TimeoutError):
                await self.modem.delete(done)
        if read.texts:
            self._changed()

    async def _check_health(self) -> None:
        health = await self.modem.health()
        was = self._health
        self._health = health
        with contextlib.suppress(UserError), self.store.write() as db:
            modem_queue.save_status(
                db,
                self.holder,
                health.checked_at,
                ok=health.ok,
                summary=health.summary(),
                per_minute=self.modem.per_minute,
            )
        if was is None or was.ok != health.ok or was.summary() != health.summary():
            if not health.ok:
                log.warning("modem: %s", health.summary())
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:  # the listener's bug is not the route's
                log.exception("modem route listener failed")


def _timeline(db: Database, alert: Alert, now: datetime, text: str) -> None:
    if alert.incident_id is None:
        return
    incidents.append_event(
        db,
        incident_id=alert.incident_id,
        at=now,
        actor=ACTOR,
        kind="route",
        person_id=alert.person_id,
        text=f"Alert {alert.id}: {text}",
        data={"alert_id": alert.id, "route": "modem"},
    )
