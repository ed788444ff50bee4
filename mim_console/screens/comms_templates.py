"""Templates: the organisation's message texts, edited with placeholder validation.

An unknown placeholder or a stray brace is shown in the editor as you type and the template is
not saved until it is right; reset drops the organisation's version for the shipped default.
SMS templates are previewed with sample values, as the segment count depends on what fills in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from mim_console.domain import templates
from mim_console.domain.comms import TemplateInfo
from mim_console.domain.text import one_line
from mim_console.errors import UserError
from mim_console.screens.base import ActionDone, MimScreen
from mim_console.screens.comms_editor import TextEditScreen
from mim_console.screens.confirm import ConfirmScreen
from mim_console.services.comms import CommsService
from mim_console.services.context import Context
from mim_console.services.timezone import shown
from mim_console.widgets.fittable import Col, FitTable
from mim_console.widgets.literal import lit, lit_block
from mim_console.widgets.sms_preview import SmsPreview


def sample_values(context: Context) -> dict[str, object]:
    """Typical values for previewing a template: a realistic title length, the real bridge."""
    bridge = context.settings.bridge
    return {
        "incident_code": "MI-2026-001",
        "reply_code": "K7",
        "title": "Card payments failing in all web shops",
        "severity": "SEV1",
        "bridge": templates.bridge_text(bridge.number, bridge.pin, bridge.url),
        "next_update": "10:30 UTC",
        "status": "under investigation",
        "organisation": context.settings.organisation,
        "update_time": "10:00 UTC",
        "spokesperson": "the major incident response team",
        "person_name": "Aino Aalto",
    }


def renderer(name: str, values: dict[str, object]) -> Callable[[str], str]:
    def render(text: str) -> str:
        return templates.render(name, text, values, exercise=False)

    return render


def checker(name: str) -> Callable[[str], None]:
    def check(text: str) -> None:
        templates.validate(name, text)

    return check


# The layout rule (widgets/fittable.py): 73 cells at their widths, names shorten with "…".
TEMPLATE_COLS = (
    Col("template", "template", 18, min_width=12, grow=True),
    Col("what", "what", 26, min_width=12, grow=True),
    Col("via", "via", 5),
    Col("text", "text", 16, min_width=10),
)


class TemplatesScreen(MimScreen):
    HELP_TITLE = "Templates"
    HELP_TEXT = (
        "The texts every alert, update and press release starts from. Placeholders such as "
        "{title} are checked when you save; {{ and }} are literal braces."
    )
    DEFAULT_CSS = """
    #tpl-table { height: auto; max-height: 11; }
    #tpl-title { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    #tpl-scroll { height: 1fr; padding: 0 1; }
    #tpl-sms { padding: 0 1; }
    """
    WRITES = frozenset("edit reset".split())  # refused on a standby copy
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "e",
            "edit",
            "Edit",
            id="templates.edit",
            tooltip="Edit this template (placeholders are checked before it is saved)",
        ),
        Binding(
            "r",
            "reset",
            "Reset",
            id="templates.reset",
            tooltip="Back to the shipped default (asks first)",
        ),
        Binding("escape", "back", "Back", id="templates.back", tooltip="Back"),
    ]

    class Loaded(Message):
        def __init__(self, infos: list[TemplateInfo]) -> None:
            super().__init__()
            self.infos = infos

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[TemplateInfo] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Content("Message templates"), classes="section-title")
        yield FitTable(TEMPLATE_COLS, id="tpl-table")
        yield Static(Content(""), id="tpl-title")
        with VerticalScroll(id="tpl-scroll"):
            yield Static(Content(""), id="tpl-text")
        yield SmsPreview(id="tpl-sms")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#tpl-table", FitTable).focus()
        self.sub_title = "templates"
        super().on_mount()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="templates-load", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(CommsService(self.context).templates()))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        self.infos = message.infos
        table = self.query_one("#tpl-table", FitTable)
        keep = table.cursor_row
        rows = []
        for info in self.infos:
            state = "organisation's" if info.customised else "default"
            if info.customised and info.updated_at is not None:
                state += shown(info.updated_at, " %d.%m")
            rows.append(
                (info.name, (lit(info.name), lit(info.label), lit(info.channel), lit(state)))
            )
        table.set_rows(rows)
        if 0 <= keep < len(self.infos):
            table.move_cursor(row=keep)
        self._show_text()

    def current(self) -> TemplateInfo | None:
        table = self.query_one("#tpl-table", DataTable)
        if table.row_count == 0 or not self.infos:
            return None
        row = table.cursor_row
        return self.infos[row] if 0 <= row < len(self.infos) else None

    @on(DataTable.RowHighlighted, "#tpl-table")
    def _highlighted(self) -> None:
        self._show_text()

    @on(DataTable.RowSelected, "#tpl-table")
    def _selected(self) -> None:
        if not self.refused("edit"):
            self.action_edit()

    def _show_text(self) -> None:
        info = self.current()
        preview = self.query_one("#tpl-sms", SmsPreview)
        if info is None:
            preview.display = False
            return
        spec = templates.spec(info.name)
        allowed = " ".join("{" + p + "}" for p in sorted(spec.placeholders))
        self.query_one("#tpl-title", Static).update(Content(f"{info.label}: may use {allowed}"))
        self.query_one("#tpl-text", Static).update(lit_block(info.text))
        preview.display = spec.sms
        if spec.sms:
            try:
                sample = renderer(info.name, sample_values(self.context))(info.text)
            except UserError as exc:
                preview.update(Content(f"✖ {one_line(str(exc))}"))
            else:
                preview.show_text(sample, prefix="sample: ")

    def _act(self, run: Callable[[CommsService], str]) -> None:
        self.act(lambda: run(CommsService(self.context)))

    @on(ActionDone)
    def _done(self, message: ActionDone) -> None:
        if message.failed:
            self.notify(message.text, title="Refused", severity="error", markup=False)
        else:
            self.notify(message.text, markup=False)
        self.reload()

    def action_edit(self) -> None:
        info = self.current()
        if info is None:
            return
        spec = templates.spec(info.name)
        name = info.name

        def saved(text: str | None) -> None:
            if text is None:
                return
            if text == info.text:
                self.notify("unchanged: nothing saved", severity="warning")
                return

            def run(service: CommsService) -> str:
                service.save_template(name, text)
                return f"template {name} saved"

            self._act(run)

        self.app.push_screen(
            TextEditScreen(
                f"Template {name} ({info.label})",
                info.text,
                check=checker(name),
                sms_preview=spec.sms,
                render=renderer(name, sample_values(self.context)) if spec.sms else None,
                hint="Placeholders: " + " ".join("{" + p + "}" for p in sorted(spec.placeholders)),
            ),
            saved,
        )

    def action_reset(self) -> None:
        info = self.current()
        if info is None:
            return
        if not info.customised:
            self.notify(f"{info.name} already is the default", severity="warning")
            return
        name = info.name

        def confirmed(answer: bool | None) -> None:
            if answer:

                def run(service: CommsService) -> str:
                    done = service.reset_template(name)
                    return f"template {name} reset to the default" if done else "nothing to reset"

                self._act(run)

        self.app.push_screen(
            ConfirmScreen(
                f"Reset {name} to the shipped default?\nThe organisation's text is dropped.",
                yes="Reset",
            ),
            confirmed,
        )

    def action_back(self) -> None:
        self.app.pop_screen()
