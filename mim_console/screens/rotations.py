"""Rotations: every rotation, and the selected one's shifts for the next two weeks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from mim_console.domain.rotation import Rotation
from mim_console.screens.base import MimScreen
from mim_console.screens.override import WALL_FORMAT, OverrideScreen
from mim_console.services import rota as rota_service
from mim_console.services.context import Context
from mim_console.widgets.fittable import Col, FitTable
from mim_console.widgets.literal import lit

HORIZON = timedelta(days=14)
OVERRIDE = "⇄"  # before a name in the shifts: someone covers this stretch (an override)
LIST_COLS = (
    Col("rotation", "rotation", 24, min_width=12, grow=True, detail="{}"),
    Col("role", "role", 14, detail="{}"),
    Col("zone", "time zone", 16, drop=1, detail="{}"),
)
SHIFT_COLS = (
    Col("from", "from", 15, detail="from {}"),
    Col("until", "until", 15, detail="until {}"),
    Col("who", "on duty", 24, min_width=14, grow=True, detail="{}"),
)
SHIFT_TIME = "%a %d.%m %H:%M"  # as the Duty screen says it; the list spans two weeks


@dataclass(frozen=True)
class ShiftRow:
    starts: str
    ends: str
    who: str
    note: str


@dataclass(frozen=True)
class RotationsView:
    rotations: list[tuple[int, str, str, str]] = field(default_factory=list)  # id, name, role, zone
    selected: int | None = None
    shifts: list[ShiftRow] = field(default_factory=list)


def load_view(context: Context, selected: int | None, now: datetime) -> RotationsView:
    rotations = rota_service.list_rotations(context)
    if not rotations:
        return RotationsView()
    chosen: Rotation = next((r for r in rotations if r.id == selected), rotations[0])
    pieces = chosen.pieces(now, now + HORIZON)
    people = rota_service.people_of(context, (p.person_id for p in pieces))
    zone = chosen.zone
    shifts = [
        ShiftRow(
            piece.starts_at.astimezone(zone).strftime(SHIFT_TIME),
            piece.ends_at.astimezone(zone).strftime(SHIFT_TIME),
            ("⚠ " if piece.person_id is None else "")
            + (f"{OVERRIDE} " if piece.is_override else "")
            + rota_service.who_is_on(piece, people),
            "override" if piece.is_override else "",
        )
        for piece in pieces
    ]
    return RotationsView(
        rotations=[(r.id, r.name, r.role.value.replace("_", " "), r.timezone) for r in rotations],
        selected=chosen.id,
        shifts=shifts,
    )


class RotationsScreen(MimScreen):
    HELP_TITLE = "Rotations"
    HELP_TEXT = (
        "Pick a rotation in the list; its shifts for the next 14 days show under it. "
        f"{OVERRIDE} before a name: an override (someone covers that stretch)."
    )
    WRITES = frozenset("add_override".split())  # refused on a standby copy
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "o",
            "add_override",
            "Override",
            id="rotations.override",
            tooltip="Add an override to the selected rotation (someone covers a stretch)",
        ),
        Binding("escape", "back", "Back", id="rotations.back", tooltip="Back to Duty"),
    ]

    class Loaded(Message):
        def __init__(self, view: RotationsView) -> None:
            super().__init__()
            self.view = view

    def __init__(self) -> None:
        super().__init__()
        self.view: RotationsView | None = None
        self.selected: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="rot-body"):
            yield FitTable(LIST_COLS, id="rot-list", zebra_stripes=False)
            yield Static(Content(""), id="rot-heading", classes="section-title")
            yield FitTable(SHIFT_COLS, id="rot-shifts")
        yield Static(Content(""), id="rot-hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#rot-list", FitTable).focus()
        super().on_mount()

    def reload(self) -> None:
        self._load(self.selected)

    @work(thread=True, exclusive=True, group="rotations-load", exit_on_error=False)
    def _load(self, selected: int | None) -> None:
        self.post_message(self.Loaded(load_view(self.context, selected, self.context.clock())))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        view = message.view
        self.view = view
        self.selected = view.selected
        listing = self.query_one("#rot-list", FitTable)
        listing.set_rows(
            [(str(rid), (lit(name), role, zone)) for rid, name, role, zone in view.rotations]
        )
        ids = [r[0] for r in view.rotations]
        if view.selected in ids:
            listing.move_cursor(row=ids.index(view.selected))
        self.query_one("#rot-shifts", FitTable).set_rows(
            [(str(i), (row.starts, row.ends, lit(row.who))) for i, row in enumerate(view.shifts)]
        )
        hint = self.query_one("#rot-hint", Static)
        heading = self.query_one("#rot-heading", Static)
        if not view.rotations:
            heading.update(Content(""))
            hint.update(Content("No rotations yet: `mim-console rota create …` makes one."))
        else:
            name, zone = next((n, z) for r, n, _, z in view.rotations if r == view.selected)
            heading.update(lit(f"Shifts of {name}, next {HORIZON.days} days (times in {zone})"))
            hint.update(Content(f"{OVERRIDE}: an override · o adds one"))

    @on(DataTable.RowHighlighted, "#rot-list")
    def _pick(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key and key.isdigit() and int(key) != self.selected:
            self.selected = int(key)
            self.reload()

    def action_add_override(self) -> None:
        view = self.view
        if view is None or view.selected is None:
            self.notify("no rotation selected", severity="warning")
            return
        rid = view.selected
        name, zone = next((n, z) for r, n, _, z in view.rotations if r == rid)
        from zoneinfo import ZoneInfo

        now = self.context.clock().astimezone(ZoneInfo(zone))
        start = (now + timedelta(hours=1)).replace(minute=0)
        end = start + timedelta(hours=8)

        def saved(text: str | None) -> None:
            if text is not None:
                self.notify(text, markup=False)
                self.reload()

        self.app.push_screen(
            OverrideScreen(rid, name, zone, start.strftime(WALL_FORMAT), end.strftime(WALL_FORMAT)),
            saved,
        )

    def action_back(self) -> None:
        self.app.pop_screen()
