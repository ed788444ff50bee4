"""Replies that need an incident (key ``y``): who wrote what, when; place each on an incident
(``a``: it then applies as if it had named the code) or dismiss it (``x``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from mim_console.domain.incident import Incident
from mim_console.screens.base import ActionDone, MimModal, MimScreen
from mim_console.services.incidents import IncidentService
from mim_console.services.timezone import display_zone, zone_label
from mim_console.services.unplaced import UnplacedReply
from mim_console.widgets.banner import OutboxBanner
from mim_console.widgets.fittable import Col, FitTable
from mim_console.widgets.literal import lit

COLS = (
    Col("when", "when", 5, detail="{}"),
    Col("who", "who", 20, min_width=12, grow=True, detail="{}"),
    Col("text", "text", 24, min_width=12, grow=True, detail="“{}”"),
    Col("reads", "reads", 12, drop=1, detail="read as {}"),
)
READS = {
    "ambiguous": "? which one",
    "unknown_code": "? wrong code",
    "not_alerted": "not alerted",
    "unrecognised": "? words",
    "opt_out": "opted out",  # STOP: Twilio refuses SMS to them until they text START
}


def unplaced_words(count: int) -> str:
    """The line Duty and the roll calls show while replies wait for an incident."""
    if not count:
        return ""
    noun = "reply needs" if count == 1 else "replies need"
    return f"⚠ {count} {noun} an incident · y: place them"


@dataclass(frozen=True)
class Choice:
    code: str
    meaning: str | None


class PlaceScreen(MimModal[Choice | None]):
    """Which open incident the reply is about (and, for words that say neither, what it says)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="place.cancel", tooltip="Place nothing"),
    ]

    def __init__(self, reply: UnplacedReply, incidents: list[Incident]) -> None:
        super().__init__()
        self.reply = reply
        self.choices: list[Choice] = []
        self.options: list[Option] = []
        for inc in incidents:
            meanings = [reply.says] if reply.says else ["joining", "unable"]
            for meaning in meanings:
                self.choices.append(Choice(inc.code, None if reply.says else meaning))
                self.options.append(Option(Content(f"{inc.code} {inc.title} · {meaning}")))

    def compose(self) -> ComposeResult:
        who = self.reply.person_name or self.reply.sender
        with Vertical(classes="dialog"):
            yield Static(Content(f"Place {who}'s reply “{self.reply.body}” on:"))
            yield OptionList(*self.options, id="place-list")
            yield Static(Content("Enter places it · Esc: cancel"), classes="hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class RepliesScreen(MimScreen):
    RELOAD_ON_OUTBOX = True
    HELP_TITLE = "Replies that need an incident"
    HELP_TEXT = (
        "Replies from known people that named no incident (several open, a wrong code, words "
        "that say neither 1 nor 2). a places the reply on an incident, as if it had named the "
        "code; x dismisses it."
    )
    WRITES = frozenset("assign dismiss_reply".split())  # refused on a standby copy
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "assign", "Place", id="replies.assign", tooltip="Place on an incident"),
        Binding("x", "dismiss_reply", "Dismiss", id="replies.dismiss", tooltip="Not an answer"),
        Binding("escape", "back", "Back", id="replies.back", tooltip="Back"),
    ]

    class Loaded(Message):
        def __init__(self, replies: list[UnplacedReply], incidents: list[Incident]) -> None:
            super().__init__()
            self.replies = replies
            self.incidents = incidents

    def __init__(self) -> None:
        super().__init__()
        self.replies: list[UnplacedReply] = []
        self.incidents: list[Incident] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield OutboxBanner(id="banner")
        yield Static(Content("Replies that need an incident: loading…"), id="rp-title")
        yield FitTable(COLS, id="rp-table")
        yield Static(Content(""), id="rp-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(FitTable).focus()
        super().on_mount()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="replies-load", exit_on_error=False)
    def _load(self) -> None:
        service = IncidentService(self.context)
        self.post_message(self.Loaded(service.replies(unplaced=True), service.incidents()))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        self.replies, self.incidents = message.replies, message.incidents
        zone = display_zone(self.context)
        count = len(self.replies)
        title = f"{count} {'reply needs' if count == 1 else 'replies need'} an incident"
        self.query_one("#rp-title", Static).update(
            Content(f"{title} · times in {zone_label(zone)}" if count else "✔ every reply placed")
        )
        self.query_one(FitTable).set_rows(
            [
                (
                    str(r.id),
                    (
                        r.received_at.astimezone(zone).strftime("%H:%M"),
                        lit(r.person_name or r.sender),
                        lit(r.body),
                        READS.get(r.meaning, r.meaning),
                    ),
                )
                for r in self.replies
            ]
        )
        self._show_detail()

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        table = self.query_one(FitTable)
        reply = self.current()
        words = []
        if reply is not None:
            words = [f"“{reply.body}”", *table.detail_words(str(reply.id), skip=("text",))]
        self.query_one("#rp-detail", Static).update(lit(" · ".join(words)))

    def current(self) -> UnplacedReply | None:
        key = self.query_one(FitTable).cursor_key()
        return next((r for r in self.replies if str(r.id) == key), None)

    def action_assign(self) -> None:
        reply = self.current()
        if reply is None:
            return
        if not self.incidents:
            self.mim.problem("no incident is open to place it on")
            return

        def placed(choice: Choice | None) -> None:
            if choice is not None:
                rid = reply.id
                self.act(
                    lambda: IncidentService(self.context).assign_reply(
                        rid, choice.code, choice.meaning
                    )
                )

        self.app.push_screen(PlaceScreen(reply, self.incidents), placed)

    def action_dismiss_reply(self) -> None:
        reply = self.current()
        if reply is not None:
            rid = reply.id
            self.act(lambda: IncidentService(self.context).dismiss_reply(rid))

    @on(ActionDone)
    def _done(self, message: ActionDone) -> None:
        if message.failed:
            self.mim.problem(message.text)
            return
        self.mim.wake_dispatcher()
        self.notify(message.text, markup=False)
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()
