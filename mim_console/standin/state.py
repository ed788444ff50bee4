"""What the stand-in holds: messages and calls, per-number rules, its clock and the request log.

Everything here is guarded by :attr:`State.lock` (an ``RLock``: control methods from other
threads and the HTTP handlers on the server's loop take it, sometimes nested).
"""

from __future__ import annotations

import email.utils
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

API_PREFIX = "/2010-04-01/Accounts/"
DEFAULT_ACCOUNT_SID = "AC" + "5a7d" * 8
DEFAULT_AUTH_TOKEN = "standin-auth-token"
DEFAULT_SENDER = "+15005550006"
LOG_LIMIT = 200_000  # request log entries kept (the oldest tenth goes when full)
CALL_OUTCOMES = ("completed", "no-answer", "busy", "failed", "canceled")


def rfc2822(moment: datetime) -> str:
    """Twilio's date format: ``Fri, 24 May 2019 17:44:46 +0000``."""
    return email.utils.format_datetime(moment.astimezone(UTC))


@dataclass
class Timing:
    """Seconds after creation at which a message or call reaches each status."""

    sms_sent: float = 0.2
    sms_delivered: float = 1.0
    call_ringing: float = 0.2
    call_answered: float = 3.0
    call_completed: float = 20.0
    call_gave_up: float = 25.0  # no-answer / busy / failed become final here
    bridge_join: float = 2.0  # after the answer: the spoken alert, then into the conference
    voicemail_s: float = 30.0  # a voicemail box that reached a conference records this long
    message_s: float = 4.0  # a call given new TwiML (a short message) ends after this


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    at: datetime
    status: int | None  # None: no response (dropped, or the client gave up first)
    fault: str | None = None


@dataclass(frozen=True)
class KeypressAttempt:
    """The stand-in played Twilio posting a keypress to the call's Gather action."""

    call_sid: str
    digit: str
    url: str
    status: int | None  # the receiver's HTTP status; None if it could not be reached
    answer: str  # the TwiML it answered with


@dataclass
class Record:
    """A message or a call as the stand-in keeps it."""

    kind: str  # "message" | "call"
    sid: str
    seq: int
    to: str
    from_: str
    body: str
    direction: str
    created_at: datetime
    messaging_service_sid: str | None = None
    validity_period: int | None = None  # seconds Twilio may queue it (ValidityPeriod), if sent
    outcome: str = "delivered"  # final status this record progresses to
    error_code: int | None = None
    error_message: str | None = None
    twiml: str = ""
    # Calls only. ``start_at``: when the call left Twilio's queue (calls per second);
    # ``ended_at``: when it ends, when known (a bridge call stays up until its caller leaves).
    start_at: datetime | None = None
    answered_by: str | None = None  # with MachineDetection: human | machine_start
    ended_at: datetime | None = None
    stays: bool = False  # in progress until ``ended_at`` (on a conference), not call_completed


@dataclass
class Rules:
    """Per-number behaviour set through the controls."""

    number_errors: dict[str, tuple[int, str]] = field(default_factory=dict)  # (code, channel)
    delivery: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # (final, code)
    call_outcomes: dict[str, str] = field(default_factory=dict)
    keypresses: dict[str, tuple[str, float]] = field(default_factory=dict)  # (digit, after)

    def refusal(self, to: str, channel: str) -> int | None:
        """The Twilio error code a create to ``to`` on ``channel`` is refused with, if any."""
        refused = self.number_errors.get(to)
        if refused is not None and refused[1] in ("any", channel):
            return refused[0]
        return None

    def clear(self) -> None:
        self.number_errors.clear()
        self.delivery.clear()
        self.call_outcomes.clear()
        self.keypresses.clear()


class State:
    """Records, rules, clock and logs of one stand-in."""

    def __init__(self, account_sid: str, sender: str, timing: Timing) -> None:
        self.lock = threading.RLock()
        self.account_sid = account_sid
        self.sender = sender
        self.timing = timing
        self.offset = timedelta()
        self.latency = 0.0
        self.seq = 0
        self.records: dict[str, Record] = {}
        self.rules = Rules()
        self.log: list[LoggedRequest] = []
        self.keypress_log: list[KeypressAttempt] = []
        self.calls_per_second: float | None = 1.0  # Twilio's default; None: no queueing
        self.next_call_slot: datetime | None = None

    def call_slot(self, now: datetime) -> datetime:
        """When a call created ``now`` leaves the queue: Twilio starts calls at the account's
        calls-per-second rate and holds the rest ``queued``."""
        with self.lock:
            if not self.calls_per_second:
                return now
            slot = now if self.next_call_slot is None else max(now, self.next_call_slot)
            self.next_call_slot = slot + timedelta(seconds=1.0 / self.calls_per_second)
            return slot

    def now(self) -> datetime:
        """The real clock plus the offset :meth:`advance` moved."""
        with self.lock:
            return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.offset += timedelta(seconds=seconds)

    def new_record(
        self, kind: str, to: str, from_: str, body: str, direction: str, prefix: str
    ) -> Record:
        with self.lock:
            self.seq += 1
            record = Record(
                kind=kind,
                sid=prefix + secrets.token_hex(16),
                seq=self.seq,
                to=to,
                from_=from_,
                body=body,
                direction=direction,
                created_at=self.now(),
            )
            self.records[record.sid] = record
            return record

    def ordered(self, kind: str, *, newest_first: bool = False) -> list[Record]:
        """Records of ``kind`` in the order they were created."""
        with self.lock:
            chosen = [r for r in self.records.values() if r.kind == kind]
        return sorted(chosen, key=lambda r: r.seq, reverse=newest_first)

    def record_request(self, entry: LoggedRequest) -> None:
        with self.lock:
            if len(self.log) >= LOG_LIMIT:
                del self.log[: LOG_LIMIT // 10]
            self.log.append(entry)

    def status(self, record: Record, now: datetime) -> str:
        """Where ``record`` is in its status progression at ``now``."""
        age = (now - record.created_at).total_seconds()
        t = self.timing
        if record.kind == "message":
            if record.direction == "inbound":
                return "received"
            if age < t.sms_sent:
                return "queued"
            if age < t.sms_delivered:
                return "sent"
            return record.outcome
        if record.start_at is not None:
            age = (now - record.start_at).total_seconds()
        if age < t.call_ringing:
            return "queued"
        if record.outcome == "completed":
            if age < t.call_answered:
                return "ringing"
            if record.ended_at is not None and now >= record.ended_at:
                return "completed"
            if record.stays or record.ended_at is not None:
                return "in-progress"
            return "in-progress" if age < t.call_completed else "completed"
        if record.outcome == "failed":
            return "failed"
        return "ringing" if age < t.call_gave_up else record.outcome

    def reset(self) -> None:
        """Forget records, rules, logs and the clock offset."""
        with self.lock:
            self.records.clear()
            self.rules.clear()
            self.keypress_log.clear()
            self.log.clear()
            self.offset = timedelta()
            self.next_call_slot = None
