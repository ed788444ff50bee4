"""Help: every key of the screen beneath, generated from its live bindings (never hand-written),
so a remapped key or a new action shows here without anyone remembering to update it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from mim_console.widgets.literal import lit


def key_rows(screen: Screen[object]) -> list[tuple[str, str, str, str]]:
    """(where, key, action, explanation) for each described binding active on ``screen``."""
    app = screen.app
    rows: list[tuple[int, str, str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.description:
            continue
        if active.node is app or binding.action.startswith("app."):  # e.g. Help on a screen
            where = "everywhere"
        elif active.node is screen:
            where = "this screen"
        else:
            where = type(active.node).__name__
        key = app.get_key_display(binding)
        if (key, binding.description) in seen:
            continue
        seen.add((key, binding.description))
        # The console's own actions (they carry an id) first, Textual's generic keys after.
        rank = (0 if binding.id else 2) + (1 if where == "everywhere" else 0)
        rows.append((rank, where, key, binding.description, binding.tooltip))
    rows.sort(key=lambda r: (r[0], r[1] != "this screen", r[3].casefold()))
    return [r[1:] for r in rows]


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,q,question_mark,f1",
            "dismiss",
            "Close help",
            id="help.close",
            tooltip="Back to the screen",
        ),
    ]

    def __init__(self, target: Screen[object]) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        title = getattr(self.target, "HELP_TITLE", type(self.target).__name__)
        about = getattr(self.target, "HELP_TEXT", "")
        with Vertical(id="help-box", classes="dialog"):
            yield Static(Content(f"Keys: {title}"), classes="dialog-title")
            if about:
                yield Static(Content(about), id="help-about")
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Static(
                Content("Ctrl+P opens the command palette: every action by name. Esc closes."),
                classes="hint",
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action", "what it does", "where")
        for where, key, action, tip in key_rows(self.target):
            table.add_row(Text(key, style="bold"), lit(action), lit(tip), lit(where))
        table.focus()
