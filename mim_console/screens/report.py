"""Report preview: the lessons-learnt report as the Markdown `mim-console report` writes.

The report service escapes every stored text for Markdown, so a name like ``[x](javascript:…)``
shows as typed here too.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Markdown

from mim_console.screens.base import MimScreen
from mim_console.services import report


class ReportScreen(MimScreen):
    HELP_TITLE = "Report preview"
    HELP_TEXT = "The lessons-learnt report; `mim-console report INCIDENT` writes it to a file."
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="report.back", tooltip="Back"),
        Binding("ctrl+r", "reload", "Refresh", id="report.refresh", tooltip="Rebuild the report"),
    ]

    class Loaded(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, incident_ref: str) -> None:
        super().__init__()
        self.incident_ref = incident_ref

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="report-scroll"):
            yield Markdown(
                f"Building the report of {self.incident_ref}…", id="report-md", open_links=False
            )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
        super().on_mount()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="report-load", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(report.render(self.context, self.incident_ref, "md")))

    @on(Loaded)
    async def _show(self, message: Loaded) -> None:
        await self.query_one(Markdown).update(message.text)

    def action_reload(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()
