"""Rotations: every rotation, and the selected one's shifts for the next two weeks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from mim_console.domain.rotation import Rotation
from mim_console.screens.base import MimScreen
from mim_console.screens.override import WALL_FORMAT, OverrideForm, OverrideScreen
from mim_console.services import rota as rota_service
from mim_console.services.context import Context
from mim_console.widgets.literal import lit

HORIZON = timedelta(days=14)
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
            ("⚠ " if piece.person_id is None else "") + rota_service.who_is_on(piece, people),
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
    HELP_TEXT = "Pick a rotation on the left; its shifts for the next 14 days show on the right."
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

    class Saved(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self) -> None:
        super().__init__()
        self.view: RotationsView | None = None
        self.selected: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="rot-body"):
            yield DataTable(id="rot-list", cursor_type="row")
            yield DataTable(id="rot-shifts", cursor_type="row", zebra_stripes=True)
        yield Static(Content(""), id="rot-hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # Fixed widths: rows arrive after the first paint and the header must not lag behind.
        for label, width in (("rotation", 16), ("role", 12)):
            self.query_one("#rot-list", DataTable).add_column(label, width=width)
        for label, width in (("from", 15), ("until", 15), ("on duty", 24), ("", 8)):
            self.query_one("#rot-shifts", DataTable).add_column(label, width=width)
        self.query_one("#rot-list", DataTable).focus()
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
        listing = self.query_one("#rot-list", DataTable)
        listing.clear()
        for rid, name, role, _zone in view.rotations:
            listing.add_row(lit(name), lit(role), key=str(rid))
        ids = [r[0] for r in view.rotations]
        if view.selected in ids:
            listing.move_cursor(row=ids.index(view.selected))
        shifts = self.query_one("#rot-shifts", DataTable)
        shifts.clear()
        for row in view.shifts:
            shifts.add_row(lit(row.starts), lit(row.ends), lit(row.who), lit(row.note))
        hint = self.query_one("#rot-hint", Static)
        if not view.rotations:
            hint.update(Content("No rotations yet: `mim-console rota create …` makes one."))
        else:
            zone = next((z for r, _, _, z in view.rotations if r == view.selected), "")
            hint.update(Content(f"Times in {zone}. o adds an override."))

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

        def saved(form: OverrideForm | None) -> None:
            if form is not None:
                self._save(rid, form)

        self.app.push_screen(
            OverrideScreen(name, zone, start.strftime(WALL_FORMAT), end.strftime(WALL_FORMAT)),
            saved,
        )

    @work(thread=True, exclusive=True, group="rotations-save", exit_on_error=False)
    def _save(self, rotation_id: int, form: OverrideForm) -> None:
        person = self.context.directory().find_person(form.person_ref)
        rota_service.add_override(
            self.context, rotation_id, person.id, form.starts_at, form.ends_at, form.reason
        )
        self.post_message(self.Saved(f"override added: {person.name}"))

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        self.notify(message.text, markup=False)
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()
