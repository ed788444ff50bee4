"""Who approves a communication: pick a person, search as you type.

Everyone active is listed, MRT members with decision authority first. The picker does not
decide who may approve: the service does, and its refusal (no decision authority, not on an MRT
seat) is shown to the duty manager in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from mim_console.domain.text import one_line
from mim_console.screens.base import MimModal
from mim_console.services.context import Context

MAX_SHOWN = 200  # matches listed at once; typing narrows the rest


@dataclass(frozen=True)
class Candidate:
    person_id: int
    name: str
    words: str  # "IT operations seat · decision authority"
    rank: int  # 0: MRT with authority, 1: authority, 2: the rest

    def matches(self, needle: str) -> bool:
        return needle in self.name.casefold() or needle in self.words.casefold()


def load_candidates(context: Context) -> list[Candidate]:
    """Active people with what qualifies them (runs in a worker thread)."""
    directory = context.directory()
    seat_of: dict[int, str] = {}
    for party in directory.parties():
        for person_id in party.representatives:
            seat_of.setdefault(person_id, party.name)
    out = []
    for person in directory.people(active_only=True):
        seat = seat_of.get(person.id)
        words = [f"{seat} seat" if seat else "no MRT seat"]
        words.append("decision authority" if person.decision_authority else "no authority")
        rank = 0 if seat and person.decision_authority else 1 if person.decision_authority else 2
        out.append(Candidate(person.id, person.name, " · ".join(words), rank))
    out.sort(key=lambda c: (c.rank, c.name.casefold(), c.person_id))
    return out


class ApproverScreen(MimModal[int | None]):
    """Dismisses with the chosen person's id, or None on Escape."""

    DEFAULT_CSS = """
    #approver-list { height: auto; max-height: 12; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="approver.cancel", tooltip="Approve nothing"),
        Binding("down", "move(1)", "Next", show=False, id="approver.next", tooltip="Next person"),
        Binding("up", "move(-1)", "Previous", show=False, id="approver.prev", tooltip="Previous"),
    ]

    class Loaded(Message):
        def __init__(self, candidates: list[Candidate]) -> None:
            super().__init__()
            self.candidates = candidates

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what
        self.candidates: list[Candidate] = []
        self.shown: list[Candidate] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="approver-box", classes="dialog"):
            yield Static(Content(f"Who approves {self.what}?"), classes="dialog-title")
            yield Input(placeholder="type to search by name or party", id="approver-filter")
            yield OptionList(id="approver-list")
            yield Static(
                Content("↓/↑ choose · Enter approves as that person · Esc cancels"),
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#approver-filter", Input).focus()
        self._load()

    @work(thread=True, exclusive=True, group="approver-load", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(load_candidates(self.context)))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.candidates = message.candidates
        self._show(self.query_one("#approver-filter", Input).value)

    @on(Input.Changed, "#approver-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._show(event.value)

    def _show(self, query: str) -> None:
        needle = query.strip().casefold()
        found = [c for c in self.candidates if not needle or c.matches(needle)]
        self.shown = found[:MAX_SHOWN]
        options = self.query_one("#approver-list", OptionList)
        options.clear_options()
        options.add_options(
            Option(Content(f"{one_line(c.name)} · {c.words}"), id=str(c.person_id))
            for c in self.shown
        )
        if len(found) > MAX_SHOWN:
            options.add_option(
                Option(Content(f"… {len(found) - MAX_SHOWN} more: type to narrow"), disabled=True)
            )
        if not found:
            options.add_option(Option(Content("nobody matches"), disabled=True))
        if self.shown:
            options.highlighted = 0

    @on(Input.Submitted, "#approver-filter")
    def _submitted(self) -> None:
        self._choose(self.query_one("#approver-list", OptionList).highlighted)

    @on(OptionList.OptionSelected, "#approver-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option_index)

    def _choose(self, index: int | None) -> None:
        if index is None or not 0 <= index < len(self.shown):
            self.notify("nobody chosen: type a name, pick with ↓/↑", severity="warning")
            return
        self.dismiss(self.shown[index].person_id)

    def action_move(self, delta: int) -> None:
        """Arrows move the choice while the cursor stays in the search box."""
        if not self.shown:
            return
        options = self.query_one("#approver-list", OptionList)
        current = options.highlighted if options.highlighted is not None else -delta
        options.highlighted = max(0, min(len(self.shown) - 1, current + delta))

    def action_cancel(self) -> None:
        self.dismiss(None)
