"""Communications: one incident's stakeholder updates and press releases, from the keyboard.

Every version is a row: what it is, its state (draft / approved by whom when / published where
when). A new text starts from the organisation's template; editing saves a new version (a
published text never changes); approval asks who and the service decides whether that person
may; publishing says how many people get it before anything is queued. The next stakeholder
update's due time sits at the top, loud once it has passed.
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

from mim_console.domain.comms import (
    Draft,
    DraftState,
    Publication,
    diff,
    kind_label,
)
from mim_console.domain.text import one_line
from mim_console.errors import UserError
from mim_console.screens.base import MimScreen
from mim_console.screens.comms_approve import ask_approve
from mim_console.screens.comms_diff import DiffScreen
from mim_console.screens.comms_editor import TextEditScreen
from mim_console.screens.comms_next import NextUpdateScreen
from mim_console.screens.comms_publish import PublishChoice, PublishScreen
from mim_console.screens.comms_view import (
    COLS,
    CommsView,
    already_words,
    empty_row,
    hm,
    load_comms_view,
    not_empty,
    publish_question,
    row_cells,
    version_title,
)
from mim_console.screens.confirm import ConfirmScreen
from mim_console.services.comms import CommsService
from mim_console.services.incidents import IncidentService
from mim_console.widgets.banner import OutboxBanner
from mim_console.widgets.fittable import FitTable
from mim_console.widgets.literal import lit_block
from mim_console.widgets.sms_preview import SmsPreview

RELOAD_TICKS = 15  # polls (seconds) between reloads: the due line moves on with the clock


class CommsScreen(MimScreen):
    HELP_TITLE = "Communications"
    HELP_TEXT = (
        "Stakeholder updates and press releases for one incident. Editing saves a new version; "
        "a version is approved by an MRT member with decision authority, then published."
    )
    DEFAULT_CSS = """
    #comms-header { height: 1; text-style: bold; padding: 0 1; text-wrap: nowrap;
                    text-overflow: ellipsis; }
    #comms-due { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    #comms-due.-due { background: $warning 30%; text-style: bold; }
    #comms-table { height: auto; max-height: 8; }
    #comms-text-title { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    #comms-scroll { height: 1fr; padding: 0 1; }
    #comms-sms { padding: 0 1; }
    #comms-status { height: auto; max-height: 2; padding: 0 1; }
    #comms-status.-bad { color: $error; text-style: bold; }
    """
    WRITES = frozenset("new edit approve publish next_update".split())  # refused on a standby copy
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "u",
            "new('stakeholder_update')",
            "Update",
            id="comms.new_update",
            tooltip="Draft a new stakeholder update from its template",
        ),
        Binding(
            "w",
            "new('press_release')",
            "Press",
            id="comms.new_press",
            tooltip="Write a new press release from its template",
        ),
        Binding(
            "e",
            "edit",
            "Edit",
            id="comms.edit",
            tooltip="Edit this version's text; saving makes a new version",
        ),
        Binding(
            "space",
            "mark",
            "Mark",
            id="comms.mark",
            tooltip="Mark a version to compare with (d)",
            show=False,  # the footer is full at 80 columns: help lists it, d's tooltip names it
        ),
        Binding(
            "d",
            "diff",
            "Diff",
            id="comms.diff",
            tooltip="Compare with the marked version (none marked: the previous version)",
        ),
        Binding(
            "a",
            "approve",
            "Approve",
            id="comms.approve",
            tooltip="Approve this version: asks who (an MRT member with decision authority)",
        ),
        Binding(
            "p",
            "publish",
            "Publish",
            id="comms.publish",
            tooltip="Publish by SMS to a stakeholder list, chat or manually (asks first)",
        ),
        Binding(
            "s",
            "next_update",
            "Due",
            id="comms.next_update",
            tooltip="Set when the next stakeholder update is due",
        ),
        Binding(
            "t",
            "templates",
            "Templates",
            id="comms.templates",
            tooltip="List, edit and reset the message templates",
        ),
        Binding(
            "l",
            "lists",
            "Lists",
            id="comms.lists",
            tooltip="Stakeholder lists: who gets updates by SMS",
            show=False,  # the footer is full at 80 columns: help and the publish dialog name it
        ),
        Binding("escape", "back", "Back", id="comms.back", tooltip="Back"),
    ]

    class Loaded(Message):
        def __init__(self, view: CommsView) -> None:
            super().__init__()
            self.view = view

    class Done(Message):
        """An action finished: its words, whether it failed, and which draft to show."""

        def __init__(self, text: str, *, failed: bool = False, select: int | None = None) -> None:
            super().__init__()
            self.text = text
            self.failed = failed
            self.select = select

    class Rendered(Message):
        def __init__(self, kind: str, text: str) -> None:
            super().__init__()
            self.kind = kind
            self.text = text

    def __init__(self, incident_ref: str) -> None:
        super().__init__()
        self.incident_ref = incident_ref
        self.view: CommsView | None = None
        self.marked: int | None = None
        self._select: int | None = None  # draft id to put the cursor on after the next load
        self._ticks = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield OutboxBanner(id="banner")
        yield Static(Content(f"Communications · {self.incident_ref}: loading…"), id="comms-header")
        yield Static(Content(""), id="comms-due")
        yield FitTable(COLS, id="comms-table")
        yield Static(Content(""), id="comms-text-title")
        with VerticalScroll(id="comms-scroll"):
            yield Static(Content(""), id="comms-text")
        yield SmsPreview(id="comms-sms")
        yield Static(Content(""), id="comms-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#comms-table", FitTable).focus()
        super().on_mount()

    # -- loading -------------------------------------------------------------------------------

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="comms-load", exit_on_error=False)
    def _load(self) -> None:
        try:
            view = load_comms_view(self.context, self.incident_ref)
        except UserError as exc:  # e.g. the incident is gone: say so where the data would be
            self.post_message(self.Done(f"cannot show {self.incident_ref}: {exc}", failed=True))
            return
        self.post_message(self.Loaded(view))

    async def _poll(self) -> None:
        self._ticks += 1
        if self._ticks % RELOAD_TICKS == 0 and self.showing:
            self.reload()
        await super()._poll()

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        view = message.view
        self.view = view
        self.incident_ref = view.incident.code
        self.sub_title = view.incident.code
        self.query_one("#comms-header", Static).update(Content(one_line(view.header)))
        due = self.query_one("#comms-due", Static)
        due.update(Content(view.due_line))
        due.set_class(view.due, "-due")
        table = self.query_one("#comms-table", FitTable)
        keep = self._select if self._select is not None else self.current_id()
        self._select = None
        if self.marked is not None and view.draft(self.marked) is None:
            self.marked = None
        rows = [(str(d.id), row_cells(view, d, d.id == self.marked)) for d in view.drafts]
        table.set_rows(rows or [("none", empty_row())])
        ids = [d.id for d in view.drafts]
        if keep in ids:
            table.move_cursor(row=ids.index(keep))
        self._show_text()

    def current_id(self) -> int | None:
        table = self.query_one("#comms-table", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key and key.isdigit() else None

    def current(self) -> Draft | None:
        draft_id = self.current_id()
        if self.view is None or draft_id is None:
            return None
        return self.view.draft(draft_id)

    @on(DataTable.RowHighlighted, "#comms-table")
    def _highlighted(self) -> None:
        self._show_text()

    def _show_text(self) -> None:
        """The full text of the version under the cursor, and its SMS cost for an update."""
        draft = self.current()
        title = self.query_one("#comms-text-title", Static)
        body = self.query_one("#comms-text", Static)
        preview = self.query_one("#comms-sms", SmsPreview)
        if draft is None:
            title.update(Content(""))
            body.update(Content(""))
            preview.display = False
            return
        shortened = self.query_one("#comms-table", FitTable).detail_words(str(draft.id))
        title.update(Content(one_line(" · ".join([version_title(draft), *shortened]))))
        body.update(lit_block(draft.text))
        preview.display = draft.kind == "stakeholder_update"
        if preview.display:
            preview.show_text(draft.text)

    # -- doing ---------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="comms-act", exit_on_error=False)
    def _act(self, run: Callable[[CommsService], tuple[str, int | None]]) -> None:
        try:
            text, select = run(CommsService(self.context))
        except UserError as exc:  # the service's refusal, in its own words
            self.post_message(self.Done(str(exc), failed=True))
            return
        self.app.call_from_thread(self._others_stale)  # as MimScreen.act does
        self.post_message(self.Done(text, select=select))

    @on(Done)
    def _done(self, message: Done) -> None:
        status = self.query_one("#comms-status", Static)
        status.update(Content(("✖ " if message.failed else "✔ ") + one_line(message.text)))
        status.set_class(message.failed, "-bad")
        if message.failed:
            self.notify(message.text, title="Refused", severity="error", markup=False, timeout=10)
        else:
            self.mim.wake_dispatcher()
            self.notify(message.text, markup=False)
        self._select = message.select
        if self.view is not None:  # a failed first load is not retried in a loop
            self.reload()

    def _need_draft(self) -> Draft | None:
        draft = self.current()
        if draft is None:
            self.notify("no version under the cursor: u drafts an update", severity="warning")
        return draft

    def action_new(self, kind: str) -> None:
        code = self.incident_ref
        self._render_template(code, kind)

    @work(thread=True, exclusive=True, group="comms-render", exit_on_error=False)
    def _render_template(self, code: str, kind: str) -> None:
        service = CommsService(self.context)
        inc = IncidentService(self.context).incident(code)
        self.post_message(self.Rendered(kind, service.render(kind, inc)))

    @on(Rendered)
    def _rendered(self, message: Rendered) -> None:
        kind = message.kind
        self._open_editor(
            kind,
            message.text,
            f"New {kind_label(kind)} for {self.incident_ref} (from the template)",
        )

    def _open_editor(self, kind: str, text: str, title: str, original: str | None = None) -> None:
        code = self.incident_ref

        def saved(new_text: str | None) -> None:
            if new_text is None:
                return
            if original is not None and new_text == original:
                self.notify("unchanged: no new version saved", severity="warning")
                return

            def run(service: CommsService) -> tuple[str, int | None]:
                draft = service.draft(code, kind, new_text)
                return f"{kind_label(kind)} v{draft.version} saved as a draft", draft.id

            self._act(run)

        self.app.push_screen(
            TextEditScreen(
                title,
                text,
                check=not_empty(kind),
                sms_preview=kind == "stakeholder_update",
                hint="Ctrl+S saves a new version (a draft until approved) · "
                + ("Ctrl+G GSM-7 fix · " if kind == "stakeholder_update" else "")
                + "Esc cancels",
            ),
            saved,
        )

    def action_edit(self) -> None:
        draft = self._need_draft()
        if draft is None:
            return
        self._open_editor(
            draft.kind,
            draft.text,
            f"{kind_label(draft.kind)} v{draft.version} → saving makes a new version",
            original=draft.text,
        )

    def action_mark(self) -> None:
        draft = self._need_draft()
        if draft is None or self.view is None:
            return
        self.marked = None if self.marked == draft.id else draft.id
        table = self.query_one("#comms-table", FitTable)
        for other in self.view.drafts:
            table.update_row(str(other.id), row_cells(self.view, other, other.id == self.marked))

    def action_diff(self) -> None:
        draft = self._need_draft()
        if draft is None or self.view is None:
            return
        pair = self.view.compared(draft, self.marked)
        if isinstance(pair, str):
            self.notify(pair, severity="warning")
            return
        old, new = pair
        self.app.push_screen(
            DiffScreen(
                f"{kind_label(draft.kind)}: v{old.version} → v{new.version}",
                diff(old, new),
                old.text,
                new.text,
            )
        )

    def action_approve(self) -> None:
        draft = self._need_draft()
        if draft is None:
            return
        if draft.state is not DraftState.DRAFT:
            self.notify(already_words(draft), severity="warning", markup=False)
            return
        ask_approve(self, draft.kind, draft.version)  # asks when the approver has not joined

    def action_publish(self) -> None:
        draft = self._need_draft()
        if draft is None or self.view is None:
            return
        if draft.state is DraftState.DRAFT:
            self.notify(
                f"v{draft.version} is not approved yet: a approves it first", severity="warning"
            )
            return
        view = self.view
        what = f"{kind_label(draft.kind)} v{draft.version}"

        def chosen(choice: PublishChoice | None) -> None:
            if choice is not None:
                self._confirm_publish(draft, choice, view.published.get(draft.id, []))

        self.app.push_screen(PublishScreen(what, draft.kind, view.lists, view.hooks), chosen)

    def _confirm_publish(
        self, draft: Draft, choice: PublishChoice, earlier: list[Publication]
    ) -> None:
        hooks = self.view.hooks if self.view else []
        question, yes, repeat = publish_question(draft, choice, earlier, hooks)
        code, kind, version = self.incident_ref, draft.kind, draft.version

        def confirmed(answer: bool | None) -> None:
            if not answer:
                return

            def run(service: CommsService) -> tuple[str, int | None]:
                pub = service.publish(
                    code, kind, version, choice.channel, choice.target, again=bool(repeat)
                )
                queued = f": {pub.queued} queued" if pub.queued else ""
                return f"{kind_label(kind)} v{version} published {choice.words}{queued}", draft.id

            self._act(run)

        self.app.push_screen(ConfirmScreen(question, yes=yes), confirmed)

    def action_next_update(self) -> None:
        if self.view is None:
            return
        code = self.incident_ref

        def chosen(minutes: float | None) -> None:
            if minutes is None:
                return

            def run(service: CommsService) -> tuple[str, int | None]:
                inc = service.set_next_update(code, minutes)
                return f"next stakeholder update due {hm(inc.next_update_at)}", None

            self._act(run)

        current = self.view.due_line.split(" · ")[0]
        self.app.push_screen(NextUpdateScreen(code, current), chosen)

    def action_templates(self) -> None:
        from mim_console.screens.comms_templates import TemplatesScreen

        self.mim.go(TemplatesScreen(), stack=True)

    def action_lists(self) -> None:
        from mim_console.screens.comms_lists import StakeholderListsScreen

        self.mim.go(StakeholderListsScreen(), stack=True)

    def on_screen_resume(self) -> None:
        """Back from the lists or templates (this process's writes): show what changed.
        (Textual also runs MimScreen's own handler: no super() call.)"""
        if self.view is not None:
            self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()
