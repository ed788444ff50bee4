"""Import people from a CSV file: the good rows go in, each bad line is listed with its reason.

The import is one transaction (the directory's ``import_people``); this modal only reads the file
in a worker and shows the report. It stays open on the report until Escape.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Static

from mim_console.domain.text import printable
from mim_console.errors import UserError
from mim_console.screens.base import MimModal
from mim_console.services.people import ImportReport, import_people_csv
from mim_console.widgets.literal import lit

MAX_BYTES = 50 * 1024 * 1024


def read_csv_file(text: str) -> bytes:
    """The file's bytes, or a UserError that names the path and what is wrong with it."""
    raw = text.strip()
    if not raw:
        raise UserError("file: type the path of a CSV file")
    path = Path(raw).expanduser()
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise UserError(f"{path} is a folder, not a CSV file")
        if size > MAX_BYTES:
            raise UserError(f"{path} is {size // (1024 * 1024)} MB; the limit is 50 MB")
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise UserError(f"{path}: no such file") from exc
    except PermissionError as exc:
        raise UserError(f"{path}: not readable (permission denied)") from exc
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror})") from exc


def summary(report: ImportReport) -> str:
    parts = [f"{report.added} added", f"{report.updated} updated", f"{report.unchanged} unchanged"]
    rejected = len(report.rejected)
    head = "✔ imported" if not rejected else f"⚠ {rejected} line(s) rejected; imported"
    tail = ""
    if report.created_parties:
        tail += f" · new parties: {', '.join(report.created_parties)}"
    if report.created_groups:
        tail += f" · new groups: {', '.join(report.created_groups)}"
    return f"{head}: {', '.join(parts)}{tail}"


class ImportScreen(MimModal[bool]):
    """Dismisses with True when something was imported (the directory then reloads)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "run_import", "Import", id="import.go", tooltip="Import the file"),
        Binding("escape", "close", "Close", id="import.close", tooltip="Close"),
    ]

    class Done(Message):
        def __init__(self, report: ImportReport) -> None:
            super().__init__()
            self.report = report

    def __init__(self) -> None:
        super().__init__()
        self.report: ImportReport | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="import-box"):
            yield Static(Content("Import people from CSV"), classes="dialog-title")
            with Horizontal(classes="field"):
                yield Static(Content("File"), classes="label")
                yield Input(id="import-path", placeholder="~/people.csv", compact=True)
            yield Static(
                Content("Columns: see README “CSV format”. Bad lines are skipped and listed."),
                classes="hint",
            )
            yield Static(Content(""), id="import-result")
            yield DataTable(id="import-errors", cursor_type="row", zebra_stripes=True)
            with Horizontal(classes="buttons"):
                yield Button(Content("Import [ctrl+s]"), id="go", variant="primary", compact=True)
                yield Button(Content("Close [esc]"), id="close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#import-errors", DataTable).add_columns("line", "why it was skipped")
        self.query_one("#import-errors", DataTable).display = False
        self.query_one("#import-path", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_run_import() if event.button.id == "go" else self.action_close()

    @on(Input.Submitted, "#import-path")
    def _submitted(self) -> None:
        self.action_run_import()

    def action_close(self) -> None:
        self.dismiss(self.report is not None and self.report.imported > 0)

    def action_run_import(self) -> None:
        self.query_one("#import-result", Static).update(Content("importing…"))
        self._import(self.query_one("#import-path", Input).value)

    @work(thread=True, exclusive=True, group="import", exit_on_error=False)
    def _import(self, path_text: str) -> None:
        data = read_csv_file(path_text)
        self.post_message(self.Done(import_people_csv(self.context, data)))

    @on(Done)
    def _done(self, message: Done) -> None:
        report = message.report
        self.report = report
        lines = [summary(report), *(f"note: {n}" for n in report.notes)]
        self.query_one("#import-result", Static).update(Content(printable("\n".join(lines))))
        table = self.query_one("#import-errors", DataTable)
        table.clear()
        for rejected in report.rejected:
            table.add_row(lit(rejected.line), lit(rejected.reason))
        table.display = bool(report.rejected)

    def handle_failure(self, error: BaseException) -> bool:
        """A file that cannot be read is reported here; the modal stays open to fix the path."""
        if isinstance(error, UserError):
            self.query_one("#import-result", Static).update(Content(f"✖ {printable(str(error))}"))
            return True
        return False
