"""Timeline: the incident's append-only record, oldest first, newest at the bottom."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from mim_console.domain.incident import Event
from mim_console.screens.base import MimScreen
from mim_console.services.incidents import IncidentService
from mim_console.services.timezone import display_zone, shown, times_in
from mim_console.widgets.fittable import Col, FitTable
from mim_console.widgets.literal import lit, lit_block

COLS = (
    Col("time", "time", 14, drop=2, detail="{}"),
    Col("who", "who", 12, min_width=8, grow=True, detail="{}"),
    Col("what", "what", 12, drop=1, detail="{}"),
    Col("text", "text", 30, min_width=20, grow=True, detail="{}"),
)


@dataclass(frozen=True)
class TimelineView:
    code: str
    title: str
    events: list[Event]
    exercise: bool = False
    zone: tzinfo = UTC


class TimelineScreen(MimScreen):
    HELP_TITLE = "Timeline"
    HELP_TEXT = "Everything that happened in the incident, in order. It cannot be edited."
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="timeline.back", tooltip="Back"),
        Binding("end,G", "last", "Newest", id="timeline.newest", tooltip="Jump to the newest"),
        Binding("home,g", "first", "Oldest", id="timeline.oldest", tooltip="Jump to the oldest"),
    ]

    class Loaded(Message):
        def __init__(self, view: TimelineView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, incident_ref: str) -> None:
        super().__init__()
        self.incident_ref = incident_ref
        self._events: list[Event] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Content(f"Timeline of {self.incident_ref}"), id="tl-title")
        yield FitTable(COLS, id="tl-table")
        yield Static(Content(""), id="tl-detail")  # the whole of the row under the cursor
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(FitTable).focus()
        super().on_mount()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="timeline-load", exit_on_error=False)
    def _load(self) -> None:
        service = IncidentService(self.context)
        inc = service.incident(self.incident_ref)
        self.post_message(
            self.Loaded(
                TimelineView(
                    inc.code,
                    inc.title,
                    service.timeline(inc.code),
                    inc.exercise,
                    display_zone(self.context),
                )
            )
        )

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        view = message.view
        self.query_one("#tl-title", Static).update(
            Content(
                f"{'EXERCISE · ' if view.exercise else ''}Timeline of {view.code}: "
                f"{view.title} ({len(view.events)} events, {times_in(view.zone)})"
            )
        )
        table = self.query_one(FitTable)
        at_end = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        table.set_rows(
            [
                (
                    str(event.id),
                    (
                        event.at.astimezone(view.zone).strftime("%d.%m %H:%M:%S"),
                        lit(event.actor),
                        event.kind.replace("_", " "),
                        lit(event.text),
                    ),
                )
                for event in view.events
            ]
        )
        self._events = view.events
        if at_end and table.row_count:
            table.move_cursor(row=table.row_count - 1)
        self._show_detail(table.cursor_row)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.cursor_row)

    def _show_detail(self, row: int) -> None:
        """The table cuts long texts at the screen's edge: the row under the cursor, whole."""
        detail = self.query_one("#tl-detail", Static)
        if not 0 <= row < len(self._events):
            detail.update(Content(""))
            return
        event = self._events[row]
        when = shown(event.at, "%Y-%m-%d %H:%M:%S")
        kind = event.kind.replace("_", " ")  # as the table says it
        detail.update(lit_block(f"{when} · {event.actor} · {kind}: {event.text}"))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_last(self) -> None:
        table = self.query_one(FitTable)
        table.move_cursor(row=max(table.row_count - 1, 0))

    def action_first(self) -> None:
        self.query_one(FitTable).move_cursor(row=0)
