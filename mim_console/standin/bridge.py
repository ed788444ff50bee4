"""Conference bridges: calls whose TwiML dials a ``<Conference>`` put their callee into it.

What a simulated callee does is a :class:`Plan` (per number, or demo mode's deterministic one):
``join`` (into the conference ``after`` seconds after answering, for ``stay`` seconds or until
removed), ``voicemail`` (a machine answers: ``answered_by`` says so when the call asked for
``MachineDetection``, and the box "joins" like anyone who plays the TwiML, unless the call is
given other TwiML first), ``decline`` (answers, hangs up after the message) or ``no-answer``.

Presence changes at planned instants; :meth:`Bridges.materialize` (before every read) applies
the joins and leaves that are due, in time order, so conferences begin with their first
participant and end with their last, as Twilio's do with ``startConferenceOnEnter``.
"""

from __future__ import annotations

import hashlib
import html
import random
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mim_console.standin.state import API_PREFIX, Record, State, rfc2822

PLAN_KINDS = ("join", "voicemail", "decline", "no-answer")
MAX_PARTICIPANTS = 250  # Twilio's limit per conference
CONFERENCE_FULL = 16020

_DIAL = re.compile(
    r"<Dial\b[^>]*>\s*<Conference\b([^>]*)>([^<]*)</Conference>", re.IGNORECASE | re.DOTALL
)
_ATTRIBUTE = re.compile(r'([A-Za-z]+)="([^"]*)"')


@dataclass(frozen=True)
class Plan:
    kind: str  # join | voicemail | decline | no-answer
    after: float | None = None  # seconds after answering (None: the timing's bridge_join)
    stay: float | None = None  # join: seconds on the bridge (None: until removed)


@dataclass
class Leg:
    """One call's way into a conference."""

    call_sid: str
    conference_name: str
    label: str | None
    join_at: datetime | None  # None: it never joins (given other TwiML first)
    leave_at: datetime | None  # None: stays until removed or hung up
    joined_at: datetime | None = None
    left_at: datetime | None = None
    conference_sid: str | None = None
    muted: bool = False
    hold: bool = False
    refused: int | None = None  # the Twilio error that kept it out (16020: full)
    seq: int = 0


@dataclass
class Conference:
    sid: str
    friendly_name: str
    created_at: datetime
    seq: int
    updated_at: datetime
    status: str = "in-progress"
    ended_at: datetime | None = None
    reason_ended: str | None = None
    participants: dict[str, Leg] = field(default_factory=dict)  # call SID -> leg


def conference_of(twiml: str) -> tuple[str, str | None] | None:
    """The conference a call's TwiML dials (its name and ``participantLabel``), if any."""
    match = _DIAL.search(twiml)
    if match is None:
        return None
    attributes = {k.lower(): html.unescape(v) for k, v in _ATTRIBUTE.findall(match.group(1))}
    name = html.unescape(match.group(2)).strip()
    return (name, attributes.get("participantlabel")) if name else None


def demo_plan(seed: int, number: str, reply: str | None, delay: float) -> Plan:
    """Demo mode for a bridge call, in line with the number's SMS plan: those who would reply
    "1" join (sooner than they would text), "2" decline, the silent ones split between a
    voicemail box and no answer. Some who join leave after a few minutes."""
    digest = hashlib.sha256(f"{seed}:{number}:bridge".encode()).digest()
    rng = random.Random(digest)
    if reply == "1":
        stay = rng.uniform(120.0, 420.0) if rng.random() < 0.15 else None
        return Plan("join", after=min(delay / 3.0, 15.0), stay=stay)
    if reply == "2":
        return Plan("decline", after=3.0)
    return Plan("voicemail") if rng.random() < 0.5 else Plan("no-answer")


class Bridges:
    """The conferences, the legs into them and the per-number plans (under the state's lock)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.plans: dict[str, Plan] = {}
        self.legs: dict[str, Leg] = {}
        self.conferences: dict[str, Conference] = {}
        self.limit = MAX_PARTICIPANTS
        self._seq = 0

    def clear(self) -> None:
        with self.state.lock:
            self.plans.clear()
            self.legs.clear()
            self.conferences.clear()
            self.limit = MAX_PARTICIPANTS

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # ------------------------------------------------------------------ calls in
    def live(self, name: str) -> Conference | None:
        """The conference of this name in progress, if any."""
        for conference in self.conferences.values():
            if conference.friendly_name == name and conference.status == "in-progress":
                return conference
        return None

    def is_full(self, name: str) -> bool:
        conference = self.live(name)
        return conference is not None and len(conference.participants) >= self.limit

    def place(self, record: Record, plan: Plan, name: str, label: str | None) -> None:
        """A new outbound call dialling conference ``name``: when it answers, joins, leaves."""
        t = self.state.timing
        base = record.start_at or record.created_at
        answered = base + timedelta(seconds=t.call_answered)
        after = timedelta(seconds=t.bridge_join if plan.after is None else plan.after)
        if plan.kind == "no-answer":
            record.outcome = "no-answer"
            return
        record.outcome = "completed"
        if plan.kind == "decline":
            record.ended_at = answered + after
            return
        join_at = answered + after
        leave_at: datetime | None = None
        if plan.kind == "voicemail":
            leave_at = join_at + timedelta(seconds=t.voicemail_s)
        elif plan.stay is not None:
            leave_at = join_at + timedelta(seconds=plan.stay)
        record.stays = leave_at is None
        record.ended_at = leave_at
        self.legs[record.sid] = Leg(record.sid, name, label, join_at, leave_at, seq=record.seq)

    def dial_in(self, record: Record, name: str) -> None:
        """Someone calls the bridge themselves: on it now, until they hang up."""
        record.outcome = "completed"
        record.stays = True
        record.start_at = record.created_at - timedelta(seconds=self.state.timing.call_answered)
        self.legs[record.sid] = Leg(record.sid, name, None, record.created_at, None, seq=record.seq)

    # ------------------------------------------------------------------ time
    def materialize(self) -> None:
        """Apply the joins and leaves that are due, in time order."""
        with self.state.lock:
            now = self.state.now()
            events: list[tuple[datetime, int, int, Leg]] = []
            for leg in self.legs.values():
                if leg.joined_at is None and leg.refused is None and leg.join_at is not None:
                    if leg.join_at <= now:
                        events.append((leg.join_at, 0, leg.seq, leg))
                        if leg.leave_at is not None and leg.leave_at <= now:
                            events.append((leg.leave_at, 1, leg.seq, leg))
                elif leg.joined_at is not None and leg.left_at is None:
                    if leg.leave_at is not None and leg.leave_at <= now:
                        events.append((leg.leave_at, 1, leg.seq, leg))
            for at, kind, _seq, leg in sorted(events, key=lambda e: e[:3]):
                if kind == 0:
                    self._join(leg, at)
                elif leg.joined_at is not None:
                    self._leave(leg, at, "last-participant-left")

    def _join(self, leg: Leg, at: datetime) -> None:
        conference = self.live(leg.conference_name)
        if conference is not None and len(conference.participants) >= self.limit:
            leg.refused = CONFERENCE_FULL
            record = self.state.records.get(leg.call_sid)
            if record is not None:
                record.ended_at, record.stays = at, False
                record.error_code = CONFERENCE_FULL
            return
        if conference is None:
            seq = self._next_seq()
            conference = Conference("CF" + secrets.token_hex(16), leg.conference_name, at, seq, at)
            self.conferences[conference.sid] = conference
        leg.joined_at = at
        leg.conference_sid = conference.sid
        conference.participants[leg.call_sid] = leg
        conference.updated_at = at

    def _leave(self, leg: Leg, at: datetime, reason: str) -> None:
        leg.left_at = at
        conference = self.conferences.get(leg.conference_sid or "")
        if conference is None:
            return
        conference.participants.pop(leg.call_sid, None)
        conference.updated_at = at
        if not conference.participants:
            conference.status = "completed"
            conference.ended_at = at
            conference.reason_ended = reason
            conference.participants = {}

    # ------------------------------------------------------------------ changes now
    def end_leg(self, call_sid: str, *, message_s: float, kicked: bool = False) -> None:
        """The call leaves its conference now (or never reaches it) and ends ``message_s``
        later: removed, hung up, or given TwiML without the conference."""
        with self.state.lock:
            self.materialize()
            now = self.state.now()
            record = self.state.records.get(call_sid)
            leg = self.legs.get(call_sid)
            if leg is not None:
                if leg.joined_at is not None and leg.left_at is None:
                    reason = "last-participant-kicked" if kicked else "last-participant-left"
                    self._leave(leg, now, reason)
                elif leg.joined_at is None:
                    leg.join_at = None
                leg.leave_at = leg.left_at
            if record is not None:
                end = now + timedelta(seconds=message_s)
                if record.ended_at is None or record.ended_at > end:
                    record.ended_at = end
                record.stays = False

    def participant(self, conference_sid: str, ref: str) -> Leg | None:
        """A participant now, by call SID or label."""
        conference = self.conferences.get(conference_sid)
        if conference is None:
            return None
        for leg in conference.participants.values():
            if ref in (leg.call_sid, leg.label):
                return leg
        return None

    def on_bridge(self, number: str) -> list[str]:
        """Call SIDs of ``number``'s calls on a conference now."""
        with self.state.lock:
            self.materialize()
            sids = []
            for conference in self.conferences.values():
                for leg in conference.participants.values():
                    record = self.state.records.get(leg.call_sid)
                    if record is not None and number in (record.to, record.from_):
                        sids.append(leg.call_sid)
            return sids


# ------------------------------------------------------------------ JSON
def conference_json(state: State, conference: Conference) -> dict[str, Any]:
    base = f"{API_PREFIX}{state.account_sid}/Conferences/{conference.sid}"
    return {
        "account_sid": state.account_sid,
        "api_version": "2010-04-01",
        "call_sid_ending_conference": None,
        "date_created": rfc2822(conference.created_at),
        "date_updated": rfc2822(conference.updated_at),
        "friendly_name": conference.friendly_name,
        "reason_conference_ended": conference.reason_ended,
        "region": "us1",
        "sid": conference.sid,
        "status": conference.status,
        "subresource_uris": {
            "participants": f"{base}/Participants.json",
            "recordings": f"{base}/Recordings.json",
        },
        "uri": f"{base}.json",
    }


def participant_json(state: State, leg: Leg) -> dict[str, Any]:
    stamp = rfc2822(leg.joined_at) if leg.joined_at else None
    return {
        "account_sid": state.account_sid,
        "call_sid": leg.call_sid,
        "call_sid_to_coach": None,
        "coaching": False,
        "conference_sid": leg.conference_sid,
        "date_created": stamp,
        "date_updated": stamp,
        "end_conference_on_exit": False,
        "hold": leg.hold,
        "label": leg.label,
        "muted": leg.muted,
        "queue_time": None,
        "start_conference_on_enter": True,
        "status": "connected" if leg.left_at is None else "complete",
        "uri": (
            f"{API_PREFIX}{state.account_sid}/Conferences/{leg.conference_sid}"
            f"/Participants/{leg.call_sid}.json"
        ),
    }
