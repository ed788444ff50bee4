"""Phoning by hand: log a call's outcome (roll call, key l) and the call sheet (key k).

When Twilio cannot be reached the duty manager phones people from the call sheet; each call's
outcome goes into the roll call exactly as a reply would (``IncidentService.log_call``). The
call sheet is written into the data dir (text to read here, HTML to print) and shown with the
alerts still waiting to be sent and how long each has waited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from mim_console.domain.alerts import Alert
from mim_console.domain.text import one_line
from mim_console.services import callsheet
from mim_console.services.incidents import CALL_OUTCOMES
from mim_console.widgets.fittable import Col, FitTable

if TYPE_CHECKING:
    from mim_console.screens.base import MimScreen

OUTCOME_WORDS = {
    "joining": "1  Reached: joining the bridge",
    "unable": "2  Reached: unable to join (the deputy is paged)",
    "voicemail": "3  Voicemail: message left",
    "no-answer": "4  No answer",
}


@dataclass(frozen=True)
class CallLogResult:
    outcome: str
    note: str


class CallLogScreen(ModalScreen[CallLogResult | None]):
    """Pick the outcome (arrows or 1-4), optionally a note, Enter logs it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="call_log.cancel", tooltip="Log nothing"),
        Binding("ctrl+s", "save", "Log", id="call_log.save", tooltip="Log the highlighted outcome"),
    ]

    def __init__(self, incident_code: str, name: str, phones: str = "") -> None:
        super().__init__()
        self.incident_code = incident_code
        self.person_name = name
        self.phones = phones

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="call-log-box"):
            title = f"Phone call to {one_line(self.person_name)} — {self.incident_code}"
            yield Static(Content(title), classes="dialog-title")
            if self.phones:
                yield Static(Content(f"Numbers: {one_line(self.phones)}"), id="call-numbers")
            yield OptionList(
                *(Option(Content(OUTCOME_WORDS[o]), id=o) for o in CALL_OUTCOMES),
                id="call-outcome",
            )
            yield Input(id="call-note", placeholder="note (optional): what was said")
            yield Static(Content("Enter or 1-4 logs it · Tab: note · Esc: cancel"))
            with Horizontal(classes="buttons"):
                yield Button(Content("Log [ctrl+s]"), id="save", variant="primary")
                yield Button(Content("Cancel [esc]"), id="cancel")

    def on_mount(self) -> None:
        options = self.query_one("#call-outcome", OptionList)
        options.styles.height = len(CALL_OUTCOMES) + 2
        options.highlighted = 0
        options.focus()

    def on_key(self, event: events.Key) -> None:
        if event.key in ("1", "2", "3", "4") and not isinstance(self.focused, Input):
            event.stop()
            self._finish(CALL_OUTCOMES[int(event.key) - 1])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._finish(event.option.id or "")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        options = self.query_one("#call-outcome", OptionList)
        index = options.highlighted if options.highlighted is not None else 0
        self._finish(CALL_OUTCOMES[index])

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _finish(self, outcome: str) -> None:
        if outcome not in CALL_OUTCOMES:
            return
        note = self.query_one("#call-note", Input).value.strip()
        self.dismiss(CallLogResult(outcome, note))


class CallSheetScreen(ModalScreen[None]):
    """The sheet as written, where it was written, and what is still waiting to be sent."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="callsheet.close", tooltip="Back"),
    ]

    def __init__(
        self, paths: list[Path], text: str, waiting: list[str], rows: Sequence[Row] = ()
    ) -> None:
        super().__init__()
        self.paths = paths
        self.text = text
        self.waiting = waiting  # what is waiting, in words (the oldest alerts: ``rows``)
        self.rows = list(rows)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="callsheet-box"):
            folder = self.paths[0].parent if self.paths else ""
            yield Static(Content(f"Call sheet written to {folder}/"), classes="dialog-title")
            names = " · ".join(p.name for p in self.paths)
            yield Static(Content(f"{names} (print the .html)"), classes="callsheet-path")
            yield Static(Content("\n".join(self.waiting)), id="callsheet-waiting")
            table = FitTable(WAITING_COLS, id="callsheet-alerts")
            table.display = bool(self.rows)
            yield table
            yield TextArea(self.text, id="callsheet-text", read_only=True, soft_wrap=True)
            yield Static(Content("Esc closes · l on the roll call logs each call"))

    def on_mount(self) -> None:
        box = self.query_one("#callsheet-box")
        box.styles.width = "90%"
        box.styles.height = "90%"
        self.query_one("#callsheet-text", TextArea).styles.height = "1fr"
        alerts = self.query_one("#callsheet-alerts", FitTable)
        alerts.styles.height = len(self.rows) + 1
        alerts.set_rows(self.rows)
        self.query_one("#callsheet-text", TextArea).focus()

    def action_close(self) -> None:
        self.dismiss(None)


Row = tuple[str, tuple[str, ...]]
# The oldest alerts waiting, on the layout rule (widgets/fittable.py): 74 cells at 80 columns.
WAITING_COLS = (
    Col("age", "waited", 7),
    Col("incident", "incident", 11, min_width=6),
    Col("what", "what", 14, min_width=8),
    Col("to", "to", 18, min_width=8, grow=True),
    Col("tries", "tries", 5),
    Col("why", "last error", 7, min_width=5, drop=1, grow=True),
)


def waiting_rows(now: datetime, alerts: Sequence[Alert], limit: int = 3) -> list[Row]:
    """The oldest ``limit`` alerts waiting: how long, which incident, what, to whom, tries."""
    return [
        (
            str(a.id),
            (
                callsheet.age_words(now, a.created_at),
                a.incident_code or "-",
                f"{a.purpose} {a.channel}",
                one_line(a.person_name or a.to_number),
                str(a.attempts),
                one_line(a.last_error or ""),
            ),
        )
        for a in alerts[:limit]
    ]


def waiting_lines(
    now: datetime, alerts: list[Alert], gave_up: Sequence[Alert] = (), limit: int = 3
) -> list[str]:
    """'N alerts waiting, oldest 12 min' (the oldest few: ``waiting_rows``, a table); first,
    any alert given up on without reaching anyone (those people must be phoned)."""
    lines: list[str] = []
    if gave_up:
        names = ", ".join(one_line(a.person_name or a.to_number) for a in gave_up[:limit])
        more = f" and {len(gave_up) - limit} more" if len(gave_up) > limit else ""
        lines.append(
            f"✖ {len(gave_up)} alert{'s' if len(gave_up) != 1 else ''} of open incidents gave "
            f"up without reaching anyone — phone them: {names}{more}"
        )
    if not alerts:
        return [*lines, "No alert is waiting to be sent."]
    lines += [
        f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} waiting to be sent "
        f"(kept until Twilio answers), oldest {callsheet.age_words(now, alerts[0].created_at)}:"
    ]
    if len(alerts) > limit:
        rest = len(alerts) - limit
        lines.append(f"  the oldest {limit} below; {rest} more: `mim-console outbox`")
    return lines


def offer_call_sheet(screen: MimScreen, incident_ref: str | None) -> None:
    """Write the sheet in a worker, then show it; a failure reaches the app's one handler."""
    context = screen.context
    app = screen.app

    def work() -> None:
        paths = callsheet.save(context, incident_ref)
        text = paths[0].read_text(encoding="utf-8")
        now, waiting = context.clock(), callsheet.waiting_alerts(context)
        lines = waiting_lines(now, waiting, callsheet.gave_up_alerts(context))
        rows = waiting_rows(now, waiting)
        app.call_from_thread(app.push_screen, CallSheetScreen(paths, text, lines, rows))

    screen.run_worker(work, thread=True, group="callsheet", name="call sheet", exit_on_error=False)
