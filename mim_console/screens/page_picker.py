"""Page more people into a running incident: one search box over people, parties' seats and
specialist groups, a selection list, then (on the roll call) a confirmation with the count.

Type to search, ↓/↑ to choose, Enter adds the choice to the selection; Enter on an empty
search (or Ctrl+S) is done. The picker pages nobody: the roll call asks first, with how many
new people that is and who is already on the incident.
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

from mim_console.domain.text import names_list, one_line
from mim_console.screens.base import MimModal
from mim_console.services.steering import (
    CHANNEL_WORDS,
    PAGE_CHANNELS,
    PageCandidate,
    PageTargets,
    Steering,
)

MAX_SHOWN = 200  # matches listed at once; typing narrows the rest
LINE_CHARS = 64  # what a match line holds inside the 76-column dialog, scrollbar beside
KIND_WORD = {"person": "person", "party": "party ", "group": "group "}


@dataclass(frozen=True)
class PagePick:
    targets: PageTargets
    channel: str = "sms"


def targets_of(chosen: list[PageCandidate]) -> PageTargets:
    return PageTargets(
        people=[c.ref for c in chosen if c.kind == "person"],
        parties=[c.ref for c in chosen if c.kind == "party"],
        groups=[c.ref for c in chosen if c.kind == "group"],
    )


def line_of(c: PageCandidate, width: int = LINE_CHARS) -> str:
    """One line per match (shortened with "…"): kind, name, how many it adds, then more."""
    text = f"{KIND_WORD[c.kind]} {one_line(c.name)} · {c.words}"
    return text if len(text) <= width else text[: width - 1] + "…"


class PagePickerScreen(MimModal[PagePick | None]):
    """Dismisses with what to page, or None on Escape (or when nothing was chosen)."""

    DEFAULT_CSS = """
    #picker-list { height: auto; max-height: 10; }
    #picker-chosen { height: auto; max-height: 3; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel", tooltip="Page nobody"),
        Binding("ctrl+s", "done", "Done", id="picker.done", tooltip="Page the selection"),
        Binding("down", "move(1)", "Next", show=False, id="picker.next", tooltip="Next match"),
        Binding("up", "move(-1)", "Previous", show=False, id="picker.prev", tooltip="Previous"),
        Binding(
            "ctrl+o",
            "channel",
            "Channel",
            id="picker.channel",
            tooltip="Page by SMS, voice call, or both",
        ),
        Binding(
            "ctrl+z",
            "undo",
            "Remove last",
            id="picker.undo",
            tooltip="Take the last choice off the selection",
        ),
    ]

    class Loaded(Message):
        def __init__(self, candidates: list[PageCandidate]) -> None:
            super().__init__()
            self.candidates = candidates

    def __init__(self, incident_code: str) -> None:
        super().__init__()
        self.incident_code = incident_code
        self.candidates: list[PageCandidate] = []
        self.shown: list[PageCandidate] = []
        self.chosen: list[PageCandidate] = []
        self.channel = PAGE_CHANNELS[0]

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box", classes="dialog"):
            yield Static(
                Content(f"Page more people into {self.incident_code}"), classes="dialog-title"
            )
            yield Input(placeholder="type a person, party or specialist group", id="picker-filter")
            yield OptionList(id="picker-list")
            yield Static(Content(self._chosen_words()), id="picker-chosen")
            yield Static(
                Content(
                    "↓/↑ choose · Enter adds · Enter on an empty search or Ctrl+S: done · "
                    "Ctrl+Z removes the last · Esc cancels"
                ),
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#picker-filter", Input).focus()
        self._load()

    @work(thread=True, exclusive=True, group="picker-load", exit_on_error=False)
    def _load(self) -> None:
        found = Steering(self.context).page_candidates(self.incident_code)
        self.post_message(self.Loaded(found))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.candidates = message.candidates
        self._show(self.query_one("#picker-filter", Input).value)

    @on(Input.Changed, "#picker-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._show(event.value)

    def _show(self, query: str) -> None:
        needle = query.strip().casefold()
        taken = {(c.kind, c.ref) for c in self.chosen}
        found = [
            c
            for c in self.candidates
            if (c.kind, c.ref) not in taken and (not needle or c.matches(needle))
        ]
        self.shown = found[:MAX_SHOWN]
        options = self.query_one("#picker-list", OptionList)
        options.clear_options()
        options.add_options(
            Option(Content(line_of(c)), id=str(i)) for i, c in enumerate(self.shown)
        )
        if len(found) > MAX_SHOWN:
            options.add_option(
                Option(Content(f"… {len(found) - MAX_SHOWN} more: type to narrow"), disabled=True)
            )
        if not found:
            options.add_option(Option(Content("nothing matches"), disabled=True))
        if self.shown:
            options.highlighted = 0

    @on(Input.Submitted, "#picker-filter")
    def _submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.action_done()
            return
        self._add(self.query_one("#picker-list", OptionList).highlighted)

    @on(OptionList.OptionSelected, "#picker-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._add(event.option_index)

    def _add(self, index: int | None) -> None:
        if index is None or not 0 <= index < len(self.shown):
            self.notify("nothing chosen: type a name, pick with ↓/↑", severity="warning")
            return
        self.chosen.append(self.shown[index])
        self._show_chosen()
        box = self.query_one("#picker-filter", Input)
        box.value = ""  # the next search starts afresh
        self._show("")
        box.focus()

    def _chosen_words(self) -> str:
        words = [f"{c.kind} {c.name}" for c in self.chosen]
        text = f"Selected: {names_list(words, 3)}" if words else "Selected: nobody yet"
        return one_line(f"By {CHANNEL_WORDS[self.channel]} (ctrl+o) · {text}")

    def _show_chosen(self) -> None:
        self.query_one("#picker-chosen", Static).update(Content(self._chosen_words()))

    def action_channel(self) -> None:
        index = PAGE_CHANNELS.index(self.channel)
        self.channel = PAGE_CHANNELS[(index + 1) % len(PAGE_CHANNELS)]
        self._show_chosen()

    def action_undo(self) -> None:
        if self.chosen:
            self.chosen.pop()
            self._show_chosen()
            self._show(self.query_one("#picker-filter", Input).value)

    def action_move(self, delta: int) -> None:
        """Arrows move the choice while the cursor stays in the search box."""
        if not self.shown:
            return
        options = self.query_one("#picker-list", OptionList)
        current = options.highlighted if options.highlighted is not None else -delta
        options.highlighted = max(0, min(len(self.shown) - 1, current + delta))

    def action_done(self) -> None:
        if not self.chosen:
            self.notify("nothing selected yet: Enter adds the match under ↓/↑", severity="warning")
            return
        self.dismiss(PagePick(targets_of(self.chosen), self.channel))

    def action_cancel(self) -> None:
        self.dismiss(None)
