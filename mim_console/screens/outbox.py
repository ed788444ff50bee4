"""The outbox on screen (key ``O`` from Duty and the roll call): every alert of the open
incidents, or of one incident, failed and waiting first; ``r`` sends one now, ``x`` cancels one
that was never sent. Both ask first; the service refuses anything already sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from mim_console.domain.alerts import Alert
from mim_console.screens.base import ActionDone, MimScreen
from mim_console.screens.confirm import ConfirmScreen
from mim_console.screens.outbox_view import can_cancel, can_retry, cells, status_word
from mim_console.services import outbox_steer
from mim_console.services.context import Context
from mim_console.widgets.banner import OutboxBanner
from mim_console.widgets.fittable import Col, FitTable
from mim_console.widgets.literal import lit

COLS = (
    Col("who", "to", 18, min_width=14, grow=True, detail="to {}"),
    Col("channel", "via", 6, detail="{}"),
    Col("purpose", "purpose", 10, min_width=7, detail="{}"),
    Col("status", "status", 9, detail="{}"),
    Col("age", "age", 6, detail="queued {} ago"),
    Col("tries", "tries", 5, detail="{} tries"),
    Col("error", "error", 14, min_width=8, grow=True, detail="{}"),
)
WITH_INCIDENT = (*COLS, Col("incident", "incident", 11, drop=1, detail="{}"))


def outbox_binding(screen: str, tooltip: str) -> Binding:
    """The key that opens this screen, the same on Duty and the roll call (help names it; the
    footer is full at 80 columns)."""
    return Binding("O", "outbox", "Outbox", id=f"{screen}.outbox", tooltip=tooltip, show=False)


class OutboxScreen(MimScreen):
    RELOAD_ON_OUTBOX = True
    HELP_TITLE = "Outbox"
    HELP_TEXT = (
        "Every alert of the open incidents (from a roll call: of that incident), failed and "
        "waiting first, with Twilio's error in words. r sends a failed or waiting alert now "
        "(never one already sent); x cancels one that was never sent. Both ask first."
    )
    WRITES = frozenset("retry cancel_alert".split())  # refused on a standby copy
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry now", id="outbox.retry", tooltip="Send this alert now"),
        Binding("x", "cancel_alert", "Cancel", id="outbox.cancel", tooltip="Never send it"),
        Binding("escape", "back", "Back", id="outbox.back", tooltip="Back"),
    ]

    class Loaded(Message):
        def __init__(self, alerts: list[Alert]) -> None:
            super().__init__()
            self.alerts = alerts

    def __init__(self, incident_ref: str | None = None) -> None:
        super().__init__()
        self.incident_ref = incident_ref
        self.alerts: list[Alert] = []
        self.loads = 0  # views shown so far (tests watch it)

    def compose(self) -> ComposeResult:
        yield Header()
        yield OutboxBanner(id="banner")
        yield Static(Content("Outbox: loading…"), id="ob-title")
        yield FitTable(COLS if self.incident_ref else WITH_INCIDENT, id="ob-table")
        yield Static(Content(""), id="ob-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(FitTable).focus()
        super().on_mount()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="outbox-load", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(outbox_steer.open_outbox(self.context, self.incident_ref)))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        self.alerts = message.alerts
        now = self.context.clock()
        whose = self.incident_ref or "the open incidents"
        failed = sum(1 for a in self.alerts if a.group == "failed")
        queued = sum(1 for a in self.alerts if a.status == "queued")
        title = f"Outbox of {whose}: {len(self.alerts)} alerts"
        if failed or queued:
            title += f" · {failed} failed · {queued} queued"
        self.query_one("#ob-title", Static).update(Content(title))
        many = self.incident_ref is None
        self.query_one(FitTable).set_rows(
            [(str(a.id), cells(a, now, with_incident=many)) for a in self.alerts]
        )
        self.loads += 1
        self._show_detail()

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        table = self.query_one(FitTable)
        alert = self.current()
        words: list[str] = []
        if alert is not None:
            words = [f"#{alert.id}", *table.detail_words(str(alert.id))]
        self.query_one("#ob-detail", Static).update(lit(" · ".join(words)))

    def current(self) -> Alert | None:
        key = self.query_one(FitTable).cursor_key()
        return next((a for a in self.alerts if str(a.id) == key), None)

    def _ask(self, question: str, yes: str, step: Callable[[Context, int], str]) -> None:
        alert = self.current()
        if alert is None:
            return
        alert_id = alert.id

        def answered(ok: bool | None) -> None:
            if ok:
                self.act(lambda: step(self.context, alert_id))

        self.app.push_screen(ConfirmScreen(question, yes=yes, no="Keep"), answered)

    def action_retry(self) -> None:
        alert = self.current()
        if alert is None:
            return
        if not can_retry(alert):
            word = status_word(alert, self.context.clock())
            self.mim.problem(f"alert {alert.id} is {word}: only a failed or waiting one is retried")
            return
        who = outbox_steer.who(alert)
        self._ask(f"Send the {alert.channel} alert to {who} now?", "Send now", outbox_steer.retry)

    def action_cancel_alert(self) -> None:
        alert = self.current()
        if alert is None:
            return
        if not can_cancel(alert):
            word = status_word(alert, self.context.clock())
            self.mim.problem(f"alert {alert.id} is {word}: only one never sent can be cancelled")
            return
        who = outbox_steer.who(alert)
        question = f"Cancel the {alert.channel} alert to {who}? It will never be sent."
        if outbox_steer.pages_someone(alert):
            question += f" No timer escalates {who} after it (e on the roll call still does)."
        self._ask(question, "Cancel it", outbox_steer.cancel)

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
