"""Add an override to a rotation: who covers, from when to when (the rotation's local time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Static

from mim_console.domain.rotation import instant_in_window, parse_zone
from mim_console.errors import UserError
from mim_console.screens.base import MimModal

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


class OverrideScreen(MimModal[str | None]):
    """Adds the override itself, so a refusal (an ambiguous name, a clash) keeps what was typed:
    the field at fault is marked, focused with its text selected, and named in the reason."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="override.save", tooltip="Add the override"),
        Binding("escape", "cancel", "Cancel", id="override.cancel", tooltip="Add nothing"),
    ]
    LABELS: ClassVar[dict[str, str]] = {
        "ov-person": "Person",
        "ov-start": "From",
        "ov-end": "Until",
        "ov-reason": "Reason",
    }

    class Added(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(
        self, rotation_id: int, rotation_name: str, zone: str, start_hint: str, end_hint: str
    ) -> None:
        super().__init__()
        self.rotation_id = rotation_id
        self.rotation_name = rotation_name
        self.zone = zone
        self.start_hint = start_hint
        self.end_hint = end_hint
        self._wrong: str | None = None  # the field the shown error is about

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

    def on_input_changed(self, event: Input.Changed) -> None:
        """The error goes as soon as the field it is about is corrected."""
        if self._wrong is not None and event.input.id == self._wrong:
            self._show_error(None, "")

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _show_error(self, field_id: str | None, text: str) -> None:
        self._wrong = field_id
        for field in self.query(Input):
            field.set_class(field.id == field_id, "-invalid")
        self.query_one("#ov-error", Static).update(Content(f"✖ {text}" if text else ""))
        if field_id is not None:
            wrong = self.query_one(f"#{field_id}", Input)
            wrong.focus()
            wrong.select_all()

    def _refuse(self, field_id: str, reason: str) -> None:
        label = self.LABELS[field_id]
        if reason.casefold().startswith(label.casefold() + ":"):
            reason = reason[len(label) + 1 :].strip()
        self._show_error(field_id, f"{label}: {reason}")

    def form(self) -> OverrideForm | None:
        value = {i.id: i.value for i in self.query(Input)}
        person = (value["ov-person"] or "").strip()
        if not person:
            self._refuse("ov-person", "give a name, id or phone number")
            return None
        try:
            start = parse_wall(value["ov-start"] or "", self.zone, "from")
        except UserError as exc:
            self._refuse("ov-start", str(exc))
            return None
        try:
            end = parse_wall(value["ov-end"] or "", self.zone, "until")
        except UserError as exc:
            self._refuse("ov-end", str(exc))
            return None
        if end <= start:
            self._refuse("ov-end", "the override must end after it starts")
            return None
        return OverrideForm(person, start, end, (value["ov-reason"] or "").strip())

    def action_save(self) -> None:
        form = self.form()
        if form is not None:
            self._save(form)

    @work(thread=True, exclusive=True, group="override-save", exit_on_error=False)
    def _save(self, form: OverrideForm) -> None:
        from mim_console.services import rota as rota_service

        try:
            person = self.context.directory().find_person(form.person_ref)
        except UserError as exc:
            self.app.call_from_thread(self._refuse, "ov-person", str(exc))
            return
        rota_service.add_override(
            self.context, self.rotation_id, person.id, form.starts_at, form.ends_at, form.reason
        )
        self.post_message(self.Added(f"override added: {person.name}"))

    def handle_failure(self, error: BaseException) -> bool:
        """A refusal of the override itself (a clash, a stretch out of range): shown here, on
        the times, never as a toast as well."""
        if isinstance(error, UserError):
            self._refuse("ov-start", str(error))
            return True
        return False

    @on(Added)
    def _added(self, message: Added) -> None:
        self.dismiss(message.text)
