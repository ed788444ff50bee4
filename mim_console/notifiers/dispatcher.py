"""The outbox dispatcher: sends committed alerts, tracks them, reads replies (asyncio).

Runs as a task inside the TUI's event loop or standalone (`mim-console dispatch`, through
``services/dispatching.py``). Only the process holding the database lease sends, polls and reads
replies; others stand by and take over within a few seconds when the holder stops renewing.

The loop here keeps the lease and drives three parts, each in its own module: alerts out
(``sending.Outgoing``: claim, send by the channel's sender, record, retry, reconcile), delivery
tracking (``tracking.StatusTracker``) and inbound polling (``inbound.InboundPoller``, which hands
every message to the ``ReplyReceiver`` the services implement).

Database calls are short blocking sqlite calls made straight from the loop: measured in
bench/alerts.py, each costs tens of microseconds, less than handing it to a thread would.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from mim_console.clock import Clock, utcnow
from mim_console.data import outbox, refusals
from mim_console.data.lease import Lease
from mim_console.data.store import Store
from mim_console.domain.alerts import Channel
from mim_console.domain.twilio_errors import account_wide_codes
from mim_console.errors import UserError
from mim_console.notifiers.base import Lane, ReplyReceiver
from mim_console.notifiers.bridge import BridgeWatcher, PresenceReceiver
from mim_console.notifiers.inbound import InboundPoller
from mim_console.notifiers.logmask import masked_logger
from mim_console.notifiers.modem_route import ModemRoute, ModemSnapshot
from mim_console.notifiers.outage import Recovery
from mim_console.notifiers.reach import Reach, Refusal, reachable
from mim_console.notifiers.senders import Routes
from mim_console.notifiers.sending import Outgoing
from mim_console.notifiers.tracking import StatusTracker
from mim_console.notifiers.tuning import DispatcherConfig as DispatcherConfig

log = masked_logger("mim_console.dispatcher")  # phone numbers masked in every line

NO_ROUTES = "alerts cannot be sent: no provider configured"


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
    modem: ModemSnapshot | None = None  # the GSM modem route, where one is configured
    refusal: Refusal | None = None  # Twilio refuses our account: these channels are paused

    @property
    def reachable(self) -> bool | None:
        return reachable(self.last_success_at, self.last_failure_at)


def _held_for(db: Database, now: datetime) -> Refusal | None:
    """Standing by: the holder's refusal as the waiting alerts' last errors say (the banner
    of every console, not only the sending one's)."""
    found = refusals.account_refusal(db, account_wide_codes())
    if found is None:
        return None
    return Refusal(found.code, found.error, frozenset(), now)


class Dispatcher:
    def __init__(
        self,
        store: Store,
        routes: Routes | None,
        *,
        receiver: ReplyReceiver | None = None,
        presence: PresenceReceiver | None = None,
        config: DispatcherConfig | None = None,
        clock: Clock = utcnow,
        holder: str | None = None,
        blocked: str | None = None,
        on_tick: Callable[[datetime], object] | None = None,
        listener: Callable[[DispatcherSnapshot], None] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.routes = routes
        self.config = config or DispatcherConfig()
        self.clock = clock
        self.lease = Lease(store, holder=holder, ttl_s=self.config.lease_ttl_s, clock=clock)
        if blocked is None and routes is None:
            blocked = NO_ROUTES
        self.blocked = blocked
        self.on_tick = on_tick
        self.listener = listener
        self._holding = False
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._notify_pending = False
        self.reach = Reach(clock, self._reach_changed)
        active = routes if routes is not None and self.blocked is None else Routes([])
        self.out = Outgoing(
            store,
            active,
            config=self.config,
            clock=clock,
            lease=self.lease,
            reach=self.reach,
            holding=lambda: self._holding,
            stopping=self._stop.is_set,
            poke=self._poke,
            notify=self._notify,
            rand=rand,
        )
        self.recovery = Recovery(
            store,
            clock,
            self.reach,
            self._poke,
            probe_s=self.config.outage_probe_s,
            enabled=self.config.recover_at_once,
        )
        self.out.recovery = self.recovery
        self.tracker = StatusTracker(store, active, self.config, clock, self.reach, self._notify)
        self.pollers = [
            InboundPoller(store, source, receiver, self.config, clock, self.reach)
            for source in active.inbound
        ]
        for poller in self.pollers:
            poller.account_channels = active.sharing(getattr(poller.source, "client", None))
        self._next_poll_check = 0.0
        self._inbound_task: asyncio.Task[None] | None = None
        self.lanes: list[Lane] = []
        self.modem: ModemRoute | None = None
        self._lane_tasks: list[asyncio.Task[None]] = []
        # Who is on the incident bridges (notifiers/bridge.py), when bridge calls can be made.
        self.bridge: BridgeWatcher | None = None
        if presence is not None and active.bridge is not None:
            self.bridge = BridgeWatcher(active.bridge, presence, clock, self.reach)
        self._bridge_task: asyncio.Task[None] | None = None
        self._next_bridge = 0.0

    def add_lane(self, lane: Lane) -> None:
        """A route with a loop of its own (the modem), run beside the send loop; call before
        ``run``. While it takes a channel, the send loop leaves that channel to it."""
        self.lanes.append(lane)
        if isinstance(lane, ModemRoute):
            self.modem = lane
        self.out.held_back = self._held_back

    def _held_back(self) -> frozenset[Channel]:
        held: frozenset[Channel] = frozenset()
        for lane in self.lanes:
            held |= lane.holds_back()
        return held

    # ----------------------------------------------------------------- public
    @property
    def holding(self) -> bool:
        return self._holding

    @property
    def requests(self) -> int:
        """Sends and lookups made by this process (for tests and the bench)."""
        return self.out.requests

    @property
    def in_flight(self) -> int:
        return len(self.out.sends)

    def wake(self) -> None:
        """Look at the outbox now (call after enqueueing in this process)."""
        self._poke()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def changed(self) -> None:
        """Something the console shows moved (a lane's queue or health): tell the listener."""
        self._notify()

    def _poke(self) -> None:
        """Something may be due: look at the outbox on the next loop turn."""
        self.out.look = True
        self._wake.set()
        for lane in self.lanes:
            lane.wake()

    def snapshot(self) -> DispatcherSnapshot:
        with self.store.read() as db:
            counts = outbox.counts(db)
            # Failed: only open incidents' alerts, what needs attention (history: `outbox`).
            counts["failed"] = outbox.open_incident_counts(db)["failed"]
            refusal = self.reach.refusal if self._holding else _held_for(db, self.clock())
        return DispatcherSnapshot(
            holder=self._holding,
            holder_id=self.lease.holder,
            blocked=self.blocked,
            counts=counts,
            in_flight=self.in_flight,
            last_success_at=self.reach.last_success,
            last_failure_at=self.reach.last_failure,
            last_error=self.reach.last_error,
            modem=self.modem.snapshot() if self.modem is not None else None,
            refusal=refusal,
        )

    def run_forever(self) -> None:
        """Standalone: run until ``stop()`` (e.g. from a signal handler)."""
        asyncio.run(self.run())

    async def run(self) -> None:
        """The loop: heartbeat, reconcile on takeover, send, poll, read replies, tick."""
        # Bound to the running loop (a dispatcher may be built outside it).
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self.out.stopping = self._stop.is_set
        if self.blocked:
            log.warning("%s", self.blocked)
        next_heartbeat = 0.0
        next_tick = 0.0
        next_inbound = 0.0
        self._lane_tasks = [asyncio.create_task(lane.run()) for lane in self.lanes]
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
                    await self.out.fill(now)
                    if mono >= self._next_poll_check:
                        self._next_poll_check = mono + 0.5
                        self.tracker.poll_due(now)
                    if mono >= next_inbound and self._inbound_task is None and self.pollers:
                        next_inbound = mono + self.config.inbound_poll_s
                        self._inbound_task = asyncio.create_task(self._poll_inbound())
                    if self.bridge is not None and self._bridge_task is None:
                        if mono >= self._next_bridge:
                            self._bridge_task = asyncio.create_task(self._watch_bridge())
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
            # New alerts can be sent meanwhile; only `sending` ones are being settled.
            self.out.start_reconcile()
            self._notify()
        elif was and not self._holding:
            log.warning("dispatcher %s lost the lease", self.lease.holder)
            self.out.release_ready()  # never sent: back to the queue for whoever holds it now
            self._notify()

    # ---------------------------------------------------------------- replies
    async def _poll_inbound(self) -> None:
        try:
            listed = 0
            for poller in self.pollers:
                listed += await poller.poll()
            if listed:
                # The receiver may have queued a help SMS, and the roll call may have moved.
                self._poke()
                self._notify()
        finally:
            self._inbound_task = None

    async def _watch_bridge(self) -> None:
        """One presence poll; the next is scheduled after this one finished."""
        assert self.bridge is not None
        try:
            if await self.bridge.poll():
                self._poke()  # a join or a voicemail may have queued alerts (a deputy's page)
                self._notify()
        finally:
            self._next_bridge = time.monotonic() + self.bridge.interval
            self._bridge_task = None
            self._wake.set()

    # ----------------------------------------------------------------- misc
    def _tick(self, now: datetime) -> None:
        if self.on_tick is None:
            return
        try:
            self.on_tick(now)
        except Exception:  # escalation bugs must not stop sending
            log.exception("on_tick failed")
        self._poke()  # escalation may have queued alerts

    def _reach_changed(self) -> None:
        """The provider was reached for the first time, lost or is back."""
        self.recovery.changed()
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
        pending = [*self.out.pending(), *self.tracker.polls.values()]
        for task in (self._inbound_task, self._bridge_task):
            if task is not None and not task.done():
                pending.append(task)
        if pending:
            _, late = await asyncio.wait(pending, timeout=self.config.drain_s)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        for lane in self.lanes:
            lane.stop()
        if self._lane_tasks:  # a modem send under way finishes and is marked first
            _, late = await asyncio.wait(self._lane_tasks, timeout=self.config.drain_s)
            for task in late:
                task.cancel()
        await self.out.drain_flusher()
        self.out.flush_accepted()
        if self._holding and self.lease.held(margin_s=0):
            self.out.release_ready()
        if self._holding:
            with contextlib.suppress(UserError):
                self.lease.release()
        self._holding = False
