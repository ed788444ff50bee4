"""Two versions of a text side by side as a unified diff: what the approver is signing off."""

from __future__ import annotations

import difflib
import re
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


def word_diff(old: str, new: str) -> Text:
    """Word by word, as `git diff --word-diff` writes it: [-removed-] and {+added+}, so a
    one-line SMS whose last sentence changed does not read as two whole different lines."""
    a = re.findall(r"\S+|\s+", old)
    b = re.findall(r"\S+|\s+", new)
    out = Text()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(printable("".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            out.append(f"[-{printable(''.join(a[i1:i2]))}-]", style="bold red strike")
        if op in ("insert", "replace"):
            out.append(f"{{+{printable(''.join(b[j1:j2]))}+}}", style="bold green")
    return out


class DiffScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    #diff-box { width: 96; height: 90%; }
    #diff-scroll { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="diff.close", tooltip="Back to the drafts"),
    ]

    def __init__(self, title: str, diff: str, old: str = "", new: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.diff = diff
        self.old = old
        self.new = new

    def compose(self) -> ComposeResult:
        with Vertical(id="diff-box", classes="dialog"):
            yield Static(Content(self.title_text), classes="dialog-title")
            with VerticalScroll(id="diff-scroll"):
                if self.diff:
                    yield Static(Content("Word by word:"), classes="section-title")
                    yield Static(word_diff(self.old, self.new), id="diff-words")
                    yield Static(Content("Line by line:"), classes="section-title")
                yield Static(diff_text(self.diff), id="diff-text")
            yield Static(
                Content("[-removed-] {+added+} · - removed + added lines · ↑/↓ scroll · Esc"),
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#diff-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
