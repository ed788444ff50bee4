"""Stakeholder lists: who gets stakeholder updates by SMS, kept apart from the response team.

A list is made by adding its first member. Members are people from the directory (their current
mobile is used) or plain numbers with a label. A person who is deactivated drops off every list
by themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from mim_console.domain.comms import StakeholderList, StakeholderMember
from mim_console.domain.text import one_line
from mim_console.screens.base import ActionDone, MimScreen
from mim_console.screens.comms_lists_add import AddMemberScreen, MemberEntry
from mim_console.screens.confirm import ConfirmScreen
from mim_console.services.comms import CommsService
from mim_console.widgets.fittable import Col, FitTable
from mim_console.widgets.literal import lit


def member_kind(member: StakeholderMember) -> str:
    return "person" if member.person_id is not None else "number"


# The layout rule (widgets/fittable.py): names shorten with "…", never cut silently.
LIST_COLS = (Col("list", "list", 18, min_width=8, grow=True), Col("people", "people", 6))
MEMBER_COLS = (
    Col("name", "name", 20, min_width=8, grow=True),
    Col("number", "number", 14, min_width=8),
    Col("kind", "kind", 6),
)


class StakeholderListsScreen(MimScreen):
    HELP_TITLE = "Stakeholder lists"
    HELP_TEXT = (
        "Who gets stakeholder updates by SMS. Never the response team's alerts: the two are "
        "kept apart."
    )
    DEFAULT_CSS = """
    #lists-body { height: 1fr; }
    #lists-table { width: 30; }
    #members-table { width: 1fr; }
    #lists-status { height: auto; max-height: 2; padding: 0 1; }
    #members-detail { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    #lists-status.-bad { color: $error; text-style: bold; }
    """
    WRITES = frozenset("add remove".split())  # refused on a standby copy
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "a",
            "add",
            "Add",
            id="lists.add",
            tooltip="Add a person or a number (a new list name makes a new list)",
        ),
        Binding(
            "x",
            "remove",
            "Remove",
            id="lists.remove",
            tooltip="Remove the member under the cursor from the list (asks first)",
        ),
        Binding("escape", "back", "Back", id="lists.back", tooltip="Back"),
    ]

    class Loaded(Message):
        def __init__(self, lists: list[StakeholderList]) -> None:
            super().__init__()
            self.lists = lists

    def __init__(self) -> None:
        super().__init__()
        self.lists: list[StakeholderList] = []
        self.last = MemberEntry("", "")  # what the last add was given: refilled after an error

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Content("Stakeholder lists"), classes="section-title")
        with Horizontal(id="lists-body"):
            yield FitTable(LIST_COLS, id="lists-table")
            yield FitTable(MEMBER_COLS, id="members-table")
        yield Static(Content(""), id="members-detail")  # what the members table shortens
        yield Static(Content("Tab switches between lists and members."), id="lists-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#lists-table", FitTable).focus()
        self.sub_title = "stakeholder lists"
        super().on_mount()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="lists-load", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(CommsService(self.context).lists()))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        self.lists = message.lists
        table = self.query_one("#lists-table", FitTable)
        keep = self.current_list()
        rows = [
            (str(i), (lit(sl.name), lit(len({m.number for m in sl.members}))))
            for i, sl in enumerate(self.lists)
        ]
        table.set_rows(rows or [("none", (lit("none yet"), lit("")))])
        names = [sl.name for sl in self.lists]
        if keep is not None and keep.name in names:
            table.move_cursor(row=names.index(keep.name))
        self._show_members()

    def current_list(self) -> StakeholderList | None:
        table = self.query_one("#lists-table", DataTable)
        row = table.cursor_row
        return self.lists[row] if 0 <= row < len(self.lists) else None

    def current_member(self) -> StakeholderMember | None:
        chosen = self.current_list()
        row = self.query_one("#members-table", DataTable).cursor_row
        if chosen is None or not 0 <= row < len(chosen.members):
            return None
        return chosen.members[row]

    @on(DataTable.RowHighlighted, "#lists-table")
    def _list_moved(self) -> None:
        self._show_members()

    @on(DataTable.RowHighlighted, "#members-table")
    def _member_moved(self) -> None:
        table = self.query_one("#members-table", FitTable)
        words = table.detail_words(table.cursor_key())
        self.query_one("#members-detail", Static).update(Content(one_line(" · ".join(words))))

    def _show_members(self) -> None:
        table = self.query_one("#members-table", FitTable)
        keep = table.cursor_row
        chosen = self.current_list()
        if chosen is None:
            table.set_rows([("none", (lit("a adds the first member"), lit(""), lit("")))])
            return
        table.set_rows(
            [
                (str(i), (lit(m.label), lit(m.number), lit(member_kind(m))))
                for i, m in enumerate(chosen.members)
            ]
        )
        if 0 <= keep < len(chosen.members):
            table.move_cursor(row=keep)

    def _act(self, run: Callable[[CommsService], str]) -> None:
        self.act(lambda: run(CommsService(self.context)))

    @on(ActionDone)
    def _done(self, message: ActionDone) -> None:
        status = self.query_one("#lists-status", Static)
        status.update(Content(("✖ " if message.failed else "✔ ") + one_line(message.text)))
        status.set_class(message.failed, "-bad")
        if message.failed:
            self.notify(message.text, title="Refused", severity="error", markup=False)
        else:
            self.last = MemberEntry(self.last.list_name, "")
        self.reload()

    def action_add(self) -> None:
        chosen = self.current_list()
        entry = self.last
        if chosen is not None and not entry.who:
            entry = MemberEntry(chosen.name, "")

        def given(result: MemberEntry | None) -> None:
            if result is None:
                return
            self.last = result
            self._act(lambda s: s.add_to_list(result.list_name, result.who, result.label))

        self.app.push_screen(AddMemberScreen(entry), given)

    def action_remove(self) -> None:
        chosen = self.current_list()
        member = self.current_member()
        if chosen is None or member is None:
            self.notify("no member under the cursor (Tab moves to the members)", severity="warning")
            return
        ref = str(member.person_id) if member.person_id is not None else member.number
        name, label = chosen.name, one_line(member.label)

        def confirmed(answer: bool | None) -> None:
            if not answer:
                return

            def run(service: CommsService) -> str:
                removed = service.remove_from_list(name, ref)
                return f"{label} removed from {name}" if removed else f"{label} was not on {name}"

            self._act(run)

        self.app.push_screen(
            ConfirmScreen(f"Remove {label} ({member.number}) from {one_line(name)}?", yes="Remove"),
            confirmed,
        )

    def action_back(self) -> None:
        self.app.pop_screen()
