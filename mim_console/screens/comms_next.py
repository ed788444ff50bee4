"""When the next stakeholder update is due: the MRT's promise, in minutes from now."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Static


def parse_minutes(raw: str) -> float:
    """Minutes from text: `30`, `45m`, `1h`, `1h30`; ValueError with the reason otherwise."""
    text = raw.strip().lower().replace(" ", "")
    if not text:
        raise ValueError("give minutes, e.g. 30 (or 1h, 1h30)")
    try:
        if "h" in text:
            hours, _, rest = text.partition("h")
            minutes = float(hours) * 60 + (float(rest.removesuffix("m")) if rest else 0.0)
        else:
            minutes = float(text.removesuffix("m").removesuffix("min"))
    except ValueError:
        raise ValueError(f'"{raw.strip()}" is not a time: give minutes, e.g. 30 or 1h30') from None
    if not 1 <= minutes <= 24 * 60:
        raise ValueError(f'"{raw.strip()}": give between 1 minute and 24 hours')
    return minutes


class NextUpdateScreen(ModalScreen[float | None]):
    """Dismisses with minutes from now, or None on Escape."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="next_update.cancel", tooltip="Change nothing"),
    ]

    def __init__(self, code: str, current: str) -> None:
        super().__init__()
        self.code = code
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="next-box", classes="dialog"):
            yield Static(
                Content(f"Next stakeholder update for {self.code} is due in…"),
                classes="dialog-title",
            )
            yield Static(Content(self.current), classes="hint")
            yield Input(placeholder="minutes, e.g. 30 (or 1h, 1h30)", id="next-minutes")
            yield Static(Content(""), id="next-error", classes="error")
            yield Static(Content("Enter sets it · Esc cancels"), classes="hint")

    def on_mount(self) -> None:
        self.query_one("#next-minutes", Input).focus()

    @on(Input.Submitted, "#next-minutes")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            minutes = parse_minutes(event.value)
        except ValueError as exc:
            self.query_one("#next-error", Static).update(Content(f"✖ {exc}"))
            return
        self.dismiss(minutes)

    def action_cancel(self) -> None:
        self.dismiss(None)
