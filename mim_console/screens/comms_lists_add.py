"""Add a person or a number to a stakeholder list (a new list name makes the list)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


@dataclass(frozen=True)
class MemberEntry:
    list_name: str
    who: str  # a person's name, email or id, or a phone number
    label: str = ""


class AddMemberScreen(ModalScreen[MemberEntry | None]):
    """Dismisses with what to add, or None on Escape. Empty fields are refused here; whether
    the person or number exists is the service's to say."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Add", id="lists.add.save", tooltip="Add to the list"),
        Binding("escape", "cancel", "Cancel", id="lists.add.cancel", tooltip="Add nobody"),
    ]

    def __init__(self, entry: MemberEntry) -> None:
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        with Vertical(id="lists-add-box", classes="dialog"):
            yield Static(Content("Add to a stakeholder list"), classes="dialog-title")
            with Horizontal(classes="field"):
                yield Static(Content("list"), classes="label")
                yield Input(
                    self.entry.list_name, placeholder="e.g. Board", id="add-list", compact=True
                )
            with Horizontal(classes="field"):
                yield Static(Content("who"), classes="label")
                yield Input(
                    self.entry.who,
                    placeholder="full name, email or id — or a number +358 40 …",
                    id="add-who",
                    compact=True,
                )
            with Horizontal(classes="field"):
                yield Static(Content("label"), classes="label")
                yield Input(
                    self.entry.label,
                    placeholder="for a number: e.g. CFO",
                    id="add-label",
                    compact=True,
                )
            yield Static(Content(""), id="add-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(Content("Add [ctrl+s]"), id="save", variant="primary")
                yield Button(Content("Cancel [esc]"), id="cancel")

    def on_mount(self) -> None:
        target = "#add-who" if self.entry.list_name else "#add-list"
        self.query_one(target, Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        name = self.query_one("#add-list", Input).value.strip()
        who = self.query_one("#add-who", Input).value.strip()
        label = self.query_one("#add-label", Input).value.strip()
        error = self.query_one("#add-error", Static)
        if not name:
            error.update(Content("✖ list: give the list's name (a new name makes a new list)"))
            return
        if not who:
            error.update(Content("✖ who: give a person's name, email or id, or a phone number"))
            return
        self.dismiss(MemberEntry(name, who, label))

    def action_cancel(self) -> None:
        self.dismiss(None)
