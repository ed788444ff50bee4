"""Roll call: one incident's participants, live. Who was alerted, who joined, who is on standby.

Rows are grouped by party / specialist group; each MRT party shows whether it has quorum. The
table is updated cell by cell when only states change, so a busy incident (1,000 people, many
replies a second) never rebuilds the whole table under the duty manager's cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from mim_console.data import incidents as incident_repo
from mim_console.domain.incident import IncidentStatus, Role, State
from mim_console.screens.base import ActionDone, MimScreen
from mim_console.screens.confirm import ConfirmScreen
from mim_console.screens.note import NoteResult, NoteScreen
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService, RollCall
from mim_console.widgets.banner import OutboxBanner
from mim_console.widgets.literal import lit

STATE_WORDS: dict[State, str] = {
    State.ALERTED: "… alerted",
    State.JOINED: "✔ joined",
    State.UNABLE: "✖ unable",
    State.ESCALATED: "⚠ escalated",
    State.UNREACHABLE: "✖ unreachable",
    State.STANDBY: "◌ standby",
    State.RECALLED: "↻ recalled",
    State.STOOD_DOWN: "– stood down",
}
STATE_STYLE: dict[State, str] = {
    State.JOINED: "bold green",
    State.UNABLE: "red",
    State.ESCALATED: "bold yellow",
    State.UNREACHABLE: "bold red",
    State.RECALLED: "yellow",
    State.STOOD_DOWN: "dim",
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
ROLE_ORDER = {Role.DUTY_MANAGER: 0, Role.MRT: 1, Role.SPECIALIST: 2}
COLUMNS = ("mark", "unit", "name", "state", "delivery", "since", "joined", "phone")
WIDTHS = (1, 16, 20, 12, 12, 5, 6, 13)
CURVE_BUCKETS = 30


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


def local_hm(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone().strftime("%H:%M")


@dataclass(frozen=True)
class SeatView:
    participant_id: int
    person_ref: str
    name: str
    state: State
    cells: tuple[Text, ...]  # without the mark column
    group: tuple[int, str]  # sort key: role order, unit name


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
    rows: Mapping[tuple[Any, ...], SeatView] = field(default_factory=dict)

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


def build_view(
    rc: RollCall,
    alerts: list[dict[str, Any]],
    now: datetime,
    previous: Mapping[tuple[Any, ...], SeatView] | None = None,
) -> RollCallView:
    """Turn the service's roll call into rows of literal text (runs in a worker thread).

    ``previous`` is the last load's rows (``RollCallView.rows``): unchanged rows are reused."""
    cache: dict[tuple[Any, ...], SeatView] = {}
    inc = rc.incident
    delivery: dict[int, str] = {}
    for row in alerts:  # ordered by id: the latest alert per person wins
        if row["person_id"] is None:
            continue
        status = str(row["status"])
        words = DELIVERY_WORDS.get(status, status)
        if row["channel"] == "voice":
            words = f"{words} (call)"
        delivery[int(row["person_id"])] = words
    party_ok = rc.quorum.parties
    name_to_party = {name: pid for pid, name in rc.party_names.items()}
    seats: list[SeatView] = []
    joined_times: list[datetime] = []
    counts: dict[State, int] = {}
    for seat in rc.seats:
        p = seat.participant
        counts[p.state] = counts.get(p.state, 0) + 1
        if p.joined_at is not None and p.state in (State.JOINED, State.STANDBY, State.STOOD_DOWN):
            joined_times.append(p.joined_at)
        unit = seat.unit
        if p.role is Role.MRT:
            ok = party_ok.get(name_to_party.get(unit, -1))
            unit = f"{'✔' if ok else '✖'} {unit}"
        name = seat.person.name
        if seat.deputy_for:
            name = f"{name} (for {seat.deputy_for})"
        if rc.spokesperson is not None and rc.spokesperson.id == seat.person.id:
            name = f"{name} ★"
        since = ago(now, p.alerted_at) if p.state is not State.STOOD_DOWN else ""
        words = delivery.get(seat.person.id, "")
        key = (p.id, p.state, since, p.joined_at, unit, name, words, seat.person.mobile)
        view = previous.get(key) if previous is not None else None
        if view is None:  # unchanged rows keep their cells: a reload builds only what moved
            cells = (
                lit(unit),
                lit(name),
                lit(STATE_WORDS.get(p.state, p.state.value), STATE_STYLE.get(p.state, "")),
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
            )
        cache[key] = view
        seats.append(view)
    seats.sort(key=lambda s: (s.group, s.name.casefold()))
    missing = [rc.party_names.get(pid, str(pid)) for pid in rc.quorum.missing]
    if inc.status is IncidentStatus.CLOSED:
        closed = local_hm(inc.closed_at)
        quorum_line = f"CLOSED at {closed}: everyone stood down; p shows the report"
    elif not rc.quorum.parties:
        quorum_line = "quorum: no MRT party in this incident"
    elif rc.quorum.reached:
        quorum_line = "✔ QUORUM: every party has a joined decision maker"
    else:
        shown = ", ".join(missing[:4]) + (
            f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        )
        quorum_line = f"✖ NO QUORUM yet: waiting for {shown}"
    if rc.spokesperson is None:
        speaker = "spokesperson: none yet (s sets one)"
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
    order = (
        State.JOINED,
        State.ALERTED,
        State.ESCALATED,
        State.UNABLE,
        State.UNREACHABLE,
        State.STANDBY,
        State.RECALLED,
        State.STOOD_DOWN,
    )
    counts_line = " · ".join(
        f"{counts[s]} {s.value.replace('_', ' ')}" for s in order if counts.get(s)
    )
    # First, so a long title cut off at 80 columns never hides it.
    flag = "EXERCISE · " if inc.exercise else ""
    status = "" if inc.status is IncidentStatus.ACTIVE else f" · {inc.status.value.upper()}"
    header = (
        f"{flag}{inc.code} [{inc.severity}] {inc.title}{status} · reply code {inc.reply_code}"
        f" · declared {local_hm(inc.declared_at)} ({ago(now, inc.declared_at)} ago)"
    )
    return RollCallView(
        code=inc.code,
        open=inc.status is not IncidentStatus.CLOSED,
        header=header,
        quorum_line=quorum_line,
        speaker_line=speaker,
        counts_line=counts_line or "nobody paged",
        curve=assembly_curve(inc.declared_at, joined_times, now),
        seats=seats,
        standby_refs=[str(s.person.id) for s in rc.standby],
        rows=cache,
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
    context: Context, ref: str, previous: Mapping[tuple[Any, ...], SeatView] | None = None
) -> RollCallView:
    service = IncidentService(context)
    rc = service.roll_call(ref)
    with context.store.read() as db:
        alerts = incident_repo.alert_rows(db, rc.incident.id)
    return build_view(rc, alerts, context.clock(), previous)


class RollCallScreen(MimScreen):
    RELOAD_ON_OUTBOX = True
    HELP_TITLE = "Roll call"
    HELP_TEXT = (
        "Space marks rows; release, recall, joined and unable act on the marked rows "
        "(or the row under the cursor when none is marked)."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "mark", "Mark", id="rollcall.mark", tooltip="Mark / unmark this row"),
        Binding(
            "j",
            "joined",
            "Joined",
            id="rollcall.joined",
            tooltip="Mark as joined (seen on the bridge; l logs a phone call)",
        ),
        Binding("u", "unable", "Unable", id="rollcall.unable", tooltip="Mark as unable to join"),
        Binding(
            "l",
            "log_call",
            "Log call",
            id="rollcall.log_call",
            tooltip="Log a phone call to this person: joining, unable, voicemail, no answer",
        ),
        Binding(
            "k",
            "call_sheet",
            "Call sheet",
            id="rollcall.call_sheet",
            tooltip="Write this incident's call sheet to the data dir and show it",
            show=False,  # the banner names it when Twilio is unreachable
        ),
        Binding(
            "r",
            "release",
            "Release",
            id="rollcall.release",
            tooltip="Release to standby (they stay ready to rejoin)",
        ),
        Binding(
            "b",
            "recall",
            "Recall",
            id="rollcall.recall",
            tooltip="Recall from standby (sends an SMS); nothing marked: everyone on standby",
        ),
        Binding(
            "e",
            "escalate",
            "Escalate",
            id="rollcall.escalate",
            tooltip="Escalate now: voice call, then the deputy",
        ),
        Binding(
            "s",
            "spokesperson",
            "Spokesperson",
            id="rollcall.spokesperson",
            tooltip="Make this specialist the one spokesperson",
        ),
        Binding("n", "note('note')", "Note", id="rollcall.note", tooltip="Add a note"),
        Binding(
            "a",
            "note('status_report')",
            "Status",
            id="rollcall.status",
            tooltip="Record the spokesperson's status report and the next one's time",
        ),
        Binding(
            "d",
            "note('directive')",
            "Directive",
            id="rollcall.directive",
            tooltip="Record an MRT directive to the workgroup",
        ),
        Binding(
            "c",
            "close_incident",
            "Close",
            id="rollcall.close",
            tooltip="Close: stand everyone down (all-clear SMS) and record the problem case",
        ),
        Binding(
            "m",
            "comms",
            "Comms",
            id="rollcall.comms",
            tooltip="Communications: stakeholder updates, press releases, approval, publishing",
        ),
        Binding("t", "timeline", "Timeline", id="rollcall.timeline", tooltip="The timeline"),
        Binding("p", "report", "Report", id="rollcall.report", tooltip="Report preview"),
        Binding("escape", "back", "Back", id="rollcall.back", tooltip="Back to Duty"),
    ]

    class Loaded(Message):
        def __init__(self, view: RollCallView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, incident_ref: str) -> None:
        super().__init__()
        self.incident_ref = incident_ref
        self.view: RollCallView | None = None
        self.marked: set[int] = set()
        self._order: list[int] = []
        self._cells: dict[int, tuple[Text, ...]] = {}
        self._ticks = 0
        self.loads = 0  # views shown so far (benchmarks and tests watch it)
        self._detail = ""  # the line below the table, as last shown

    def compose(self) -> ComposeResult:
        yield Header()
        yield OutboxBanner(id="banner", sheet_key="k")
        yield Static(Content(f"{self.incident_ref}: loading…"), id="rc-header")
        with Horizontal(id="rc-summary"):
            with Vertical(id="rc-lines"):
                yield Static(Content(""), id="rc-quorum")
                yield Static(Content(""), id="rc-speaker")
            yield Sparkline([0.0], id="rc-curve", summary_function=max)
        yield DataTable(id="rc-table", cursor_type="row", zebra_stripes=True)
        yield Static(Content(""), id="rc-detail")  # the row under the cursor, phone included
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#rc-table", DataTable)
        for name, width in zip(COLUMNS, WIDTHS, strict=True):
            # Fixed widths: live updates never re-measure 1,000 rows.
            table.add_column(name if name != "mark" else "✓", key=name, width=width)
        table.focus()
        super().on_mount()

    # -- loading -------------------------------------------------------------------------------

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="rollcall-load", exit_on_error=False)
    def _load(self) -> None:
        previous = self.view.rows if self.view is not None else None
        self.post_message(self.Loaded(load_view(self.context, self.incident_ref, previous)))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        view = message.view
        self.view = view
        self.loads += 1
        self.incident_ref = view.code
        self.sub_title = view.code
        self.query_one("#rc-header", Static).update(Content(view.header))
        self.query_one("#rc-quorum", Static).update(Content(view.quorum_line))
        self.query_one("#rc-speaker", Static).update(
            Content(f"{view.counts_line} · {view.speaker_line}")
        )
        self.query_one("#rc-curve", Sparkline).data = view.curve
        self._fill(view.seats)
        self._show_detail()

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        """At 80 columns the phone and joined columns are off the screen's edge: the row
        under the cursor is spelled out below the table."""
        pid = self.current_participant()
        seat = self._seat(pid) if pid is not None else None
        line = ""
        if seat is not None:
            unit, name, state, delivery, since, joined, phone = (c.plain for c in seat.cells)
            words = [name, unit, f"☎ {phone}", state]
            words += [f"alerted {since} ago"] if since else []
            words += [f"joined {joined}"] if joined else []
            words += [f"last alert: {delivery}"] if delivery else []
            line = " · ".join(w for w in words if w)
        if line != self._detail:
            self._detail = line
            # One line of fixed size: no layout pass over a 1,000-row table for it.
            self.query_one("#rc-detail", Static).update(lit(line), layout=False)

    def _fill(self, seats: list[SeatView]) -> None:
        table = self.query_one("#rc-table", DataTable)
        order = [s.participant_id for s in seats]
        shown = displayed(seats)
        live = set(order)
        self.marked &= live
        if order == self._order:
            for pid, cells in zip(order, shown, strict=True):
                old = self._cells.get(pid, ())
                if old == cells:
                    continue
                for column, after in enumerate(cells):
                    if column >= len(old) or old[column] != after:
                        table.update_cell(str(pid), COLUMNS[column + 1], after)
                self._cells[pid] = cells
            return
        current = self.current_participant()
        table.clear()
        for pid, cells in zip(order, shown, strict=True):
            mark = Text("●" if pid in self.marked else "")
            table.add_row(mark, *cells, key=str(pid))
        self._order = order
        self._cells = dict(zip(order, shown, strict=True))
        if current in live:
            table.move_cursor(row=order.index(current))

    async def _poll(self) -> None:
        # Times ("4m since alert") move on even when nothing is written: redraw every 5 s.
        self._ticks += 1
        if self._ticks % 5 == 0:
            self.reload()
        await super()._poll()

    # -- selection -----------------------------------------------------------------------------

    def current_participant(self) -> int | None:
        table = self.query_one("#rc-table", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key and key.isdigit() else None

    def _seat(self, participant_id: int) -> SeatView | None:
        if self.view is None:
            return None
        return self.view.by_participant.get(participant_id)

    def chosen(self) -> list[SeatView]:
        """The marked rows, or the row under the cursor when nothing is marked."""
        ids = sorted(self.marked) if self.marked else [self.current_participant()]
        return [s for s in (self._seat(i) for i in ids if i is not None) if s is not None]

    def action_mark(self) -> None:
        pid = self.current_participant()
        if pid is None:
            return
        table = self.query_one("#rc-table", DataTable)
        if pid in self.marked:
            self.marked.discard(pid)
        else:
            self.marked.add(pid)
        table.update_cell(str(pid), "mark", Text("●" if pid in self.marked else ""))
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    # -- actions -------------------------------------------------------------------------------

    def _act(self, run: Callable[[IncidentService], str]) -> None:
        self.act(lambda: run(IncidentService(self.context)))

    @on(ActionDone)
    def _done(self, message: ActionDone) -> None:
        if message.failed:
            self.mim.problem(message.text)
            return
        self.mim.wake_dispatcher()
        self.marked.clear()
        self.notify(message.text, markup=False)
        self._order = []  # redraw marks
        self.reload()

    def _names(self, seats: list[SeatView]) -> str:
        names = [s.name for s in seats]
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    def _bulk(self, verb: str, method: str) -> None:
        seats = self.chosen()
        if not seats:
            self.notify("nobody selected", severity="warning")
            return
        refs = [s.person_ref for s in seats]
        code = self.incident_ref

        def run(service: IncidentService) -> str:
            done = getattr(service, method)(code, refs)
            return f"{verb}: {self._names_of(done)}"

        self._act(run)

    @staticmethod
    def _names_of(names: Sequence[str]) -> str:
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    def action_joined(self) -> None:
        self._bulk("marked joined", "mark_joined")

    def action_unable(self) -> None:
        self._bulk("marked unable", "mark_unable")

    def action_release(self) -> None:
        self._bulk("released to standby", "release")

    def action_recall(self) -> None:
        if self.view is None:
            return
        if self.marked:
            seats = self.chosen()
            refs = [s.person_ref for s in seats]
        else:
            refs = list(self.view.standby_refs)
        if not refs:
            self.notify("nobody is on standby to recall", severity="warning")
            return
        code = self.incident_ref
        count = len(refs)

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._act(lambda s: f"recalled: {self._names_of(s.recall(code, refs))}")

        self.app.push_screen(
            ConfirmScreen(
                f"Recall {count} {'person' if count == 1 else 'people'} from standby?\n"
                f"Each gets an SMS now.",
                yes=f"Recall {count}",
            ),
            confirmed,
        )

    def _one(self) -> SeatView | None:
        pid = self.current_participant()
        seat = self._seat(pid) if pid is not None else None
        if seat is None:
            self.notify("no row under the cursor", severity="warning")
        return seat

    def action_escalate(self) -> None:
        seat = self._one()
        if seat is None:
            return
        code, ref, name = self.incident_ref, seat.person_ref, seat.name

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._act(lambda s: s.escalate(code, ref))

        self.app.push_screen(
            ConfirmScreen(f"Escalate {name} now?\nThis places a voice call or pages their deputy."),
            confirmed,
        )

    def action_log_call(self) -> None:
        from mim_console.screens.call_log import CallLogResult, CallLogScreen

        if self.view is not None and not self.view.open:
            self.notify("the incident is closed: no call can change it", severity="warning")
            return
        seat = self._one()
        if seat is None:
            return
        code, ref, name = self.incident_ref, seat.person_ref, seat.name

        def logged(result: CallLogResult | None) -> None:
            if result is not None:
                self._act(
                    lambda s: (
                        f"{name}: {result.outcome} -> "
                        + s.log_call(code, ref, result.outcome, result.note)
                    )
                )

        self.app.push_screen(CallLogScreen(code, name, seat.cells[-1].plain), logged)

    def action_call_sheet(self) -> None:
        from mim_console.screens.call_log import offer_call_sheet

        offer_call_sheet(self, self.incident_ref)

    def action_spokesperson(self) -> None:
        seat = self._one()
        if seat is None:
            return
        code, ref = self.incident_ref, seat.person_ref
        self._act(lambda s: s.set_spokesperson(code, ref, replace_current=True))

    def action_note(self, kind: str) -> None:
        code = self.incident_ref

        def saved(result: NoteResult | None) -> None:
            if result is None:
                return

            def run(s: IncidentService) -> str:
                if result.kind == "status_report":
                    s.status_report(code, result.text, result.next_in_min)
                    return "status report added"
                if result.kind == "directive":
                    s.directive(code, result.text)
                    return "directive added"
                s.note(code, result.text)
                return "note added"

            self._act(run)

        self.app.push_screen(NoteScreen(kind, code), saved)

    def action_close_incident(self) -> None:
        from mim_console.screens.close import CloseForm, CloseScreen

        if self.view is None:
            return
        code = self.incident_ref
        active = [s for s in self.view.seats if s.state is not State.STOOD_DOWN]

        def closed(form: CloseForm | None) -> None:
            if form is None:
                return

            def close(s: IncidentService) -> str:
                done = s.close(
                    code,
                    problem_ref=form.problem_ref,
                    owner=form.owner,
                    summary=form.summary,
                    all_clear=form.all_clear,
                )
                case = f"; problem case {done.problem_ref}" if done.problem_ref else ""
                return "; ".join([f"{done.code} closed{case}", *s.warnings])  # e.g. no backup

            self._act(close)

        self.app.push_screen(CloseScreen(code, len(active)), closed)

    def action_comms(self) -> None:
        from mim_console.screens.comms import CommsScreen

        self.mim.go(CommsScreen(self.incident_ref), stack=True)

    def action_timeline(self) -> None:
        from mim_console.screens.timeline import TimelineScreen

        self.mim.go(TimelineScreen(self.incident_ref), stack=True)

    def action_report(self) -> None:
        from mim_console.screens.report import ReportScreen

        self.mim.go(ReportScreen(self.incident_ref), stack=True)

    def action_back(self) -> None:
        self.app.pop_screen()
