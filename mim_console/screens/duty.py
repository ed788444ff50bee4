"""Duty: the home screen. Who is on duty now and next, each party's seat, active incidents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from mim_console.screens.base import MimScreen
from mim_console.services.context import Context
from mim_console.widgets.banner import OutboxBanner
from mim_console.widgets.literal import lit


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
    quorum: str  # words: "quorum ✔" / "no quorum: Security, Vendors"
    joined: str  # "3/7 joined"
    exercise: bool = False


@dataclass(frozen=True)
class DutyView:
    now_line: str
    next_line: str
    seats: list[SeatRow] = field(default_factory=list)
    incidents: list[IncidentRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def countdown(now: datetime, until: datetime) -> str:
    """`in 3h 20m` — the time to a handoff, in words a tired reader gets at a glance."""
    minutes = max(0, int((until - now).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"in {days}d {hours}h"
    if hours:
        return f"in {hours}h {mins:02d}m"
    return f"in {mins}m"


def load_duty_view(context: Context) -> DutyView:
    """Collect what the Duty screen shows from the services; runs in a worker thread."""
    return DutyView(now_line="On duty: no duty rotation yet", next_line="")


class DutyScreen(MimScreen):
    HELP_TITLE = "Duty (home)"
    HELP_TEXT = "Who is on duty now and next, each party's seat, and the active incidents."
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
        Binding("ctrl+r", "reload", "Refresh", id="duty.refresh", tooltip="Reload now"),
    ]

    class Loaded(Message):
        def __init__(self, view: DutyView) -> None:
            super().__init__()
            self.view = view

    def compose(self) -> ComposeResult:
        yield Header()
        yield OutboxBanner(id="banner")
        with Vertical(id="duty-body"):
            yield Static(Content("On duty: loading…"), id="duty-now")
            yield Static(Content(""), id="duty-next")
            yield Static(Content("Active incidents"), classes="section-title")
            yield DataTable(id="incidents", cursor_type="row", zebra_stripes=True)
            yield Static(Content("MRT seats"), classes="section-title")
            yield DataTable(id="seats", cursor_type="row", zebra_stripes=True)
            yield Static(Content(""), id="warnings")
        yield Footer()

    def on_mount(self) -> None:
        incidents = self.query_one("#incidents", DataTable)
        incidents.add_columns("incident", "title", "severity", "quorum", "joined")
        seats = self.query_one("#seats", DataTable)
        seats.add_columns("party", "representative", "deputy")
        super().on_mount()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="duty-load", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(load_duty_view(self.context)))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        view = message.view
        self.query_one("#duty-now", Static).update(Content(view.now_line))
        self.query_one("#duty-next", Static).update(Content(view.next_line))
        incidents = self.query_one("#incidents", DataTable)
        keep = incidents.cursor_row
        incidents.clear()
        for row in view.incidents:
            code = f"{row.code} EXERCISE" if row.exercise else row.code
            incidents.add_row(
                lit(code),
                lit(row.title),
                lit(row.severity),
                lit(row.quorum),
                lit(row.joined),
                key=str(row.id),
            )
        if not view.incidents:
            incidents.add_row(lit("—"), lit("no active incident (n declares one)"), "", "", "")
        elif keep < len(view.incidents):
            incidents.move_cursor(row=keep)
        seats = self.query_one("#seats", DataTable)
        seats.clear()
        for seat in view.seats:
            seats.add_row(lit(seat.party), lit(seat.representative), lit(seat.deputy))
        warnings = self.query_one("#warnings", Static)
        if view.warnings:
            shown = view.warnings[:3]
            more = len(view.warnings) - len(shown)
            lines = [f"⚠ {w}" for w in shown] + ([f"… and {more} more"] if more else [])
            warnings.update(Content("\n".join(lines)))
            warnings.display = True
        else:
            warnings.display = False

    def selected_incident(self) -> int | None:
        table = self.query_one("#incidents", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key and key.isdigit() else None

    @on(DataTable.RowSelected, "#incidents")
    def _incident_chosen(self) -> None:
        self.action_open_incident()

    def action_reload(self) -> None:
        self.reload()

    def action_declare(self) -> None:
        self.notify("declaring is not available yet", severity="warning")

    def action_open_incident(self) -> None:
        if self.selected_incident() is None:
            self.notify("no incident selected", severity="warning")

    def action_directory(self) -> None:
        self.notify("the directory is not available yet", severity="warning")

    def action_rotations(self) -> None:
        self.notify("rotations are not available yet", severity="warning")

    def action_timeline(self) -> None:
        if self.selected_incident() is None:
            self.notify("no incident selected", severity="warning")
