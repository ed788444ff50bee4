"""The duty manager's own words for the lessons-learnt report: what went well, what to improve.

Allowed before and after the close; each save is a timeline event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea


@dataclass(frozen=True)
class Lessons:
    went_well: str
    to_improve: str


class LessonsScreen(ModalScreen[Lessons | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="lessons.save", tooltip="Save them into the report"),
        Binding("escape", "cancel", "Cancel", id="lessons.cancel", tooltip="Discard the changes"),
    ]

    def __init__(self, incident_code: str, current: Lessons) -> None:
        super().__init__()
        self.incident_code = incident_code
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="lessons-box"):
            yield Static(Content(f"Lessons learnt — {self.incident_code}"), classes="dialog-title")
            yield Static(Content("What went well:"), classes="hint")
            yield TextArea(
                self.current.went_well, id="lessons-well", soft_wrap=True, tab_behavior="focus"
            )
            yield Static(Content("What to improve:"), classes="hint")
            yield TextArea(
                self.current.to_improve, id="lessons-improve", soft_wrap=True, tab_behavior="focus"
            )
            with Horizontal(classes="buttons"):
                yield Button(Content("Save [ctrl+s]"), id="save", variant="primary", compact=True)
                yield Button(Content("Cancel [esc]"), id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#lessons-well", TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        self.dismiss(
            Lessons(
                went_well=self.query_one("#lessons-well", TextArea).text.strip(),
                to_improve=self.query_one("#lessons-improve", TextArea).text.strip(),
            )
        )
