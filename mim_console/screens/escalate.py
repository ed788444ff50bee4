"""Escalating one participant by hand: the dialog names the step (voice call now, page deputy
NAME) and offers the other; a second voice call to someone who ignored one asks first."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from mim_console.domain.incident import ActionKind
from mim_console.domain.text import printable
from mim_console.screens.confirm import ConfirmScreen
from mim_console.services.escalation import EscalateChoice


def step_words(choice: EscalateChoice, kind: ActionKind) -> str:
    """One step in words: ``voice call now`` / ``page deputy Erin Biz``."""
    if kind is ActionKind.VOICE:
        return "another voice call now" if choice.voice_ignored else "voice call now"
    if choice.deputy is None:
        return "page a deputy: nobody is left to page (call someone by hand)"
    return f"page deputy {choice.deputy}"


class EscalateScreen(ModalScreen[ActionKind | None]):
    """Dismisses with the chosen step, or ``None`` (Escape, `n`: nothing happens)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "choose('voice')", "Voice call", id="escalate.voice", tooltip="Call now"),
        Binding("d", "choose('deputy')", "Deputy", id="escalate.deputy", tooltip="Page the deputy"),
        Binding("y", "choose('')", "Next step", id="escalate.yes", tooltip="The procedure's step"),
        Binding("n,escape", "cancel", "Cancel", id="escalate.no", tooltip="Change nothing"),
    ]

    def __init__(self, choice: EscalateChoice) -> None:
        super().__init__()
        self.choice = choice

    @property
    def question(self) -> str:
        c = self.choice
        lines = [f"Escalate {printable(c.name)} now?"]
        for n, kind in enumerate(c.steps):
            key = "v" if kind is ActionKind.VOICE else "d"
            first = " (the next step)" if n == 0 and len(c.steps) > 1 else ""
            lines.append(f"  {key}  {printable(step_words(c, kind))}{first}")
        if c.voice_ignored:
            lines.append(f"{printable(c.name)} did not answer the voice call already placed.")
        return "\n".join(lines)

    def compose(self) -> ComposeResult:
        with Vertical(id="escalate-box", classes="dialog"):
            yield Static(Content(self.question), id="confirm-question")
            with Horizontal(classes="buttons"):
                for n, kind in enumerate(self.choice.steps):
                    label = "Voice call [v]" if kind is ActionKind.VOICE else "Deputy [d]"
                    yield Button(
                        Content(label), id=kind.value, variant="warning" if n == 0 else "default"
                    )
                yield Button(Content("Cancel [n]"), id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "no":
            self.dismiss(None)
        else:
            self.action_choose(event.button.id or "")

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_choose(self, kind: str) -> None:
        step = ActionKind(kind) if kind else self.choice.steps[0]
        if step not in self.choice.steps:
            self.notify(f"{step.value}: not possible for {self.choice.name} now", markup=False)
            return
        if step is ActionKind.VOICE and self.choice.voice_ignored:
            name = printable(self.choice.name)

            def answered(yes: bool | None) -> None:
                if yes:
                    self.dismiss(step)

            self.app.push_screen(
                ConfirmScreen(
                    f"{name} did not answer the last voice call.\nCall {name} again?",
                    yes="Call again",
                ),
                answered,
            )
            return
        self.dismiss(step)
