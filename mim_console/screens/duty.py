"""Duty: the home screen. Who is on duty now and next, each party's seat, active incidents."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static

from mim_console.domain.text import countdown
from mim_console.screens.base import MimScreen
from mim_console.screens.outbox import OutboxScreen, outbox_binding
from mim_console.services.context import Context
from mim_console.services.timezone import display_zone, shown, zone_label
from mim_console.widgets.banner import OutboxBanner
from mim_console.widgets.fittable import Col, FitTable
from mim_console.widgets.literal import lit

if TYPE_CHECKING:
    from textual.worker import Worker

    from mim_console.domain.incident import Incident
    from mim_console.services.duty import OnDuty

INCIDENT_COLS = (
    Col("code", "incident", 11, detail="{}"),
    Col("title", "title", 24, min_width=12, grow=True, detail="{}"),
    Col("severity", "severity", 8, detail="{}"),
    Col("quorum", "quorum", 12, detail="{}"),
    Col("joined", "joined", 12, min_width=11, detail="{}"),
)
SEAT_COLS = (
    Col("party", "party", 24, min_width=14, grow=True, detail="{}"),
    Col("representative", "representative", 22, min_width=14, grow=True, detail="{}"),
    Col("deputy", "deputy", 22, min_width=14, grow=True, detail="deputy {}"),
)
READINESS_EVERY_S = 60.0
CLOSED_SHOWN = timedelta(days=14)  # closed incidents stay listed this long


@dataclass(frozen=True)
class SeatRow:
    party: str
    representative: str
    deputy: str


@dataclass(frozen=True)
class IncidentRow:
    id: int
    code: str
    title: str
    severity: str
    status: str
    quorum: str  # words: "✔ quorum" / "✖ 2 short"; closed: "closed 27.11"
    joined: str  # "3/7 joined"; closed: "lessons due" / "lessons ✔"
    exercise: bool = False

    @classmethod
    def of(cls, inc: Incident, quorum: str, joined: str) -> IncidentRow:
        return cls(
            id=inc.id,
            code=inc.code,
            title=inc.title,
            severity=inc.severity,
            status=inc.status.value,
            quorum=quorum,
            joined=joined,
            exercise=inc.exercise,
        )


@dataclass(frozen=True)
class DutyView:
    now_line: str
    next_line: str
    seats: list[SeatRow] = field(default_factory=list)
    incidents: list[IncidentRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The earliest stakeholder update still ahead: the screen reloads then to remind of it.
    next_update_at: datetime | None = None
    unplaced: int = 0  # replies that named no incident (services/unplaced.py)


def _who(duty: OnDuty) -> str:
    if duty.person is None:
        return duty.note or "nobody"
    tail = " (override)" if duty.override else ""
    return f"{duty.person.name}{tail}"


def load_duty_view(context: Context) -> DutyView:
    """Collect what the Duty screen shows from the services; runs in a worker thread."""
    from mim_console.services.attendance import joined_counts
    from mim_console.services.duty import load_board
    from mim_console.services.incidents import IncidentService

    now = context.clock()
    board = load_board(context.store, now)
    zone = display_zone(context)
    dm = board.duty_manager
    if dm.person is None:
        now_line = f"Duty manager: ⚠ {dm.note or 'nobody is on duty'}"
    else:
        now_line = f"Duty manager now: {_who(dm)}, {dm.person.mobile}"
        if dm.until is not None:
            now_line += (
                f" · until {dm.until.astimezone(zone):%a %H:%M} ({countdown(now, dm.until)})"
            )
    nxt = board.next_duty_manager
    next_line = "" if dm.person is None and nxt.person is None else f"Next: {_who(nxt)}"
    if nxt.since is not None and nxt.person is not None:
        next_line += f" from {nxt.since.astimezone(zone):%a %d.%m %H:%M} {zone_label(zone)}"
    seats = [
        SeatRow(
            seat.party.name,
            _who(seat.holder) if seat.holder.person else f"⚠ {seat.holder.note or 'nobody'}",
            seat.holder.deputy.name if seat.holder.deputy else "— no deputy",
        )
        for seat in board.seats
    ]
    service = IncidentService(context)
    incidents: list[IncidentRow] = []
    active = service.incidents()
    counts = joined_counts(context, active)
    for inc in active:
        came = counts[inc.id]
        if not came.quorum.parties:
            quorum_words = "no MRT party"
        elif came.quorum.reached:
            quorum_words = "✔ quorum"
        else:
            quorum_words = f"✖ {len(came.quorum.missing)} short"
        incidents.append(IncidentRow.of(inc, quorum_words, f"{came.joined}/{came.total} joined"))
    # Closed ones stay in reach for a while: their report and its lessons come after the close.
    for inc in service.closed_since(now - CLOSED_SHOWN):
        closed = inc.closed_at.astimezone(zone) if inc.closed_at else None
        quorum_words = f"closed {closed:%d.%m}" if closed else "closed"
        lessons = "lessons ✔" if inc.went_well or inc.to_improve else "lessons due"
        incidents.append(IncidentRow.of(inc, quorum_words, lessons))
    due_lines, ahead = update_rhythm(context, now)
    unplaced = service.unplaced_count() if active else 0
    warnings = [*due_lines, *board.warnings]
    return DutyView(now_line, next_line, seats, incidents, warnings, ahead, unplaced)


def update_rhythm(context: Context, now: datetime) -> tuple[list[str], datetime | None]:
    """The duty manager's reminder: stakeholder updates the MRT promised and has not sent,
    and when the next promised one comes due."""
    from mim_console.services.comms import CommsService
    from mim_console.services.incidents import IncidentService

    promised = [i.next_update_at for i in IncidentService(context).incidents() if i.next_update_at]
    ahead = min((at for at in promised if at > now), default=None)
    lines = []
    for due in CommsService(context).due(now):
        late = int(due.overdue_min)
        lines.append(
            f"{due.incident.code}: stakeholder update due since "
            f"{shown(due.due_at, '%H:%M')} ({late}m late) · m: Communications"
        )
    return lines, ahead


class DutyScreen(MimScreen):
    RELOAD_ON_OUTBOX = True
    HELP_TITLE = "Duty (home)"
    HELP_TEXT = "Who is on duty now and next, each party's seat, and the active incidents."
    WRITES = frozenset("declare".split())  # refused on a standby copy
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "n",
            "declare",
            "Declare",
            id="duty.declare",
            tooltip="Declare a major incident and page the team",
        ),
        Binding(
            "r",
            "open_incident",
            "Roll call",
            id="duty.rollcall",
            tooltip="Open the selected incident's roll call",
        ),
        Binding(
            "p",
            "directory",
            "People",
            id="duty.directory",
            tooltip="Directory: search, add, edit, import people",
        ),
        Binding(
            "o",
            "rotations",
            "Rotations",
            id="duty.rotations",
            tooltip="Duty rotations: shifts and overrides",
        ),
        Binding(
            "t",
            "timeline",
            "Timeline",
            id="duty.timeline",
            tooltip="The selected incident's timeline",
        ),
        Binding(
            "w",
            "readiness",
            "Readiness",
            id="duty.readiness",
            tooltip="Every readiness item: what preparation is missing and how to fix it",
            show=False,  # the readiness line names the key; the footer is full at 80 columns
        ),
        Binding(
            "m",
            "comms",
            "Comms",
            id="duty.comms",
            tooltip="Communications of the selected incident: updates, approval, publishing",
            show=False,  # the footer is full at 80 columns; help and the due reminder name it
        ),
        Binding(
            "k",
            "call_sheet",
            "Call sheet",
            id="duty.call_sheet",
            tooltip="Write the duty board's call sheet to the data dir and show it",
            show=False,  # the banner names it when Twilio is unreachable
        ),
        outbox_binding("duty", "Every alert of the open incidents: retry now, cancel"),
        Binding(
            "y",
            "replies",
            "Replies",
            id="duty.replies",
            tooltip="Replies that named no incident: place them on one, or dismiss them",
            show=False,  # the line naming how many wait says "y"
        ),
        Binding(
            "ctrl+r",
            "reload",
            "Refresh",
            id="duty.refresh",
            tooltip="Reload now",
            show=False,  # it reloads by itself; the footer is full at 80 columns
        ),
    ]

    class Loaded(Message):
        def __init__(self, view: DutyView) -> None:
            super().__init__()
            self.view = view

    class ReadinessLoaded(Message):
        def __init__(self, summary: str) -> None:
            super().__init__()
            self.summary = summary

    def __init__(self) -> None:
        super().__init__()
        self.shown_once = False  # the first real data is on screen (benchmarks wait for it)
        self._due_timer: Timer | None = None
        self._readiness_due = 0.0  # monotonic time of the next readiness check
        self._first_load: Worker[None] | None = None
        self._reload_again = False  # something asked for a reload while it ran

    def compose(self) -> ComposeResult:
        yield Header()
        yield OutboxBanner(id="banner", sheet_key="k")
        with Vertical(id="duty-body"):
            yield Static(Content(""), id="duty-unplaced", classes="unplaced")
            yield Static(Content("On duty: loading…"), id="duty-now")
            yield Static(Content(""), id="duty-next")
            yield Static(
                Content(
                    f"Incidents: active, then closed in the last {CLOSED_SHOWN.days} days "
                    "(r opens one)"
                ),
                classes="section-title",
            )
            yield FitTable(INCIDENT_COLS, id="incidents")
            yield Static(Content(""), id="duty-detail")  # the selected incident, in full
            yield Static(Content("MRT seats"), classes="section-title")
            yield FitTable(SEAT_COLS, id="seats")
            yield Static(Content(""), id="warnings")
            yield Static(Content(""), id="readiness")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        super().on_mount()

    def reload(self) -> None:
        first = self._first_load
        if not self.shown_once and first is not None and not first.is_finished:
            # A second load while the first one runs (the dispatcher's first report arrives
            # meanwhile) would only compete with it for the CPU: run it after the first paint.
            self._reload_again = True
            return
        loading = self._load()
        if self.shown_once:
            self._check_readiness()
        else:
            self._first_load = loading

    def _check_readiness(self) -> None:
        """The check reads the whole directory: at most every READINESS_EVERY_S, and never
        before the first paint (it would share the CPU with it)."""
        if time.monotonic() >= self._readiness_due:
            self._readiness_due = time.monotonic() + READINESS_EVERY_S
            self._load_readiness()

    @work(thread=True, exclusive=True, group="duty-readiness", exit_on_error=False)
    def _load_readiness(self) -> None:
        from mim_console.services.readiness import readiness

        self.post_message(self.ReadinessLoaded(readiness(self.context).summary("w: all")))

    @on(ReadinessLoaded)
    def _show_readiness(self, message: ReadinessLoaded) -> None:
        line = self.query_one("#readiness", Static)
        line.update(Content(message.summary))
        line.set_class(message.summary.startswith("✔"), "ready")

    @work(thread=True, exclusive=True, group="duty-load", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(load_duty_view(self.context)))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        view = message.view
        if not self.shown_once:
            self.shown_once = True
            self.call_after_refresh(self._check_readiness)
            if self._reload_again:
                self._reload_again = False
                self.reload()
        self._remind_at(view.next_update_at)
        from mim_console.screens.replies import unplaced_words

        unplaced = self.query_one("#duty-unplaced", Static)
        unplaced.update(Content(unplaced_words(view.unplaced)))
        unplaced.display = bool(view.unplaced)
        self.query_one("#duty-now", Static).update(Content(view.now_line))
        self.query_one("#duty-next", Static).update(Content(view.next_line))
        incidents = self.query_one("#incidents", FitTable)
        rows: list[tuple[str, tuple[str | Text, ...]]] = []
        for row in view.incidents:
            # At the start of the title: the 12-wide code column would cut a flag after the code.
            title = f"EXERCISE · {row.title}" if row.exercise else row.title
            rows.append(
                (str(row.id), (lit(row.code), lit(title), row.severity, row.quorum, row.joined))
            )
        if not view.incidents:
            rows.append(("none", ("none", "n declares an incident", "", "", "")))
        incidents.set_rows(rows)
        seats = self.query_one("#seats", FitTable)
        seats.set_rows(
            [
                (str(i), (lit(seat.party), lit(seat.representative), lit(seat.deputy)))
                for i, seat in enumerate(view.seats)
            ]
        )
        self._show_detail()
        warnings = self.query_one("#warnings", Static)
        if view.warnings:
            shown = view.warnings[:3]
            more = len(view.warnings) - len(shown)
            lines = [f"⚠ {w}" for w in shown] + ([f"… and {more} more"] if more else [])
            warnings.update(Content("\n".join(lines)))
            warnings.display = True
        else:
            warnings.display = False

    def _remind_at(self, due: datetime | None) -> None:
        """Reload when the next stakeholder update comes due, even if nothing else changes."""
        if self._due_timer is not None:
            self._due_timer.stop()
            self._due_timer = None
        if due is not None:
            wait = max((due - self.context.clock()).total_seconds(), 0.0) + 1.0
            self._due_timer = self.set_timer(wait, self._update_due)

    def _update_due(self) -> None:
        self._due_timer = None
        if self.showing:
            self.reload()
        else:
            self._stale = True  # shown again: reloads

    def selected_incident(self) -> int | None:
        key = self.query_one("#incidents", FitTable).cursor_key()
        return int(key) if key and key.isdigit() else None

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        """What the tables cannot show at this width, for the rows under their cursors."""
        words = []
        for table_id in ("#incidents", "#seats"):
            table = self.query_one(table_id, FitTable)
            words += table.detail_words(table.cursor_key())
        detail = self.query_one("#duty-detail", Static)
        detail.update(lit(" · ".join(words)))
        detail.display = bool(words)

    @on(DataTable.RowSelected, "#incidents")
    def _incident_chosen(self) -> None:
        self.action_open_incident()

    def action_reload(self) -> None:
        self._readiness_due = 0.0
        self.reload()

    def action_call_sheet(self) -> None:
        from mim_console.screens.call_log import offer_call_sheet

        offer_call_sheet(self, None)

    def action_readiness(self) -> None:
        from mim_console.screens.readiness import ReadinessScreen

        def closed(_: None) -> None:
            self._readiness_due = 0.0  # contact checks may have been queued: look again
            self.reload()

        self.app.push_screen(ReadinessScreen(), closed)

    def action_declare(self) -> None:
        if self.refused("declare"):  # a palette or another path than the hidden key
            return
        from mim_console.screens.declare import DeclareScreen

        def declared(code: str | None) -> None:
            if code:
                self.mim.wake_dispatcher()
                self.reload()
                self._open(code)

        self.app.push_screen(DeclareScreen(), declared)

    def _open(self, code: str) -> None:
        from mim_console.screens.rollcall import RollCallScreen

        self.mim.go(RollCallScreen(code))

    def _selected_code(self) -> str | None:
        incident_id = self.selected_incident()
        if incident_id is None:
            self.notify("no incident selected: n declares one", severity="warning")
            return None
        return str(incident_id)

    def action_open_incident(self) -> None:
        code = self._selected_code()
        if code is not None:
            self._open(code)

    def action_comms(self) -> None:
        from mim_console.screens.comms import CommsScreen

        code = self._selected_code()
        if code is not None:
            self.mim.go(CommsScreen(code))

    def action_replies(self) -> None:
        from mim_console.screens.replies import RepliesScreen

        self.mim.go(RepliesScreen())

    def action_directory(self) -> None:
        from mim_console.screens.directory import DirectoryScreen

        self.mim.go(DirectoryScreen())

    def action_rotations(self) -> None:
        from mim_console.screens.rotations import RotationsScreen

        self.mim.go(RotationsScreen())

    def action_timeline(self) -> None:
        from mim_console.screens.timeline import TimelineScreen

        code = self._selected_code()
        if code is not None:
            self.mim.go(TimelineScreen(code))

    def action_outbox(self) -> None:
        self.mim.go(OutboxScreen(), stack=True)
