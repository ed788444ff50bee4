"""The major incident as pure values: participant states, legal moves, quorum, escalation.

Nothing here reads the clock or the database: callers pass ``now`` and the people they know, so
the same rules hold in the console, the CLI, the dispatcher's tick and the tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from mim_console.errors import UserError


class State(StrEnum):
    ALERTED = "alerted"
    JOINED = "joined"
    UNABLE = "unable"
    ESCALATED = "escalated"
    UNREACHABLE = "unreachable"
    STANDBY = "standby"
    RECALLED = "recalled"
    STOOD_DOWN = "stood_down"
    VOICEMAIL = "voicemail"  # a voicemail box answered the bridge call: the deputy is paged
    FAILED = "failed"  # Twilio refused the alert for good (invalid number, STOP…): next step now


class Role(StrEnum):
    DUTY_MANAGER = "duty_manager"
    MRT = "mrt"
    SPECIALIST = "specialist"


class IncidentStatus(StrEnum):
    ACTIVE = "active"
    RESTORED = "restored"
    CLOSED = "closed"


# The roll call's legal moves. A late answer still counts: someone escalated, unreachable or
# unable may join after all. Everyone but the stood-down can be stood down at close.
TRANSITIONS: Mapping[State, frozenset[State]] = {
    State.ALERTED: frozenset(
        {
            State.JOINED,
            State.UNABLE,
            State.ESCALATED,
            State.VOICEMAIL,
            State.FAILED,
            State.STOOD_DOWN,
        }
    ),
    State.ESCALATED: frozenset(
        {
            State.JOINED,
            State.UNABLE,
            State.UNREACHABLE,
            State.VOICEMAIL,
            State.FAILED,
            State.STOOD_DOWN,
        }
    ),
    # Refused for good: the escalation goes on at once (a call, or the deputy); a late answer
    # by another route still counts.
    State.FAILED: frozenset(
        {State.JOINED, State.UNABLE, State.ESCALATED, State.VOICEMAIL, State.STOOD_DOWN}
    ),
    State.UNREACHABLE: frozenset({State.JOINED, State.UNABLE, State.VOICEMAIL, State.STOOD_DOWN}),
    State.UNABLE: frozenset({State.JOINED, State.STOOD_DOWN}),
    State.JOINED: frozenset({State.STANDBY, State.STOOD_DOWN}),
    State.STANDBY: frozenset({State.RECALLED, State.STOOD_DOWN}),
    State.RECALLED: frozenset(
        {
            State.JOINED,
            State.UNABLE,
            State.ESCALATED,
            State.VOICEMAIL,
            State.FAILED,
            State.STOOD_DOWN,
        }
    ),
    State.VOICEMAIL: frozenset({State.JOINED, State.UNABLE, State.STOOD_DOWN}),
    State.STOOD_DOWN: frozenset(),
}

_HINTS: Mapping[tuple[State, State], str] = {
    (State.ALERTED, State.STANDBY): "only someone who joined can be released",
    (State.ESCALATED, State.STANDBY): "only someone who joined can be released",
    (State.UNREACHABLE, State.STANDBY): "only someone who joined can be released",
    (State.UNABLE, State.STANDBY): "only someone who joined can be released",
    (State.VOICEMAIL, State.STANDBY): "only someone who joined can be released",
    (State.FAILED, State.STANDBY): "only someone who joined can be released",
    (State.RECALLED, State.STANDBY): "they have not re-joined since the recall",
    (State.JOINED, State.RECALLED): "only someone on standby can be recalled",
    (State.ALERTED, State.RECALLED): "only someone on standby can be recalled",
    (State.STANDBY, State.JOINED): "recall them first",
}

_VERB: Mapping[State, str] = {
    State.JOINED: "mark as joined",
    State.UNABLE: "mark as unable",
    State.ESCALATED: "escalate",
    State.UNREACHABLE: "mark as unreachable",
    State.STANDBY: "release to standby",
    State.RECALLED: "recall",
    State.STOOD_DOWN: "stand down",
    State.ALERTED: "alert again",
    State.VOICEMAIL: "mark as reached by voicemail",
    State.FAILED: "mark as failed",
}


class IllegalTransition(UserError):
    """A roll-call move the procedure does not allow; the message says why and what to do."""


@dataclass(frozen=True)
class Participant:
    """One person's place in one incident."""

    id: int
    incident_id: int
    person_id: int
    role: Role
    state: State
    state_changed_at: datetime
    party_id: int | None = None
    group_id: int | None = None
    deputy_for: int | None = None  # the participant this one stands in for
    alerted_at: datetime | None = None
    joined_at: datetime | None = None
    standby_since: datetime | None = None
    escalation_step: int = 0  # 0 SMS only, 1 voice call placed, 2 deputy alerted


@dataclass(frozen=True)
class Incident:
    id: int
    code: str
    reply_code: str
    title: str
    severity: str
    declared_at: datetime
    description: str = ""
    categories: tuple[str, ...] = ()
    exercise: bool = False
    status: IncidentStatus = IncidentStatus.ACTIVE
    declared_by: str = ""
    restored_at: datetime | None = None
    closed_at: datetime | None = None
    problem_ref: str | None = None
    problem_owner: str | None = None
    problem_summary: str | None = None
    spokesperson_id: int | None = None
    next_status_at: datetime | None = None
    next_update_at: datetime | None = None
    went_well: str = ""
    to_improve: str = ""

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.CLOSED


@dataclass(frozen=True)
class Event:
    """One line of the append-only timeline."""

    id: int
    incident_id: int | None
    at: datetime
    actor: str
    kind: str
    text: str = ""
    person_id: int | None = None
    data: Mapping[str, object] = field(default_factory=dict)


def can_move(current: State, target: State) -> bool:
    return target in TRANSITIONS[current]


def check_move(current: State, target: State, who: str = "this participant") -> None:
    """Raise ``IllegalTransition`` naming the person, their state and what would be legal."""
    if can_move(current, target):
        return
    hint = _HINTS.get((current, target))
    if hint is None:
        legal = sorted(s.value for s in TRANSITIONS[current])
        hint = "allowed next: " + (", ".join(legal) if legal else "nothing (stood down)")
    raise IllegalTransition(
        f"cannot {_VERB[target]} {who}: they are {current.value.replace('_', ' ')}; {hint}"
    )


def move(p: Participant, target: State, now: datetime, who: str = "") -> Participant:
    """The participant after a legal move, with its timestamps kept up to date."""
    check_move(p.state, target, who or f"participant {p.id}")
    changes: dict[str, object] = {"state": target, "state_changed_at": now}
    if target is State.JOINED:
        changes["joined_at"] = now
        changes["standby_since"] = None
    elif target is State.STANDBY:
        changes["standby_since"] = now
    elif target is State.RECALLED:
        changes["standby_since"] = None
        changes["alerted_at"] = now
        changes["escalation_step"] = 0
    return replace(p, **changes)  # type: ignore[arg-type]


# --- quorum -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quorum:
    parties: Mapping[int, bool]  # party id -> has a joined representative with authority

    @property
    def reached(self) -> bool:
        return bool(self.parties) and all(self.parties.values())

    @property
    def missing(self) -> list[int]:
        return [pid for pid, ok in self.parties.items() if not ok]


def quorum(participants: Iterable[Participant], authority: Collection[int]) -> Quorum:
    """Every party seated in the incident needs one joined MRT member with decision authority.

    ``authority`` holds the ids of the people with decision authority.
    """
    parties: dict[int, bool] = {}
    for p in participants:
        if p.role is not Role.MRT or p.party_id is None:
            continue
        ok = p.state is State.JOINED and p.person_id in authority
        parties[p.party_id] = parties.get(p.party_id, False) or ok
    return Quorum(dict(sorted(parties.items())))


# --- escalation ---------------------------------------------------------------------------


class EscalationPolicy(Protocol):
    @property
    def voice_after_min(self) -> float: ...

    @property
    def deputy_after_min(self) -> float: ...


class ActionKind(StrEnum):
    VOICE = "voice"  # call the person; state -> escalated
    DEPUTY = "deputy"  # alert the next person in order; silent ones -> unreachable


@dataclass(frozen=True)
class EscalationAction:
    kind: ActionKind
    participant_id: int
    reason: str


@dataclass(frozen=True)
class NextStep:
    """What an escalation timer will do to one waiting participant, and when (``at`` may be in
    the past: the step is due). The roll call shows it; the tick does it."""

    kind: ActionKind
    at: datetime
    reason: str


def _after_alert(
    p: Participant, rule: EscalationPolicy | None, now: datetime, voice_enabled: bool
) -> NextStep | None:
    """Alerted, or recalled from standby (timed from the recall): voice call, then deputy."""
    if rule is None or p.escalation_step != 0:
        return None
    since = p.alerted_at or p.state_changed_at or now
    if voice_enabled:
        at = since + timedelta(minutes=rule.voice_after_min)
        return NextStep(ActionKind.VOICE, at, f"no answer in {_minutes(rule.voice_after_min)}")
    total = rule.voice_after_min + rule.deputy_after_min
    return NextStep(ActionKind.DEPUTY, since + timedelta(minutes=total), "no answer")


def _after_voice(
    p: Participant, rule: EscalationPolicy | None, now: datetime, voice_enabled: bool
) -> NextStep | None:
    """A voice call was placed (or a missed call counted as one): the deputy next."""
    del now, voice_enabled
    if rule is None or p.escalation_step != 1:
        return None
    wait = _minutes(rule.deputy_after_min)
    return NextStep(
        ActionKind.DEPUTY,
        p.state_changed_at + timedelta(minutes=rule.deputy_after_min),
        f"no answer {wait} after the voice call",
    )


def _after_unable(
    p: Participant, rule: EscalationPolicy | None, now: datetime, voice_enabled: bool
) -> NextStep | None:
    """An ``unable`` answer needs its deputy at once, whatever the role's policy."""
    del rule, voice_enabled
    if p.escalation_step >= 2:
        return None
    return NextStep(ActionKind.DEPUTY, min(p.state_changed_at, now), "answered unable")


def _after_refusal(
    p: Participant, rule: EscalationPolicy | None, now: datetime, voice_enabled: bool
) -> NextStep | None:
    """An alert refused for good (``failed``) takes the next step at once, whatever the
    role's timers: a refused SMS before any call -> the voice call, if voice is on and the
    number can take a call, else the deputy; a refused call -> the deputy."""
    del rule
    if p.escalation_step == 0 and voice_enabled:
        return NextStep(ActionKind.VOICE, min(p.state_changed_at, now), "the alert was refused")
    if p.escalation_step < 2:
        return NextStep(ActionKind.DEPUTY, min(p.state_changed_at, now), "the alert was refused")
    return None


_StepRule = Callable[[Participant, EscalationPolicy | None, datetime, bool], NextStep | None]

# One rule per state that a timer acts on; a state missing here is never escalated by timer.
STEP_RULES: Mapping[State, _StepRule] = {
    State.ALERTED: _after_alert,
    State.RECALLED: _after_alert,
    State.ESCALATED: _after_voice,
    State.UNABLE: _after_unable,
    State.FAILED: _after_refusal,
}


def next_step(
    p: Participant,
    rule: EscalationPolicy | None,
    now: datetime,
    voice_enabled: bool = True,
) -> NextStep | None:
    """The escalation timer's next step for ``p`` under its role's ``rule``, or ``None``.

    No answer within ``voice_after_min`` of the alert (or of a recall from standby) -> voice
    call; ``deputy_after_min`` after that -> the deputy is alerted (without voice calls, the
    deputy after both). An ``unable`` answer needs its deputy at once.
    """
    step_rule = STEP_RULES.get(p.state)
    return None if step_rule is None else step_rule(p, rule, now, voice_enabled)


def escalation_actions(
    participants: Iterable[Participant],
    policy: Mapping[str, EscalationPolicy],
    now: datetime,
    *,
    voice_enabled: bool = True,
    no_calls: Collection[int] = (),
) -> list[EscalationAction]:
    """What the escalation timers say to do now (every ``next_step`` that is due); applying
    them is the caller's business. ``no_calls``: participants whose number cannot take a call
    (a refusal said the number does not exist): no voice step for them."""
    actions: list[EscalationAction] = []
    for p in participants:
        calls = voice_enabled and p.id not in no_calls
        step = next_step(p, policy.get(p.role.value), now, calls)
        if step is not None and step.at <= now:
            actions.append(EscalationAction(step.kind, p.id, step.reason))
    return actions


def _minutes(value: float) -> str:
    """Policy minutes in words: ``5 min``, ``90 s`` (sub-minute policies exist in drills)."""
    if value >= 1 and float(value).is_integer():
        return f"{int(value)} min"
    return f"{round(value * 60)} s"


def choose_deputy(
    order: Sequence[int],
    after: int,
    active: Collection[int],
    taken: Collection[int],
    preferred: Sequence[int | None] = (),
) -> int | None:
    """Who stands in for ``after``: the ``preferred`` people first (the duty board's deputy),
    then the next active person after ``after`` in ``order``, never someone already paged."""
    start = order.index(after) + 1 if after in order else 0
    rotated = [order[(start + offset) % len(order)] for offset in range(len(order))]
    for candidate in [*preferred, *rotated]:
        if (
            candidate is not None
            and candidate != after
            and candidate in active
            and candidate not in taken
        ):
            return candidate
    return None


# --- recipients ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    person_id: int
    role: Role
    party_id: int | None = None
    group_id: int | None = None


def select_recipients(
    duty_manager: int | None,
    party_seats: Sequence[tuple[int, int | None]],
    groups: Sequence[tuple[int, Sequence[int]]],
    active: Collection[int],
) -> list[Recipient]:
    """Who is paged at declaration: the duty manager, each party's representative, the groups.

    ``party_seats`` is (party id, representative on duty); ``groups`` is (group id, members in
    call order). Inactive people are skipped; someone in several roles is paged once, in the
    first role (duty manager, then MRT, then specialist).
    """
    chosen: list[Recipient] = []
    seen: set[int] = set()

    def add(r: Recipient) -> None:
        if r.person_id in active and r.person_id not in seen:
            seen.add(r.person_id)
            chosen.append(r)

    if duty_manager is not None:
        add(Recipient(duty_manager, Role.DUTY_MANAGER))
    for party_id, person_id in party_seats:
        if person_id is not None:
            add(Recipient(person_id, Role.MRT, party_id=party_id))
    for group_id, members in groups:
        for person_id in members:
            add(Recipient(person_id, Role.SPECIALIST, group_id=group_id))
    return chosen


# --- codes --------------------------------------------------------------------------------

_CODE = re.compile(r"^MI-(\d{4})-(\d{3,})$")
# No I, O, 0, 1: a code read aloud or typed on a phone must not be mistaken.
REPLY_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
REPLY_DIGITS = "23456789"


def next_incident_code(year: int, existing: Iterable[str]) -> str:
    """``MI-YYYY-NNN``: one more than the highest number used this year."""
    highest = 0
    for code in existing:
        m = _CODE.match(code)
        if m and int(m.group(1)) == year:
            highest = max(highest, int(m.group(2)))
    return f"MI-{year:04d}-{highest + 1:03d}"


def reply_code(seed: int, taken: Collection[str]) -> str:
    """A letter and a digit, unused by the incidents still open, chosen deterministically."""
    size = len(REPLY_LETTERS) * len(REPLY_DIGITS)
    taken_upper = {t.upper() for t in taken}
    for offset in range(size):
        n = (seed * 37 + offset) % size
        code = REPLY_LETTERS[n // len(REPLY_DIGITS)] + REPLY_DIGITS[n % len(REPLY_DIGITS)]
        if code not in taken_upper:
            return code
    # More than 192 open incidents: fall back to a longer code rather than fail to declare.
    return f"{REPLY_LETTERS[seed % len(REPLY_LETTERS)]}{seed}"


def on_standby(participants: Iterable[Participant]) -> list[Participant]:
    """Who is on standby, longest first: the roll call must always show it."""
    waiting = [p for p in participants if p.state is State.STANDBY]
    return sorted(waiting, key=lambda p: (p.standby_since or p.state_changed_at, p.id))
