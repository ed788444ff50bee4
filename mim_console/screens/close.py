"""Closing an incident: back to business as usual, with the Problem Management case recorded.

The form is the confirmation: it says who is stood down and that nothing can change afterwards,
and closes only on Ctrl+S (or its button). Blank fields are left unset, as with the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from mim_console.widgets.ticks import TickBox

FIELDS = (
    ("problem_ref", "Problem", "case reference, e.g. PRB-1234 (blank: none yet)"),
    ("owner", "Owner", "who owns the root-cause work"),
    ("summary", "Summary", "what is known of the cause"),
)


@dataclass(frozen=True)
class CloseForm:
    problem_ref: str | None = None
    owner: str | None = None
    summary: str | None = None
    all_clear: bool = True


class CloseScreen(ModalScreen[CloseForm | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "close_incident", "Close", id="close.close", tooltip="Close it now"),
        Binding("escape", "cancel", "Cancel", id="close.cancel", tooltip="Keep it open"),
    ]

    def __init__(self, incident_code: str, active: int) -> None:
        super().__init__()
        self.incident_code = incident_code
        self.active = active

    def compose(self) -> ComposeResult:
        people = "1 person is" if self.active == 1 else f"{self.active} people are"
        with Vertical(classes="dialog", id="close-box"):
            yield Static(Content(f"Close {self.incident_code}"), classes="dialog-title")
            yield Static(
                Content(
                    f"{people} stood down. Nothing can change on the incident afterwards "
                    "(the report's lessons can still be written)."
                ),
                classes="hint",
            )
            for field, label, hint in FIELDS:
                with Horizontal(classes="field"):
                    yield Static(Content(label), classes="label")
                    yield Input(id=f"close-{field}", placeholder=hint, compact=True)
            yield TickBox(
                "Send everyone the all-clear SMS", True, id="close-all-clear", compact=True
            )
            with Horizontal(classes="buttons"):
                yield Button(Content("Close [ctrl+s]"), id="close", variant="warning", compact=True)
                yield Button(Content("Cancel [esc]"), id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#close-problem_ref", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "close":
            self.action_close_incident()
        else:
            self.action_cancel()

    def on_input_submitted(self) -> None:
        self.focus_next()  # Enter moves on: closing takes Ctrl+S, never a stray Enter

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_close_incident(self) -> None:
        def value(field: str) -> str | None:
            return self.query_one(f"#close-{field}", Input).value.strip() or None

        self.dismiss(
            CloseForm(
                problem_ref=value("problem_ref"),
                owner=value("owner"),
                summary=value("summary"),
                all_clear=self.query_one("#close-all-clear", TickBox).value,
            )
        )
