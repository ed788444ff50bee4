"""Report preview: the lessons-learnt report as the Markdown `mim-console report` writes.

The report service escapes every stored text for Markdown, so a name like ``[x](javascript:…)``
shows as typed here too.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Markdown

from mim_console.screens.base import ActionDone, MimScreen
from mim_console.screens.lessons import Lessons, LessonsScreen
from mim_console.services import report
from mim_console.services.incidents import IncidentService


def split_sections(text: str) -> list[str]:
    """The report cut before each second-level heading (the first piece: title and summary)."""
    pieces = text.split("\n## ")
    return [pieces[0] + "\n", *(f"\n## {p}\n" for p in pieces[1:])]


class ReportScreen(MimScreen):
    HELP_TITLE = "Report preview"
    HELP_TEXT = (
        "The lessons-learnt report: l writes what went well and what to improve into it, "
        "w saves it as Markdown and HTML beside the database. Each alert's text is in the "
        "appendix at the end (each distinct text once)."
    )
    WRITES = frozenset("lessons".split())  # refused on a standby copy
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="report.back", tooltip="Back"),
        Binding(
            "l",
            "lessons",
            "Lessons",
            id="report.lessons",
            tooltip="What went well, what to improve: written into the report",
        ),
        Binding(
            "w",
            "write",
            "Save files",
            id="report.write",
            tooltip="Save the report as Markdown and HTML beside the database",
        ),
        Binding("ctrl+r", "reload", "Refresh", id="report.refresh", tooltip="Rebuild the report"),
    ]

    class Loaded(Message):
        def __init__(self, text: str, code: str, lessons: Lessons) -> None:
            super().__init__()
            self.text = text
            self.code = code
            self.lessons = lessons

    def __init__(self, incident_ref: str) -> None:
        super().__init__()
        self.incident_ref = incident_ref
        self.lessons: Lessons | None = None  # as stored, once loaded

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
        inc = IncidentService(self.context).incident(self.incident_ref)
        text = report.render(self.context, inc.code, "md")
        self.post_message(self.Loaded(text, inc.code, Lessons(inc.went_well, inc.to_improve)))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        self.incident_ref = message.code
        self.lessons = message.lessons
        self._paint(message.text)

    @work(exclusive=True, group="report-paint", exit_on_error=False)
    async def _paint(self, text: str) -> None:
        """The first page at once, the rest a section at a time: Textual lays a long Markdown
        document (its tables above all) out in one go, seconds for a busy incident."""
        md = self.query_one(Markdown)
        sections = split_sections(text)
        # Every piece by append (the first too): ``append`` carries on from the last block it
        # parsed, and after an ``update`` it re-read the whole text, losing the paragraph or
        # table the first piece ended with (the "Generated … times in …" line, the summary).
        await md.update("")
        await md.append(sections[0])
        for section in sections[1:]:
            await asyncio.sleep(0)  # keys and repaints between sections
            await md.append(section)

    @on(ActionDone)
    def _done(self, message: ActionDone) -> None:
        if message.failed:
            self.notify(message.text, title="Refused", severity="error", markup=False)
        else:
            self.notify(message.text, markup=False, timeout=10)
        self.reload()

    def action_lessons(self) -> None:
        if self.lessons is None:
            self.notify("the report is still being built", severity="warning")
            return
        code = self.incident_ref

        def given(lessons: Lessons | None) -> None:
            if lessons is None:
                return

            def save() -> str:
                IncidentService(self.context).lessons(
                    code, went_well=lessons.went_well, to_improve=lessons.to_improve
                )
                return f"lessons learnt of {code} saved in the report"

            self.act(save)

        self.app.push_screen(LessonsScreen(code, self.lessons), given)

    def action_write(self) -> None:
        def write() -> str:
            paths = report.save(self.context, self.incident_ref)
            return "report saved: " + " · ".join(str(p) for p in paths)

        self.act(write)

    def action_reload(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()
