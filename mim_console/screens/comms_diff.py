"""Two versions of a text side by side as a unified diff: what the approver is signing off."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from mim_console.domain.text import printable


def diff_text(diff: str) -> Text:
    """The diff with its +/- signs kept (they carry the meaning) and colour as a help."""
    out = Text()
    if not diff:
        out.append("The two versions are identical.")
        return out
    for line in diff.splitlines():
        shown = printable(line) + "\n"
        if line.startswith(("+++", "---")):
            out.append(shown, style="bold")
        elif line.startswith("@@"):
            out.append(shown, style="cyan")
        elif line.startswith("+"):
            out.append(shown, style="green")
        elif line.startswith("-"):
            out.append(shown, style="red")
        else:
            out.append(shown)
    out.rstrip()
    return out


class DiffScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    #diff-box { width: 96; height: 90%; }
    #diff-scroll { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="diff.close", tooltip="Back to the drafts"),
    ]

    def __init__(self, title: str, diff: str) -> None:
        super().__init__()
        self.title_text = title
        self.diff = diff

    def compose(self) -> ComposeResult:
        with Vertical(id="diff-box", classes="dialog"):
            yield Static(Content(self.title_text), classes="dialog-title")
            with VerticalScroll(id="diff-scroll"):
                yield Static(diff_text(self.diff), id="diff-text")
            yield Static(Content("- removed · + added · ↑/↓ scroll · Esc closes"), classes="hint")

    def on_mount(self) -> None:
        self.query_one("#diff-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
