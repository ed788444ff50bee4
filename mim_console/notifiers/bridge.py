"""The incident bridge's route: bridge calls out (a ``Sender`` for ``Channel.BRIDGE``), paced at
the account's calls per second, and the presence poll that tells who is on the conference.

No public URL is needed: Twilio lists a conference's current participants, so the poll compares
what it sees with what was recorded (``services/bridge.py`` receives each sighting, as replies
go to the ``ReplyReceiver``). A call a machine answered is given a short message instead of the
bridge (``redirect_call``) the moment the poll learns it.

Polls run only while an incident is open and someone is expected on its bridge, every
``interval`` seconds, the next one scheduled after the last finished (never piling up).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from mim_console.clock import Clock
from mim_console.domain.alerts import FINAL_STATUSES, Alert, Channel
from mim_console.domain.bridge import CallInfo, ConferenceInfo, OnBridge, is_machine
from mim_console.errors import UserError
from mim_console.notifiers.base import (
    DeliveryStatus,
    PermanentSendError,
    SendResult,
    SentRecord,
    TransientSendError,
)
from mim_console.notifiers.logmask import masked_logger
from mim_console.notifiers.reach import Reach, answered

log = masked_logger("mim_console.bridge")

POLL_S = 2.0  # presence polls this often while someone is expected (the issue: every 2-3 s)
MAX_CALL_CHECKS = 10  # calls looked up per poll (who answered), at most


class BridgeClient(Protocol):
    """What the bridge needs of Twilio (``notifiers.twilio.TwilioNotifier`` has it)."""

    async def place_bridge_call(self, to: str, twiml: str) -> SendResult: ...

    async def call_status(self, sid: str) -> DeliveryStatus: ...

    async def sent_to(
        self, to: str, since: datetime, channel: str, limit: int = 50
    ) -> list[SentRecord]: ...

    async def find_conference(self, name: str) -> ConferenceInfo | None: ...

    async def participants(self, conference_sid: str) -> list[OnBridge]: ...

    async def call_info(self, sid: str) -> CallInfo: ...

    async def redirect_call(self, sid: str, twiml: str) -> CallInfo: ...


class CallPacer:
    """Calls start no faster than the account's calls per second (Twilio queues the rest, and
    a queue we do not see would scramble the deciders-first order): each call waits its turn."""

    def __init__(self, calls_per_second: float, clock: Callable[[], float] = time.monotonic):
        if calls_per_second <= 0:
            raise ValueError("calls_per_second must be more than 0")
        self.interval = 1.0 / calls_per_second
        self._clock = clock
        self._next = 0.0

    def backlog_s(self) -> float:
        """How far ahead the turns are already given out."""
        return max(0.0, self._next - self._clock())

    async def turn(self) -> None:
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class TwilioBridge:
    """Bridge calls through Twilio's Calls API (the row's body is the bridge TwiML)."""

    channel = Channel.BRIDGE
    keeps_log = True

    def __init__(self, client: BridgeClient) -> None:
        self.client = client

    async def send(self, alert: Alert) -> SendResult:
        return await self.client.place_bridge_call(alert.to_number, alert.body)

    async def status(self, sid: str) -> DeliveryStatus:
        return await self.client.call_status(sid)

    async def find_sent(self, alert: Alert, since: datetime) -> list[SentRecord]:
        return await self.client.sent_to(alert.to_number, since, "voice")


# --- presence ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watch:
    """One bridge to poll: its conference's name, and calls whose answer is not known yet."""

    incident_id: int
    conference: str
    check_calls: tuple[str, ...] = ()
    voicemail_twiml: str = ""


@dataclass(frozen=True)
class Sighting:
    """What one poll saw of one incident's bridge."""

    incident_id: int
    conference_sid: str | None
    participants: tuple[OnBridge, ...]
    calls: Mapping[str, CallInfo]  # what is known of the calls seen or asked about
    at: datetime
    redirected: tuple[str, ...] = ()  # machine-answered calls given the short message now


class PresenceReceiver(Protocol):
    """The services' side: which bridges to watch, and what to make of a sighting."""

    def watches(self) -> Sequence[Watch]: ...

    def sighted(self, sighting: Sighting) -> object: ...


@dataclass
class BridgeWatcher:
    client: BridgeClient
    receiver: PresenceReceiver
    clock: Clock
    reach: Reach
    interval: float = POLL_S
    request_timeout_s: float = 20.0
    known: dict[str, CallInfo] = field(default_factory=dict)  # calls whose answer is settled
    redirected: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)  # call SIDs Twilio says it does not have
    polls: int = 0

    async def poll(self) -> int:
        """One round over the watched bridges; how many were looked at."""
        try:
            watches = list(self.receiver.watches())
        except UserError as exc:
            log.error("bridge: %s", exc)
            return 0
        for watch in watches:
            try:
                sighting = await self._look(watch)
            except PermanentSendError as exc:
                if exc.account_wide:  # our account: the banner says so
                    self.reach.failure(str(exc), answered=True)
                else:  # Twilio answered, refusing this one look: it is reachable
                    self.reach.success()
                    log.warning("bridge %s: %s", watch.conference, exc)
                continue
            except (TransientSendError, TimeoutError, OSError) as exc:
                self.reach.failure(str(exc) or "bridge poll timed out", answered=answered(exc))
                continue
            self.reach.success()
            try:
                self.receiver.sighted(sighting)
            except UserError as exc:
                log.error("bridge: %s", exc)
            except Exception:  # the receiver's bug must not stop the dispatcher
                log.exception("bridge sighting failed")
        self.polls += 1
        return len(watches)

    async def _look(self, watch: Watch) -> Sighting:
        async with asyncio.timeout(self.request_timeout_s):
            conference = await self.client.find_conference(watch.conference)
            seen = await self.client.participants(conference.sid) if conference else []
        wanted = [p.call_sid for p in seen] + list(watch.check_calls)
        calls: dict[str, CallInfo] = {}
        lookups = 0
        for sid in dict.fromkeys(wanted):
            if sid in self.unknown:
                continue
            info = self.known.get(sid)
            if info is None and lookups < MAX_CALL_CHECKS:
                lookups += 1
                try:
                    async with asyncio.timeout(self.request_timeout_s):
                        info = await self.client.call_info(sid)
                except PermanentSendError as exc:
                    if exc.account_wide:
                        raise
                    # Twilio has no such call (another account's, or purged): never asked
                    # again, and no reason to call Twilio unreachable.
                    log.warning("bridge: call %s not found: %s", sid, exc)
                    self.unknown.add(sid)
                    continue
                if _settled(info):
                    self.known[sid] = info
            if info is not None:
                calls[sid] = info
        redirected = []
        for sid, info in calls.items():
            if (
                is_machine(info.answered_by)
                and sid not in self.redirected
                and watch.voicemail_twiml
            ):
                if info.status in FINAL_STATUSES:
                    continue
                self.redirected.add(sid)
                try:
                    async with asyncio.timeout(self.request_timeout_s):
                        await self.client.redirect_call(sid, watch.voicemail_twiml)
                    redirected.append(sid)
                except PermanentSendError as exc:  # ended meanwhile: nothing to tell it
                    log.info("bridge: voicemail call %s not redirected: %s", sid, exc)
        return Sighting(
            incident_id=watch.incident_id,
            conference_sid=conference.sid if conference else None,
            participants=tuple(p for p in seen if p.status == "connected"),
            calls=calls,
            at=self.clock(),
            redirected=tuple(redirected),
        )


def _settled(info: CallInfo) -> bool:
    """Whether a call's answer can no longer change (asked once, then remembered)."""
    return (
        info.answered_by is not None
        or info.direction.startswith("inbound")
        or info.status in FINAL_STATUSES
    )
