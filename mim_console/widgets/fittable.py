"""The layout rule for tables: at any width every visible cell is complete or ends in "…", and
the columns that do not fit move into the detail line instead of running off the edge.

``Col`` says how a column behaves when the screen is narrow: ``drop`` orders which columns move
out first (0: never), ``min_width`` how far it may shrink (with "…") before that, ``grow``
whether it takes spare width up to its longest cell. ``plan`` is the pure rule; ``FitTable`` is
a ``DataTable`` that applies it on every resize and keeps the full cells, so ``detail_words``
can spell out what is shortened or moved for the row under the cursor.

How to use it (other screens' columns go through it too)::

    COLS = (Col("unit", "unit", 16, min_width=10, grow=True),
            Col("phone", "phone", 13, drop=1, detail="☎ {}"))
    table = FitTable(COLS, id="rc-table")
    table.set_rows([(key, (Text(...), "…")) for ...])     # full texts, never pre-cut
    table.detail_words(key)  # ["☎ +358…"]: the moved / shortened cells of that row, in full

Cells are literal (``str`` becomes ``Text`` with no markup parsing).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.widgets import DataTable

ELLIPSIS = "…"
PADDING = 2  # DataTable puts one space either side of every cell


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    width: int  # the width it gets when there is room
    min_width: int | None = None  # it may shrink to this (cells end in "…") before moving out
    drop: int = 0  # 0: always shown; otherwise the highest number moves out first
    grow: bool = False  # takes spare width, up to its longest cell
    detail: str = ""  # how the detail line says it: "joined {}" ("" = "label: {}")

    @property
    def floor(self) -> int:
        return self.width if self.min_width is None else min(self.min_width, self.width)

    def in_detail(self, text: str) -> str:
        return (self.detail or f"{self.label}: {{}}").replace("{}", text)


@dataclass(frozen=True)
class Plan:
    widths: tuple[tuple[str, int], ...]  # the shown columns, in order, with their widths
    moved: tuple[str, ...]  # keys of the columns moved into the detail line


def plan(columns: Sequence[Col], available: int, natural: dict[str, int] | None = None) -> Plan:
    """Which columns fit in ``available`` cells and how wide each is.

    Droppable columns move out (highest ``drop`` first) until the rest fit at their widths;
    with none left to move, columns shrink (widest first, down to ``min_width``); spare width
    goes to ``grow`` columns up to their ``natural`` (longest cell) width."""
    natural = natural or {}
    shown = list(columns)
    droppable = sorted((c for c in columns if c.drop), key=lambda c: -c.drop)

    def need(cols: Iterable[Col], attr: str) -> int:
        return sum(getattr(c, attr) + PADDING for c in cols)

    while need(shown, "width") > available and droppable:
        shown.remove(droppable.pop(0))
    widths = {c.key: c.width for c in shown}
    excess = sum(w + PADDING for w in widths.values()) - available
    if excess > 0:
        # Shrink the widest shrinkable columns first, a cell at a time, down to their floor.
        floors = {c.key: c.floor for c in shown}
        while excess > 0:
            candidates = [k for k in widths if widths[k] > floors[k]]
            if not candidates:
                break
            widest = max(candidates, key=lambda k: widths[k] - floors[k])
            widths[widest] -= 1
            excess -= 1
    else:
        spare = -excess
        growers = [c for c in shown if c.grow]
        while spare > 0 and growers:
            wanting = [c for c in growers if widths[c.key] < natural.get(c.key, c.width)]
            if not wanting:
                break
            for c in wanting:
                if spare <= 0:
                    break
                widths[c.key] += 1
                spare -= 1
    moved = tuple(c.key for c in columns if c not in shown)
    return Plan(tuple((c.key, widths[c.key]) for c in shown), moved)


def shorten(cell: str | Text, width: int) -> Text:
    """The cell in at most ``width`` cells: whole, or cut with "…" (styles kept)."""
    text = cell if isinstance(cell, Text) else Text(cell)
    if cell_len(text.plain) <= width:
        return text
    out = text.copy()
    out.truncate(max(width, 1), overflow="ellipsis")
    if not out.plain.endswith(ELLIPSIS):  # width 1 keeps the first character in Rich
        out = Text(ELLIPSIS)
    return out


Cells = Sequence[str | Text]


def _as_text(cell: str | Text) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


class FitTable(DataTable[Any]):
    """A row-cursor ``DataTable`` whose columns follow ``plan`` at the current width."""

    def __init__(
        self,
        columns: Sequence[Col],
        *,
        id: str | None = None,  # noqa: A002 - Textual's name for it
        classes: str | None = None,
        zebra_stripes: bool = True,
    ) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=zebra_stripes)
        self.cols = tuple(columns)
        self._index = {c.key: i for i, c in enumerate(self.cols)}
        self._rows: dict[str, tuple[Text, ...]] = {}
        self._order: list[str] = []
        self._natural: dict[str, int] = {}
        self._plan: Plan | None = None
        self._available = 0

    # -- layout --------------------------------------------------------------------------------

    def _available_width(self) -> int:
        # The vertical scrollbar's room is kept free, so rows that come and go never re-plan.
        return max(0, self.size.width - self.styles.scrollbar_size_vertical)

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()

    def _measure(self, cells: Iterable[tuple[Text, ...]]) -> bool:
        """Longest cell per column (labels included); True when it changed."""
        natural = {c.key: cell_len(c.label) for c in self.cols}
        for row in cells:
            for col, text in zip(self.cols, row, strict=False):
                length = cell_len(text.plain)
                if length > natural[col.key]:
                    natural[col.key] = length
        changed = natural != self._natural
        self._natural = natural
        return changed

    def _relayout(self, *, force: bool = False) -> None:
        available = self._available_width()
        if not available:
            return
        self._available = available
        new = plan(self.cols, available, self._natural)
        if new == self._plan and not force:
            return
        self._plan = new
        cursor = self.cursor_row
        self.clear(columns=True)
        for key, width in new.widths:
            col = self.cols[self._index[key]]
            self.add_column(shorten(col.label, width), key=key, width=width)
        for key in self._order:
            self.add_row(*self._fitted(self._rows[key]), key=key)
        if self._order:
            self.move_cursor(row=min(cursor, len(self._order) - 1))

    def _fitted(self, cells: tuple[Text, ...]) -> list[Text]:
        assert self._plan is not None
        return [shorten(cells[self._index[key]], width) for key, width in self._plan.widths]

    # -- rows ----------------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[tuple[str, Cells]]) -> None:
        """Show ``rows`` (key, full cells in column order): unchanged rows keep their cells, so
        a reload with the same rows in the same order updates only the cells that changed."""
        full = [(key, tuple(_as_text(c) for c in cells)) for key, cells in rows]
        order = [key for key, _ in full]
        remeasured = self._measure(cells for _, cells in full)
        if remeasured and self._plan is not None:
            new = plan(self.cols, self._available_width() or self._available, self._natural)
            if new != self._plan:
                self._rows = dict(full)
                self._order = order
                self._relayout(force=True)
                return
        if self._plan is None:
            self._rows = dict(full)
            self._order = order
            self._relayout(force=True)
            return
        if order[: len(self._order)] == self._order:  # the same rows, maybe more at the end
            known = len(self._order)
            for key, cells in full[:known]:
                self.update_row(key, cells)
            for key, cells in full[known:]:
                self._rows[key] = cells
                self.add_row(*self._fitted(cells), key=key)
            self._order = order
            return
        cursor_key = self.cursor_key()
        self._rows = dict(full)
        self._order = order
        self.clear()
        for key in order:
            self.add_row(*self._fitted(self._rows[key]), key=key)
        if cursor_key in self._rows:
            self.move_cursor(row=order.index(cursor_key))

    def update_row(self, key: str, cells: Cells) -> None:
        """New cells for one row already shown (only the changed, visible ones repaint)."""
        new = tuple(_as_text(c) for c in cells)
        old = self._rows.get(key)
        if old is None:
            return
        self._rows[key] = new
        if self._plan is None:
            return
        for col_key, width in self._plan.widths:
            i = self._index[col_key]
            if i >= len(old) or old[i] != new[i]:
                self.update_cell(key, col_key, shorten(new[i], width))

    def cursor_key(self) -> str | None:
        if self.row_count == 0 or not self._order:
            return None
        row = self.cursor_row
        return self._order[row] if 0 <= row < len(self._order) else None

    def full_cells(self, key: str) -> tuple[Text, ...] | None:
        return self._rows.get(key)

    def detail_words(self, key: str | None, *, skip: Iterable[str] = ()) -> list[str]:
        """The row's cells that are not fully visible (moved out or shortened), each as its
        column's ``detail`` says it; ``skip``: column keys the caller shows anyway."""
        cells = self._rows.get(key) if key is not None else None
        if cells is None or self._plan is None:
            return []
        out = []
        shown = dict(self._plan.widths)
        skipped = set(skip)
        for col, text in zip(self.cols, cells, strict=False):
            if col.key in skipped:
                continue
            width = shown.get(col.key)
            if text.plain and (width is None or cell_len(text.plain) > width):
                out.append(col.in_detail(text.plain))
        return out
