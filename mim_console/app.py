"""The Textual app: bindings, the command palette and screen routing. Nothing else lives here."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from mim_console.screens.duty import DutyScreen
from mim_console.services.context import Context


class MimConsole(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "mim-console"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="quit", tooltip="Leave the console"),
    ]

    def __init__(self, context: Context) -> None:
        super().__init__()
        self.context = context

    def on_mount(self) -> None:
        self.push_screen(DutyScreen())


def make_app(context: Context) -> MimConsole:
    """The one factory: the CLI, `serve` and the tests all build the app here."""
    return MimConsole(context)
