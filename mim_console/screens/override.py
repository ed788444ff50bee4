"""Add an override to a rotation: who covers, from when to when (the rotation's local time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from mim_console.domain.rotation import instant_in_window, parse_zone
from mim_console.errors import UserError

WALL_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class OverrideForm:
    person_ref: str
    starts_at: datetime
    ends_at: datetime
    reason: str


def parse_wall(text: str, zone_name: str, what: str) -> datetime:
    """`2026-03-02 09:00` in the rotation's zone → an aware UTC instant; errors name the field."""
    raw = text.strip()
    try:
        wall = datetime.strptime(raw, WALL_FORMAT)  # noqa: DTZ007 - resolved in the zone below
    except ValueError as exc:
        raise UserError(f'{what}: "{raw}" is not a time like 2026-03-02 09:00') from exc
    return instant_in_window(wall, parse_zone(zone_name), f'{what}: "{raw}"')


class OverrideScreen(ModalScreen[OverrideForm | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="override.save", tooltip="Add the override"),
        Binding("escape", "cancel", "Cancel", id="override.cancel", tooltip="Add nothing"),
    ]

    def __init__(self, rotation_name: str, zone: str, start_hint: str, end_hint: str) -> None:
        super().__init__()
        self.rotation_name = rotation_name
        self.zone = zone
        self.start_hint = start_hint
        self.end_hint = end_hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="override-box"):
            yield Static(
                Content(f"Override in {self.rotation_name} (times in {self.zone})"),
                classes="dialog-title",
            )
            with Horizontal(classes="field"):
                yield Static(Content("Person"), classes="label")
                yield Input(id="ov-person", placeholder="name, id or phone", compact=True)
            with Horizontal(classes="field"):
                yield Static(Content("From"), classes="label")
                yield Input(self.start_hint, id="ov-start", compact=True)
            with Horizontal(classes="field"):
                yield Static(Content("Until"), classes="label")
                yield Input(self.end_hint, id="ov-end", compact=True)
            with Horizontal(classes="field"):
                yield Static(Content("Reason"), classes="label")
                yield Input(id="ov-reason", placeholder="holiday, swap…", compact=True)
            yield Static(Content(""), id="ov-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(Content("Save [ctrl+s]"), id="save", variant="primary", compact=True)
                yield Button(Content("Cancel [esc]"), id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#ov-person", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save() if event.button.id == "save" else self.action_cancel()

    def on_input_submitted(self) -> None:
        self.action_save()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        value = {i.id: i.value for i in self.query(Input)}
        error = self.query_one("#ov-error", Static)
        try:
            person = (value["ov-person"] or "").strip()
            if not person:
                raise UserError("person: give a name, id or phone number")
            start = parse_wall(value["ov-start"] or "", self.zone, "from")
            end = parse_wall(value["ov-end"] or "", self.zone, "until")
            if end <= start:
                raise UserError("until: the override must end after it starts")
        except UserError as exc:
            error.update(Content(f"✖ {exc}"))
            return
        self.dismiss(OverrideForm(person, start, end, (value["ov-reason"] or "").strip()))
