"""Response figures for the lessons-learnt report, computed by replaying the roll call.

Pure: the caller passes the participants, every state move from the timeline and the moments the
first alerts left; the figures and the assembly curve come out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mim_console.domain.incident import Event, Participant, Role, State


@dataclass(frozen=True)
class Move:
    """One state change taken from the timeline."""

    at: datetime
    participant_id: int
    state: State


@dataclass(frozen=True)
class StandbyPeriod:
    participant_id: int
    person_id: int
    start: datetime
    end: datetime | None  # None: still on standby when the report was made

    def length(self, until: datetime) -> timedelta:
        return (self.end or until) - self.start


@dataclass(frozen=True)
class CurvePoint:
    at: datetime
    joined: int


@dataclass(frozen=True)
class Figures:
    declared_at: datetime
    first_alert_after: timedelta | None
    first_join_after: timedelta | None
    party_quorum_after: Mapping[int, timedelta | None]  # party id -> first moment with quorum
    quorum_at: datetime | None  # first moment every party had quorum at once
    counts: Mapping[str, int]  # alerted, joined, unable, escalated, unreachable, failed, standby
    standby_periods: Sequence[StandbyPeriod]
    curve: Mapping[str, Sequence[CurvePoint]]  # series key -> joined count over time

    @property
    def quorum_after(self) -> timedelta | None:
        return None if self.quorum_at is None else self.quorum_at - self.declared_at


def series_key(p: Participant) -> str:
    """Which line of the assembly curve a participant belongs to."""
    if p.role is Role.MRT and p.party_id is not None:
        return f"party:{p.party_id}"
    if p.role is Role.SPECIALIST and p.group_id is not None:
        return f"group:{p.group_id}"
    return p.role.value


def response_figures(
    declared_at: datetime,
    participants: Sequence[Participant],
    moves: Iterable[Move],
    authority: Collection[int],
    alert_times: Iterable[datetime] = (),
) -> Figures:
    """Replay every move in time order (ties keep timeline order) and measure the response."""
    by_id = {p.id: p for p in participants}
    ordered = sorted(
        (m for m in moves if m.participant_id in by_id),
        key=lambda m: m.at,
    )
    parties = sorted({p.party_id for p in participants if p.role is Role.MRT and p.party_id})
    state: dict[int, State] = {}
    ever: dict[State, set[int]] = {s: set() for s in State}
    party_first: dict[int, timedelta | None] = {pid: None for pid in parties}
    quorum_at: datetime | None = None
    first_join: datetime | None = None
    standby_open: dict[int, datetime] = {}
    periods: list[StandbyPeriod] = []
    joined_count: dict[str, int] = {series_key(p): 0 for p in participants}
    curve: dict[str, list[CurvePoint]] = {key: [CurvePoint(declared_at, 0)] for key in joined_count}

    def party_has_quorum(party_id: int) -> bool:
        return any(
            state.get(p.id) is State.JOINED and p.person_id in authority
            for p in participants
            if p.role is Role.MRT and p.party_id == party_id
        )

    for move in ordered:
        p = by_id[move.participant_id]
        before = state.get(p.id)
        state[p.id] = move.state
        ever[move.state].add(p.id)
        key = series_key(p)
        if (before is State.JOINED) != (move.state is State.JOINED):
            joined_count[key] += 1 if move.state is State.JOINED else -1
            curve[key].append(CurvePoint(move.at, joined_count[key]))
        if move.state is State.JOINED and first_join is None:
            first_join = move.at
        if move.state is State.STANDBY:
            standby_open[p.id] = move.at
        elif before is State.STANDBY and p.id in standby_open:
            periods.append(StandbyPeriod(p.id, p.person_id, standby_open.pop(p.id), move.at))
        if p.role is Role.MRT and p.party_id is not None:
            if party_first.get(p.party_id) is None and party_has_quorum(p.party_id):
                party_first[p.party_id] = move.at - declared_at
            if quorum_at is None and parties and all(party_has_quorum(x) for x in parties):
                quorum_at = move.at

    for pid, start in standby_open.items():
        periods.append(StandbyPeriod(pid, by_id[pid].person_id, start, None))
    periods.sort(key=lambda s: (s.start, s.participant_id))

    first_alert = min(alert_times, default=None)
    counts = {
        "alerted": len(participants),
        "joined": len(ever[State.JOINED]),
        "unable": len(ever[State.UNABLE]),
        "escalated": len(ever[State.ESCALATED]),
        "unreachable": len(ever[State.UNREACHABLE]),
        "failed": len(ever[State.FAILED]),
        "standby": len(ever[State.STANDBY]),
    }
    return Figures(
        declared_at=declared_at,
        first_alert_after=None if first_alert is None else first_alert - declared_at,
        first_join_after=None if first_join is None else first_join - declared_at,
        party_quorum_after=party_first,
        quorum_at=quorum_at,
        counts=counts,
        standby_periods=periods,
        curve={k: tuple(v) for k, v in curve.items()},
    )


def format_duration(delta: timedelta | None) -> str:
    """``4 min 05 s``, ``1 h 02 min``, or an em-free dash when it never happened."""
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    if minutes:
        return f"{sign}{minutes} min {secs:02d} s"
    return f"{sign}{secs} s"


def moves_from(events: Iterable[Event]) -> list[Move]:
    """The state moves recorded on a timeline (declare's "alerted" and every "state" event)."""
    return [
        Move(e.at, int(str(e.data["participant"])), State(str(e.data["to"])))
        for e in events
        if e.kind in ("alerted", "state") and "participant" in e.data and e.data.get("to")
    ]


@dataclass(frozen=True)
class Assembly:
    """How fast the team assembled, counted from the first alert (what a drill measures:
    the time before it, deciding to declare, is not the paging system's)."""

    first_alert_at: datetime | None
    party_quorum_after: Mapping[int, timedelta | None]  # party id -> first alert to quorum
    full_quorum_after: timedelta | None  # first alert to every party at quorum at once
    never_answered: tuple[int, ...]  # participant ids that never joined nor said unable


def assembly(
    figures: Figures, participants: Sequence[Participant], moves: Iterable[Move]
) -> Assembly:
    answered = {m.participant_id for m in moves if m.state in (State.JOINED, State.UNABLE)}
    if figures.first_alert_after is None:
        return Assembly(
            None,
            {pid: None for pid in figures.party_quorum_after},
            None,
            tuple(p.id for p in participants if p.id not in answered),
        )
    first = figures.declared_at + figures.first_alert_after

    def since_first(after_declare: timedelta | None) -> timedelta | None:
        if after_declare is None:
            return None
        return max(timedelta(0), figures.declared_at + after_declare - first)

    return Assembly(
        first_alert_at=first,
        party_quorum_after={
            pid: since_first(after) for pid, after in figures.party_quorum_after.items()
        },
        full_quorum_after=since_first(figures.quorum_after),
        never_answered=tuple(p.id for p in participants if p.id not in answered),
    )
