"""Directory: search as you type over everyone; add, edit, deactivate; import a CSV.

All people are read once (in a worker) and filtered in memory on each keystroke: over 10,000
people that is a few milliseconds. Every match is listed: the list (``RowList``) paints only the
rows on screen from the rows built at load, so a keystroke never waits for the database or for
a table rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widgets import Footer, Header, Input, Static

from mim_console.domain.people import Party, Person
from mim_console.domain.text import one_line
from mim_console.screens.base import MimScreen
from mim_console.widgets.fittable import Col
from mim_console.widgets.literal import lit
from mim_console.widgets.rowlist import Row, RowList


@dataclass(frozen=True)
class Entry:
    person: Person
    party: str
    haystack: str  # everything searchable, case-folded
    row: Row  # the row as shown, built once per load (its painted line is cached on it)


# The layout rule (widgets/fittable.py): status next to the name, so an inactive person never
# looks active; at 80 columns title and authority move into the line under the list.
COLUMNS = (
    Col("name", "name", 24, detail="{}"),
    Col("status", "status", 10, detail="{}"),
    Col("mobile", "mobile", 15, drop=2, detail="☎ {}"),
    Col("party", "party", 18, detail="{}"),
    Col("title", "title", 18, drop=3, detail="title: {}"),
    Col("authority", "authority", 9, drop=4, detail="{}"),
)


def entries(people: list[Person], parties: dict[int, str]) -> list[Entry]:
    out = []
    for p in sorted(people, key=lambda p: p.name.casefold()):
        party = parties.get(p.party_id, "") if p.party_id is not None else ""
        text = " ".join(
            x
            for x in (
                p.name,
                p.mobile,
                p.phone2 or "",
                p.email or "",
                p.title,
                party,
                p.ext_id or "",
                str(p.id),
            )
            if x
        )
        cells = (
            p.name,
            "active" if p.active else ("✖ INACTIVE", "bold"),
            p.mobile,
            party,
            p.title,
            "✔ decides" if p.decision_authority else "",
        )
        out.append(Entry(p, party, text.casefold(), Row(cells, key=p.id)))
    return out


def matches(items: list[Entry], query: str) -> list[Entry]:
    """Every word of the query must appear somewhere (name, phone, email, party, title, id)."""
    found = items
    for word in query.casefold().split():
        # One word at a time over what is left: a plain comprehension, no per-entry generator.
        found = [e for e in found if word in e.haystack]
    return found


class DirectoryScreen(MimScreen):
    # One line, always: updating the count on a keystroke then needs no new layout.
    DEFAULT_CSS = "#dir-count { height: 1; }"
    HELP_TITLE = "Directory"
    HELP_TEXT = (
        "Type to filter (every word must match name, phone, email, party, title or id). "
        "Down or Enter moves from the filter into the list; Enter on a person edits them."
    )
    WRITES = frozenset("add edit deactivate import_csv".split())  # refused on a standby copy
    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: "/" moves to the filter even when it has the focus, rather than being typed
        # into it (a name or number never needs one).
        Binding(
            "slash",
            "search",
            "Search",
            id="directory.search",
            tooltip="Type to filter",
            priority=True,
        ),
        Binding("a", "add", "Add", id="directory.add", tooltip="Add a person"),
        Binding("e", "edit", "Edit", id="directory.edit", tooltip="Edit the selected person"),
        Binding(
            "x",
            "deactivate",
            "Deactivate",
            id="directory.deactivate",
            tooltip="Deactivate the selected person (kept for history, never paged)",
        ),
        Binding(
            "i",
            "import_csv",
            "Import CSV",
            id="directory.import",
            tooltip="Import people from a CSV file, with a per-line error report",
        ),
        Binding("escape", "back", "Back", id="directory.back", tooltip="Back to Duty"),
    ]

    class Loaded(Message):
        def __init__(self, items: list[Entry]) -> None:
            super().__init__()
            self.items = items

    class Saved(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Entry] = []
        self.parties: list[Party] = []
        self._last: tuple[str, list[Entry]] = ("", [])
        self.shown: list[Entry] = []
        self.shown_once = False
        self.generation = 0  # bumps each time the list shows a new filter result
        self._select_after_load: int | None = None  # a person just added or saved

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(id="dir-filter", placeholder="type to filter people…", compact=True)
        yield Static(Content(""), id="dir-count")
        yield RowList(COLUMNS, id="dir-table")
        yield Static(Content(""), id="dir-detail")  # the selected person's hidden columns
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#dir-filter", Input).focus()
        super().on_mount()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="directory-load", exit_on_error=False)
    def _load(self) -> None:
        directory = self.context.directory()
        parties = directory.parties()
        self.parties = parties
        names = {p.id: p.name for p in parties}
        self.post_message(self.Loaded(entries(directory.people(), names)))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.items = message.items
        self._last = ("", self.items)
        wanted, self._select_after_load = self._select_after_load, None
        self.shown_once = True
        self._filter()
        if wanted is not None:
            found = next((i for i, e in enumerate(self.shown) if e.person.id == wanted), None)
            if found is not None:
                self.query_one("#dir-table", RowList).move_cursor(found)

    @on(Input.Changed, "#dir-filter")
    def _typed(self) -> None:
        self._filter()

    def _filter(self) -> None:
        query = self.query_one("#dir-filter", Input).value
        # Typing forward only narrows: search the previous matches, not all 10,000 again.
        last_query, last_found = self._last
        narrower = last_query and query.casefold().startswith(last_query.casefold())
        found = matches(last_found if narrower else self.items, query)
        self._last = (query, found)
        table = self.query_one("#dir-table", RowList)
        current = self.selected()
        self.shown = found
        cursor = 0
        if current is not None:
            # The selected person stays selected while still listed.
            cursor = next((i for i, e in enumerate(found) if e.person.id == current.id), 0)
        table.set_rows([e.row for e in found], cursor=cursor)
        self.query_one("#dir-count", Static).update(
            Content(f"{len(found)} of {len(self.items)} people"), layout=False
        )
        self.generation += 1
        self._show_detail()

    @on(RowList.Highlighted, "#dir-table")
    def _show_detail(self) -> None:
        table = self.query_one("#dir-table", RowList)
        row = table.rows[table.cursor_row] if 0 <= table.cursor_row < table.row_count else None
        words = table.detail_words(row)
        self.query_one("#dir-detail", Static).update(lit(" · ".join(words)), layout=False)

    @on(Input.Submitted, "#dir-filter")
    def _to_table(self) -> None:
        self.query_one("#dir-table", RowList).focus()

    @on(RowList.Selected, "#dir-table")
    def _open(self) -> None:
        if not self.refused("edit"):
            self.action_edit()

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        if key == "down" and self.focused is self.query_one("#dir-filter", Input):
            self.query_one("#dir-table", RowList).focus()

    def selected(self) -> Person | None:
        table = self.query_one("#dir-table", RowList)
        row = table.cursor_row
        return self.shown[row].person if 0 <= row < len(self.shown) else None

    def action_add(self) -> None:
        self._open_form(None)

    def action_edit(self) -> None:
        person = self.selected()
        if person is None:
            self.notify("nobody selected", severity="warning")
            return
        self._open_form(person)

    def _open_form(self, person: Person | None) -> None:
        from mim_console.screens.person_form import PersonFormScreen

        def saved(result: Person | None) -> None:
            if result is not None:
                verb = "added" if person is None else "saved"
                self.notify(f"{verb}: {one_line(result.name)}", markup=False)
                self._select_after_load = result.id
                if person is None:  # a new person shows, whatever the filter was
                    self.query_one("#dir-filter", Input).value = ""
                self.reload()

        self.app.push_screen(PersonFormScreen(person, self.parties), saved)

    def action_deactivate(self) -> None:
        person = self.selected()
        if person is None:
            self.notify("nobody selected", severity="warning")
            return
        if not person.active:
            self.notify(f"{one_line(person.name)} is already inactive", markup=False)
            return
        from mim_console.screens.confirm import ConfirmScreen

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._deactivate(person.id)

        self.app.push_screen(
            ConfirmScreen(
                f"Deactivate {one_line(person.name)}?\nThey stay in past incidents but are "
                "never paged again; their seats and groups pass to the next active person.",
                yes="Deactivate",
            ),
            confirmed,
        )

    @work(thread=True, exclusive=True, group="directory-save", exit_on_error=False)
    def _deactivate(self, person_id: int) -> None:
        person = self.context.directory().deactivate_person(person_id)
        self.post_message(self.Saved(f"deactivated: {one_line(person.name)}"))

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        self.notify(message.text, markup=False)
        self.reload()

    def action_import_csv(self) -> None:
        from mim_console.screens.import_csv import ImportScreen

        def closed(imported: bool | None) -> None:
            if imported:
                self.reload()

        self.app.push_screen(ImportScreen(), closed)

    def action_search(self) -> None:
        search = self.query_one("#dir-filter", Input)
        search.focus()
        search.select_all()  # what is typed next replaces the old filter

    def action_back(self) -> None:
        self.app.pop_screen()
