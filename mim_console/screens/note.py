"""A modal for free text: a note, a status report (with when the next one is due) or a directive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static, TextArea

KIND_TITLES = {
    "note": "Note for the timeline",
    "status_report": "Status report from the spokesperson",
    "directive": "Directive from the MRT to the workgroup",
}


@dataclass(frozen=True)
class NoteResult:
    kind: str
    text: str
    next_in_min: float | None = None


class NoteScreen(ModalScreen[NoteResult | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="note.save", tooltip="Add it to the timeline"),
        Binding("escape", "cancel", "Cancel", id="note.cancel", tooltip="Discard, add nothing"),
    ]

    def __init__(self, kind: str, incident_code: str) -> None:
        super().__init__()
        self.kind = kind
        self.incident_code = incident_code

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="note-box"):
            title = f"{KIND_TITLES.get(self.kind, self.kind)} — {self.incident_code}"
            yield Static(Content(title), classes="dialog-title")
            yield TextArea(id="note-text", soft_wrap=True, tab_behavior="focus")
            if self.kind == "status_report":
                yield Static(Content("Next status due in (minutes, blank: not promised):"))
                yield Input(id="note-next", placeholder="e.g. 30", type="number")
            yield Static(Content(""), id="note-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(Content("Save [ctrl+s]"), id="save", variant="primary")
                yield Button(Content("Cancel [esc]"), id="cancel")

    def on_mount(self) -> None:
        self.query_one("#note-text", TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        text = self.query_one("#note-text", TextArea).text.strip()
        error = self.query_one("#note-error", Static)
        if not text:
            error.update(Content("✖ the text is empty: type something or press Esc"))
            return
        next_in: float | None = None
        if self.kind == "status_report":
            raw = self.query_one("#note-next", Input).value.strip()
            if raw:
                try:
                    next_in = float(raw)
                except ValueError:
                    error.update(Content(f'✖ next status: "{raw}" is not a number of minutes'))
                    return
                if not 0 < next_in <= 24 * 60:
                    error.update(Content("✖ next status: between 1 minute and 24 hours"))
                    return
        self.dismiss(NoteResult(self.kind, text, next_in))
