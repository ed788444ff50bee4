"""Help: every key of the screen beneath, generated from its live bindings (never hand-written),
so a remapped key or a new action shows here without anyone remembering to update it."""

from __future__ import annotations

import textwrap
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from mim_console.domain.text import one_line
from mim_console.widgets.fittable import shorten
from mim_console.widgets.literal import lit


def _described(node: object, keymap: Any) -> list[Binding]:
    """The node's described bindings, with the keymap setting's remapped keys."""
    bindings = getattr(node, "_bindings", None)
    if bindings is None:
        return []
    bindings = bindings.copy()
    if keymap:
        bindings.apply_keymap(keymap)
    out: list[Binding] = []
    for found in bindings.key_to_bindings.values():
        out.extend(b for b in found if b.description)
    return out


def _enabled(node: object, binding: Binding) -> bool:
    check = getattr(node, "check_action", None)
    if check is None:
        return True
    action = binding.action.split("(", 1)[0].removeprefix("app.")
    try:
        return check(action, ()) is not False
    except Exception:  # a screen's own check failing must not hide its help
        return True


def key_rows(screen: Screen[object]) -> list[tuple[str, str, str, str]]:
    """(where, key, action, explanation) of every key: the screen's own, whatever has the
    focus, then the ones that work everywhere, then the focused widget's own keys below them
    (a text field's editing keys). Keys that cannot apply now (``check_action``) are left out."""
    app = screen.app
    rows: list[tuple[int, str, str, str, str]] = []
    seen: set[tuple[str, str]] = set()

    def add(rank: int, where: str, node: object, binding: Binding) -> None:
        if not _enabled(node, binding):
            return
        key = app.get_key_display(binding)
        if (key, binding.description) in seen:
            return
        seen.add((key, binding.description))
        # Textual's generic keys (no id) after the console's own at the same rank.
        rows.append(
            (rank + (0 if binding.id else 1), where, key, binding.description, binding.tooltip)
        )

    keymap = getattr(app, "_keymap", None)
    for binding in _described(screen, keymap):
        where = "everywhere" if binding.action.startswith("app.") else "this screen"
        add(0 if where == "this screen" else 2, where, screen, binding)
    for binding in _described(app, keymap):
        add(2, "everywhere", app, binding)
    node = screen.focused
    while node is not None and node is not screen:
        for binding in _described(node, keymap):
            add(4, type(node).__name__, node, binding)
        node = node.parent  # type: ignore[assignment]
    rows.sort(key=lambda r: (r[0], r[3].casefold()))
    return [r[1:] for r in rows]


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,q,question_mark,f1",
            "dismiss",
            "Close help",
            id="help.close",
            tooltip="Back to the screen",
        ),
    ]

    def __init__(self, target: Screen[object]) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        title = getattr(self.target, "HELP_TITLE", type(self.target).__name__)
        about = getattr(self.target, "HELP_TEXT", "")
        with Vertical(id="help-box", classes="dialog"):
            yield Static(Content(f"Keys: {title}"), classes="dialog-title")
            if about:
                yield Static(Content(about), id="help-about")
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Static(
                Content("Ctrl+P opens the command palette: every action by name. Esc closes."),
                classes="hint",
            )

    def on_mount(self) -> None:
        """As wide as the terminal, the explanations wrapped in their column (never cut)."""
        table = self.query_one(DataTable)
        rows = key_rows(self.target)
        # The dialog's border and padding (6) and the table's cell padding (2 per column).
        inner = max(40, self.app.size.width - 6 - 8 - 1)
        key_w = min(12, max((len(r[1]) for r in rows), default=3))
        action_w = min(18, max((len(r[2]) for r in rows), default=6))
        where_w = min(14, max((len(r[0]) for r in rows), default=5))
        tip_w = max(16, inner - key_w - action_w - where_w)
        table.add_column("key", width=key_w)
        table.add_column("action", width=action_w)
        table.add_column("what it does", width=tip_w)
        table.add_column("where", width=where_w)
        for where, key, action, tip in rows:
            lines = textwrap.wrap(one_line(tip), tip_w) or [""]
            table.add_row(
                shorten(Text(key, style="bold"), key_w),
                shorten(lit(action), action_w),
                Text("\n".join(lines)),  # our own tooltips: plain text, never markup
                shorten(lit(where), where_w),
                height=len(lines),
            )
        table.focus()
