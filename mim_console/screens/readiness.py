"""Readiness: every finding of the readiness check, failing first, each with its fix.

Opened from the Duty screen (``w``). Loads in a worker; ``v`` offers to send a contact check to
everyone whose verification is due (asking first: it pages people).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from mim_console.domain.readiness import LABELS
from mim_console.domain.text import printable
from mim_console.screens.base import MimModal
from mim_console.services.readiness import Readiness


def render_findings(result: Readiness) -> Text:
    """Failing items with their fixes, then passing ones; stored names shown literally."""
    out = Text()
    for finding in result.failing:
        out.append("✖ ", style="bold red")
        out.append(f"{LABELS.get(finding.check, finding.check)}: ", style="bold")
        out.append(printable(finding.message))
        if finding.fix:
            out.append("\n    fix: ", style="dim")
            out.append(printable(finding.fix))
        out.append("\n")
    for finding in (f for f in result.findings if f.ok):
        label = LABELS.get(finding.check, finding.check)
        out.append("✔ ", style="green")
        out.append(f"{label}: ", style="bold")
        # "Conference bridge: configured", not "Conference bridge: conference bridge: …"
        same = finding.subject.casefold() == label.casefold()
        out.append(printable(finding.message if same else f"{finding.subject}: {finding.message}"))
        out.append("\n")
    out.rstrip()
    return out


class ReadinessScreen(MimModal[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,w", "dismiss", "Close", id="readiness.close", tooltip="Back to Duty"),
        Binding(
            "v",
            "verify",
            "Check contacts",
            id="readiness.verify",
            tooltip="Send a contact check (test SMS) to everyone whose verification is due",
        ),
    ]

    class Loaded(Message):
        def __init__(self, result: Readiness) -> None:
            super().__init__()
            self.result = result

    def __init__(self) -> None:
        super().__init__()
        self.result: Readiness | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="readiness-box", classes="dialog"):
            yield Static(Content("Readiness: checking…"), classes="dialog-title", id="rd-title")
            with VerticalScroll(id="rd-scroll"):
                yield Static(Content(""), id="rd-list")
            yield Static(
                Content("v sends contact checks to everyone due (asks first) · Esc closes"),
                classes="hint",
            )

    def on_mount(self) -> None:
        self._load()
        self.query_one("#rd-scroll", VerticalScroll).focus()

    @work(thread=True, exclusive=True, group="readiness-load", exit_on_error=False)
    def _load(self) -> None:
        from mim_console.services.readiness import readiness

        self.post_message(self.Loaded(readiness(self.context)))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        result = self.result = message.result
        failing = len(result.failing)
        title = f"Readiness: {failing} to fix" if failing else "Readiness: every check passes"
        self.query_one("#rd-title", Static).update(Content(title))
        self.query_one("#rd-list", Static).update(render_findings(result))

    def action_verify(self) -> None:
        from mim_console.screens.confirm import ConfirmScreen

        if self.mim.refused_on_standby():  # a contact check is an SMS and a record
            return

        due = self.result.unverified() if self.result is not None else []
        if not due:
            self.notify("nobody's contact check is due", severity="information")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._send(due)

        self.app.push_screen(
            ConfirmScreen(
                f"Send a contact check (test SMS) to {len(due)} "
                f"{'person' if len(due) == 1 else 'people'} whose verification is due? "
                "A reply verifies each.",
                yes="Send",
            ),
            answered,
        )

    @work(thread=True, exclusive=True, group="readiness-send", exit_on_error=False)
    def _send(self, person_ids: list[int]) -> None:
        from mim_console.services.verification import VerificationService

        people = self.context.directory().people_by_ids(person_ids)
        active = [people[i] for i in person_ids if i in people and people[i].active]
        sent = VerificationService(self.context).send(active)
        self.app.call_from_thread(self._sent, len(sent))

    def _sent(self, count: int) -> None:
        wake = getattr(self.app, "wake_dispatcher", None)
        if wake is not None:
            wake()
        self.notify(f"{count} contact check(s) queued; each reply verifies the person")
