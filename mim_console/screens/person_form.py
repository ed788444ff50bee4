"""Add or edit a person. The directory validates (phones to E.164 etc.); its message is shown
under the form, which stays open with everything typed kept."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Select, Static

from mim_console.domain.people import Party, Person
from mim_console.domain.phones import PhoneError, normalize_phone
from mim_console.errors import UserError
from mim_console.screens.base import MimModal
from mim_console.widgets.ticks import TickBox

FIELDS = (
    ("name", "Name", "full name"),
    ("mobile", "Mobile", "+358 40 123 4567 or national"),
    ("phone2", "Phone 2", "optional second phone"),
    ("email", "Email", "optional"),
    ("title", "Title", "role in the organisation"),
    ("notes", "Notes", "optional"),
)


class PersonFormScreen(MimModal[Person | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="person.save", tooltip="Check and save"),
        Binding("escape", "cancel", "Cancel", id="person.cancel", tooltip="Discard changes"),
    ]

    class SavedPerson(Message):
        def __init__(self, person: Person) -> None:
            super().__init__()
            self.person = person

    def __init__(self, person: Person | None, parties: list[Party]) -> None:
        super().__init__()
        self.person = person
        self.parties = parties
        self._wrong: str | None = None  # the field the shown error is about

    def compose(self) -> ComposeResult:
        p = self.person
        title = "Add a person" if p is None else f"Edit person {p.id}"
        with Vertical(classes="dialog", id="person-box"):
            yield Static(Content(title), classes="dialog-title")
            for field, label, hint in FIELDS:
                value = "" if p is None else (getattr(p, field) or "")
                with Horizontal(classes="field"):
                    yield Static(Content(label), classes="label")
                    yield Input(str(value), id=f"pf-{field}", placeholder=hint, compact=True)
            with Horizontal(classes="field"):
                yield Static(Content("Party"), classes="label")
                yield Select(
                    [(Content(party.name), party.id) for party in self.parties],
                    value=p.party_id if p is not None and p.party_id is not None else Select.NULL,
                    prompt="(no party)",
                    id="pf-party",
                    compact=True,
                )
            yield TickBox(
                "Decision authority (can decide for the party in the MRT)",
                p.decision_authority if p is not None else False,
                id="pf-authority",
                compact=True,
            )
            yield Static(Content(""), id="pf-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(Content("Save [ctrl+s]"), id="save", variant="primary", compact=True)
                yield Button(Content("Cancel [esc]"), id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#pf-name", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save() if event.button.id == "save" else self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def changes(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field, _, _ in FIELDS:
            text = self.query_one(f"#pf-{field}", Input).value.strip()
            values[field] = text or (None if field in ("phone2", "email") else "")
        party = self.query_one("#pf-party", Select).value
        values["party_id"] = None if party is Select.NULL else int(str(party))
        values["decision_authority"] = self.query_one("#pf-authority", Checkbox).value
        return values

    def action_save(self) -> None:
        values = self.changes()
        if not values["name"]:
            self._error("Name: required", "name")
            return
        if not values["mobile"]:
            self._error("Mobile: required (the number alerts go to)", "mobile")
            return
        # The phones are checked here too, to say which of the two is wrong and go to it.
        region = self.context.settings.default_region
        for field, label in (("mobile", "Mobile"), ("phone2", "Phone 2")):
            if values[field]:
                try:
                    normalize_phone(values[field], region, mobile=field == "mobile")
                except PhoneError as exc:
                    self._error(f"{label}: {exc}", field)
                    return
        self._save(values)

    def _error(self, text: str, field: str | None = None) -> None:
        """The reason with the field's label, the field marked, focused and its text selected
        (typing replaces it), until that field is changed."""
        self._wrong = field
        self.query_one("#pf-error", Static).update(Content(f"✖ {text}" if text else ""))
        for each in self.query(Input):
            each.set_class(field is not None and each.id == f"pf-{field}", "-invalid")
        if field is not None:
            wrong = self.query_one(f"#pf-{field}", Input)
            wrong.focus()
            wrong.select_all()

    @on(Input.Changed)
    def _corrected(self, event: Input.Changed) -> None:
        if self._wrong is not None and event.input.id == f"pf-{self._wrong}":
            self._error("", None)

    def _refusal(self, text: str) -> None:
        """The directory's refusal, on the field it is about ("email …" → Email)."""
        lowered = text.casefold()
        for field, label, _ in FIELDS:
            for word in (label.casefold(), field):
                if lowered.startswith(word):
                    rest = text[len(word) :].lstrip(":").strip()
                    self._error(f"{label}: {rest}", field)
                    return
        self._error(text)

    @work(thread=True, exclusive=True, group="person-save", exit_on_error=False)
    def _save(self, values: dict[str, Any]) -> None:
        directory = self.context.directory()
        if self.person is None:
            person = directory.add_person(**values)
        else:
            current = self.person
            changed = {k: v for k, v in values.items() if getattr(current, k, None) != v}
            person = directory.update_person(current.id, **changed) if changed else current
        self.post_message(self.SavedPerson(person))

    @on(SavedPerson)
    def _saved(self, message: SavedPerson) -> None:
        self.dismiss(message.person)

    def handle_failure(self, error: BaseException) -> bool:
        """A refusal (bad phone, duplicate email) is shown in the form, which stays open."""
        if isinstance(error, UserError):
            self._refusal(str(error))
            return True
        return False
