"""The roll call's view model: the service's roll call turned into rows of literal text.

Pure (no widgets, no database): ``build_view`` runs in the screen's worker thread and reuses the
rows that did not change since the last load, so a 1,000-person roll call rebuilds only what
moved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from rich.text import Text

from mim_console.domain.alerts import Alert
from mim_console.domain.bridge import BridgeState, bridge_mark, queue_eta
from mim_console.domain.incident import ActionKind, Incident, IncidentStatus, Role, State
from mim_console.services.attendance import roll_call_with_alerts
from mim_console.services.context import Context
from mim_console.services.incidents import RollCall, Seat
from mim_console.services.timezone import shown
from mim_console.widgets.fittable import Col
from mim_console.widgets.literal import lit

# Short fixed words (at most STATE_WIDTH cells), so the state column is never cut.
STATE_WORDS: dict[State, str] = {
    State.ALERTED: "… alerted",
    State.JOINED: "✔ joined",
    State.UNABLE: "✖ unable",
    State.ESCALATED: "⚠ escalated",
    State.UNREACHABLE: "✖ unreached",
    State.STANDBY: "◌ standby",
    State.RECALLED: "↻ recalled",
    State.STOOD_DOWN: "– stood down",
    State.VOICEMAIL: "✉ voicemail",
    State.FAILED: "✖ failed",
}
STATE_WIDTH = 12
#: After ``name``: this person decides for their party, so their joining counts for quorum.
DECIDES = "◆"
STATE_STYLE: dict[State, str] = {
    State.JOINED: "bold green",
    State.UNABLE: "red",
    State.ESCALATED: "bold yellow",
    State.UNREACHABLE: "bold red",
    State.RECALLED: "yellow",
    State.STOOD_DOWN: "dim",
    State.VOICEMAIL: "bold yellow",
    State.FAILED: "bold red",
}
DELIVERY_WORDS = {
    "queued": "· queued",
    "sending": "→ sending",
    "accepted": "→ accepted",
    "sent": "→ sent",
    "delivered": "✔ delivered",
    "undelivered": "✖ undelivered",
    "failed": "✖ failed",
    "ringing": "☎ ringing",
    "in-progress": "☎ on call",
    "completed": "✔ answered",
    "busy": "✖ busy",
    "no-answer": "✖ no answer",
    "canceled": "✖ canceled",
}
# The layout rule (widgets/fittable.py): at 80 columns the next escalation step, phone and
# delivery move into the detail line below the table; from about 116 every column is shown and
# unit and name grow.
COLS = (
    Col("mark", "✓", 1),
    Col("unit", "unit", 16, min_width=8, grow=True, detail="{}"),
    Col("name", "name", 20, min_width=10, grow=True, detail="{}"),
    Col("state", "state", STATE_WIDTH, detail="{}"),
    Col("next", "next", 12, drop=6, detail="{}"),
    Col("delivery", "delivery", 13, drop=4, detail="last alert {}"),
    Col("since", "since", 5, drop=2, detail="alerted {} ago"),
    Col("joined", "joined", 6, drop=3, detail="joined {}"),
    Col("phone", "phone", 13, drop=5, detail="☎ {}"),
)

ROLE_ORDER = {Role.DUTY_MANAGER: 0, Role.MRT: 1, Role.SPECIALIST: 2}
# The counts line, in this order.
COUNT_ORDER = (
    State.JOINED,
    State.ALERTED,
    State.ESCALATED,
    State.UNABLE,
    State.UNREACHABLE,
    State.FAILED,
    State.VOICEMAIL,
    State.STANDBY,
    State.RECALLED,
    State.STOOD_DOWN,
)
CURVE_BUCKETS = 30
_ASSEMBLED = (State.JOINED, State.STANDBY, State.STOOD_DOWN)  # joined at some point


def ago(now: datetime, then: datetime | None) -> str:
    """Whole minutes: a 1,000-row roll call then changes its times once a minute, not per reload."""
    if then is None:
        return ""
    minutes = max(0, int((now - then).total_seconds())) // 60
    if minutes < 1:
        return "<1m"
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def until(now: datetime, then: datetime) -> str:
    """Whole minutes left, like ``ago``: ``in 4m``, ``in <1m``, ``due`` once due (the next
    timer tick takes the step; it stays ``due`` while no dispatcher runs the timers)."""
    seconds = int((then - now).total_seconds())
    if seconds <= 0:
        return "due"
    return "in <1m" if seconds < 60 else f"in {ago(then, now)}"


STEP_WORDS = {ActionKind.VOICE: "☎", ActionKind.DEPUTY: "deputy"}


def next_words(seat: Seat, now: datetime) -> str:
    """The escalation timer's next step for a waiting participant: ``☎ in 2m``, ``deputy due``."""
    step = seat.next_step
    return "" if step is None else f"{STEP_WORDS[step.kind]} {until(now, step.at)}"


def local_hm(moment: datetime | None) -> str:
    return shown(moment, "%H:%M")


@dataclass(frozen=True)
class SeatView:
    participant_id: int
    person_ref: str
    name: str
    state: State
    cells: tuple[Text, ...]  # without the mark column
    group: tuple[int, str]  # sort key: role order, unit name
    on_bridge: bool = False
    muted: bool = False


RowKey = tuple[Any, ...]


@dataclass(frozen=True)
class RollCallView:
    code: str
    open: bool
    header: str
    quorum_line: str
    speaker_line: str
    counts_line: str
    curve: list[float]
    seats: list[SeatView] = field(default_factory=list)
    standby_refs: list[str] = field(default_factory=list)
    rows: Mapping[RowKey, SeatView] = field(default_factory=dict)
    bridge: bool = False  # the incident has its own (Twilio) bridge
    unplaced: int = 0  # replies that named no incident (services/unplaced.py)

    @cached_property
    def by_participant(self) -> dict[int, SeatView]:
        return {s.participant_id: s for s in self.seats}


def assembly_curve(declared: datetime, joined: Sequence[datetime], now: datetime) -> list[float]:
    """Joined count over time since the declaration, in equal buckets (for the Sparkline)."""
    span = max((now - declared).total_seconds(), 60.0)
    step = span / CURVE_BUCKETS
    ordered = sorted(joined)
    points: list[float] = []
    index = 0
    for bucket in range(1, CURVE_BUCKETS + 1):
        edge = declared + timedelta(seconds=step * bucket)
        while index < len(ordered) and ordered[index] <= edge:
            index += 1
        points.append(float(index))
    return points


def deliveries(alerts: Sequence[Alert]) -> dict[int, str]:
    """Person id → their latest alert's state in words (alerts oldest first: the last wins)."""
    out: dict[int, str] = {}
    for alert in alerts:
        if alert.person_id is None:
            continue
        status = str(alert.status)
        words = DELIVERY_WORDS.get(status, status)
        if alert.channel == "voice":
            words = f"☎{words}"  # a call: "☎✔ answered", as short as the SMS words
        out[alert.person_id] = words
    return out


def bridge_words(rc: RollCall, now: datetime) -> dict[int, str]:
    """Person id → their place on the bridge, shown in the delivery column: ``● on bridge``,
    ``left 05:12``, ``voicemail``, or their bridge call's place in the queue. Nothing once the
    incident is closed: the bridge is no longer watched."""
    if not rc.bridge.enabled or not rc.incident.is_open:
        return {}
    by_participant = {s.participant.id: s.person.id for s in rc.seats}
    out: dict[int, str] = {}
    for pid, presence in rc.bridge.presence.items():
        person_id = by_participant.get(pid)
        if person_id is not None:
            out[person_id] = bridge_mark(presence, now, local_hm(presence.since))
    for position, person_id in enumerate(rc.bridge.queue):
        eta = int(queue_eta(position, rc.bridge.calls_per_second).total_seconds())
        out.setdefault(person_id, f"☎ queue {position + 1} ~{eta}s")
    return out


def bridge_line(rc: RollCall) -> str:
    """The header's bridge count and call queue (empty without the incident bridge)."""
    if not rc.bridge.enabled:
        return ""
    if not rc.incident.is_open:
        return "☎ bridge no longer watched"
    line = f"☎ {rc.bridge.on_bridge} on bridge"
    waiting = len(rc.bridge.queue)
    if waiting:
        eta = int(queue_eta(waiting, rc.bridge.calls_per_second).total_seconds())
        line += f" · {waiting} call{'s' if waiting != 1 else ''} queued (~{eta}s)"
    return line


class _SeatRows:
    """Builds one ``SeatView`` per seat, reusing the previous load's unchanged rows."""

    def __init__(
        self,
        rc: RollCall,
        now: datetime,
        delivery: Mapping[int, str],
        previous: Mapping[RowKey, SeatView] | None,
    ) -> None:
        self.rc = rc
        self.now = now
        self.delivery = {**delivery, **bridge_words(rc, now)}
        self.previous = previous or {}
        self.party_of_name = {name: pid for pid, name in rc.party_names.items()}
        self.cache: dict[RowKey, SeatView] = {}

    def unit(self, seat: Seat) -> str:
        if seat.participant.role is not Role.MRT:
            return seat.unit
        if self.rc.incident.status is IncidentStatus.CLOSED:
            return f"– {seat.unit}"  # stood down, not failed
        ok = self.rc.quorum.parties.get(self.party_of_name.get(seat.unit, -1))
        return f"{'✔' if ok else '✖'} {seat.unit}"

    def name(self, seat: Seat) -> str:
        # The marks first: a narrow column cuts the end of the cell, never them.
        marks = ""
        speaker = self.rc.spokesperson
        if speaker is not None and speaker.id == seat.person.id:
            marks += "★"
        if seat.participant.role is Role.MRT and seat.person.decision_authority:
            marks += DECIDES
        name = f"{marks} {seat.person.name}" if marks else seat.person.name
        if seat.deputy_for:
            name = f"{name} (for {seat.deputy_for})"
        return name

    def view(self, seat: Seat) -> SeatView:
        p = seat.participant
        unit, name = self.unit(seat), self.name(seat)
        since = ago(self.now, p.alerted_at) if p.state is not State.STOOD_DOWN else ""
        words = self.delivery.get(seat.person.id, "")
        presence = self.rc.bridge.presence.get(p.id)
        on = presence is not None and presence.state is BridgeState.CONNECTED
        muted = bool(on and presence is not None and presence.muted)
        step = next_words(seat, self.now)
        key = (
            p.id,
            p.state,
            since,
            p.joined_at,
            unit,
            name,
            words,
            seat.person.mobile,
            muted,
            step,
        )
        view = self.previous.get(key)
        if view is None:  # unchanged rows keep their cells: a reload builds only what moved
            cells = (
                lit(unit),
                lit(name),
                lit(STATE_WORDS.get(p.state, p.state.value), STATE_STYLE.get(p.state, "")),
                lit(step, "bold" if step.endswith(" due") else ""),
                lit(words),
                lit(since),
                lit(local_hm(p.joined_at)),
                lit(seat.person.mobile),
            )
            view = SeatView(
                participant_id=p.id,
                person_ref=str(seat.person.id),
                name=seat.person.name,
                state=p.state,
                cells=cells,
                group=(ROLE_ORDER.get(p.role, 9), seat.unit.casefold()),
                on_bridge=on,
                muted=muted,
            )
        self.cache[key] = view
        return view


def quorum_words(rc: RollCall) -> str:
    inc = rc.incident
    if inc.status is IncidentStatus.CLOSED:
        return f"CLOSED at {local_hm(inc.closed_at)}: everyone stood down; p shows the report"
    if not rc.quorum.parties:
        return "quorum: no MRT party in this incident"
    if rc.quorum.reached:
        return "✔ QUORUM: every party has a joined decision maker"
    missing = [rc.party_names.get(pid, str(pid)) for pid in rc.quorum.missing]
    # Every party, however many: the line wraps rather than hides who is awaited.
    return f"✖ NO QUORUM yet: waiting for {', '.join(missing)}"


def status_lines(rc: RollCall, now: datetime) -> tuple[str, str]:
    """The quorum line and the spokesperson line, with the next status and update times."""
    inc = rc.incident
    quorum_line = quorum_words(rc)
    if rc.spokesperson is None:
        closed = inc.status is IncidentStatus.CLOSED
        speaker = "spokesperson: none" if closed else "spokesperson: none yet (s sets one)"
    else:
        speaker = f"spokesperson ★ {rc.spokesperson.name}"
    if inc.next_status_at is not None:
        late = " — LATE" if now >= inc.next_status_at else ""
        speaker += f" · next status {local_hm(inc.next_status_at)}{late}"
    if inc.next_update_at is not None and inc.status is not IncidentStatus.CLOSED:
        if now >= inc.next_update_at:  # first on its line, so 80 columns never cut it off
            due = local_hm(inc.next_update_at)
            quorum_line = f"⚠ UPDATE DUE {due} (m) · {quorum_line}"  # stakeholder update
        else:
            speaker += f" · update {local_hm(inc.next_update_at)}"
    return quorum_line, speaker


def counts_words(rc: RollCall) -> str:
    counts: dict[State, int] = {}
    for seat in rc.seats:
        state = seat.participant.state
        counts[state] = counts.get(state, 0) + 1
    line = " · ".join(
        f"{counts[s]} {s.value.replace('_', ' ')}" for s in COUNT_ORDER if counts.get(s)
    )
    line = line or "nobody paged"
    bridge = bridge_line(rc)
    return f"{bridge} · {line}" if bridge else line


def header_words(inc: Incident, now: datetime) -> str:
    # First, so a long title cut off at 80 columns never hides it.
    flag = "EXERCISE · " if inc.exercise else ""
    status = "" if inc.status is IncidentStatus.ACTIVE else f" · {inc.status.value.upper()}"
    return (
        f"{flag}{inc.code} [{inc.severity}] {inc.title}{status} · reply code {inc.reply_code}"
        f" · declared {local_hm(inc.declared_at)} ({ago(now, inc.declared_at)} ago)"
    )


def build_view(
    rc: RollCall,
    alerts: Sequence[Alert],
    now: datetime,
    previous: Mapping[RowKey, SeatView] | None = None,
) -> RollCallView:
    """Turn the service's roll call into rows of literal text (runs in a worker thread).

    ``previous`` is the last load's rows (``RollCallView.rows``): unchanged rows are reused."""
    inc = rc.incident
    rows = _SeatRows(rc, now, deliveries(alerts), previous)
    seats = sorted((rows.view(s) for s in rc.seats), key=lambda s: (s.group, s.name.casefold()))
    joined_times = [
        s.participant.joined_at
        for s in rc.seats
        if s.participant.joined_at is not None and s.participant.state in _ASSEMBLED
    ]
    quorum_line, speaker_line = status_lines(rc, now)
    return RollCallView(
        code=inc.code,
        open=inc.status is not IncidentStatus.CLOSED,
        header=header_words(inc, now),
        quorum_line=quorum_line,
        speaker_line=speaker_line,
        counts_line=counts_words(rc),
        curve=assembly_curve(inc.declared_at, joined_times, now),
        seats=seats,
        standby_refs=[str(s.person.id) for s in rc.standby],
        rows=rows.cache,
        bridge=rc.bridge.enabled,
    )


def displayed(seats: Sequence[SeatView]) -> list[tuple[Text, ...]]:
    """Cells as shown: the unit name only on a group's first row, so it reads as a heading."""
    out: list[tuple[Text, ...]] = []
    previous: tuple[int, str] | None = None
    for seat in seats:
        cells = seat.cells
        if seat.group == previous:
            cells = (Text(""), *cells[1:])
        previous = seat.group
        out.append(cells)
    return out


def load_view(
    context: Context, ref: str, previous: Mapping[RowKey, SeatView] | None = None
) -> RollCallView:
    from mim_console.services.incidents import IncidentService
    from mim_console.services.timezone import display_zone, times_in

    found = roll_call_with_alerts(context, ref)
    view = build_view(found.roll_call, found.alerts, context.clock(), previous)
    header = f"{view.header} · {times_in(display_zone(context))}"  # labelled once
    if not view.open:
        return replace(view, header=header)
    return replace(view, header=header, unplaced=IncidentService(context).unplaced_count())
