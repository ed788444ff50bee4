"""A read-only table that paints only the rows on screen, from a plain Python list.

Textual's ``DataTable`` keeps its own copy of every row and rebuilds it on ``clear()`` +
``add_row``: over thousands of rows each keystroke of a search-as-you-type waits for that.
``RowList`` is given a list of ``Row`` objects and paints a line at a time (Textual's Line API),
so replacing 10,000 rows by 3 is one assignment and a repaint of the visible lines. A row's
line is built once, the first time it is painted, and reused while the row object lives.

Cells are always literal: they become plain ``Segment`` text (never parsed as markup) after
``one_line`` has escaped control characters, so a stored ``[bold]Eve[/]`` or an ESC byte shows
as typed. The look follows ``DataTable``'s (bold header on ``$panel``, zebra stripes, block
cursor when focused) so screens keep their appearance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from mim_console.widgets.fittable import Col, plan
from mim_console.widgets.literal import _cell

ELLIPSIS = "…"


class Row:
    """One row: its cells (``str``, or ``(str, style)`` for a styled cell) and an optional key.

    Build rows once (e.g. in the worker that loads the data) and hand the same objects to
    ``RowList.set_rows`` on every filter: the painted line is cached on the row.
    """

    __slots__ = ("_line", "cells", "key")

    def __init__(self, cells: Sequence[str | tuple[str, str]], key: object = None) -> None:
        self.cells = tuple(cells)
        self.key = key
        self._line: tuple[object, Strip] | None = None

    def texts(self) -> list[str]:
        """The cells as shown (escaped, one line), without styles: for tests and copying."""
        return [_cell(c if isinstance(c, str) else c[0]) for c in self.cells]


def fit(text: str, width: int) -> str:
    """``text`` in exactly ``width`` terminal cells: padded, or cut with an ellipsis."""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    if width <= 1:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + ELLIPSIS


_styles: dict[str, Style] = {}


def _style(name: str) -> Style:
    style = _styles.get(name)
    if style is None:
        style = _styles[name] = Style.parse(name) if name else Style()
    return style


class RowList(ScrollView, can_focus=True):
    """Columns of fixed width, a header that stays put, a cursor row; Enter selects it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False, tooltip="Previous row"),
        Binding("down", "cursor_down", "Down", show=False, tooltip="Next row"),
        Binding("pageup", "page_up_rows", "Page up", show=False, tooltip="A screenful up"),
        Binding("pagedown", "page_down_rows", "Page down", show=False, tooltip="A screenful down"),
        Binding("home,ctrl+home", "first", "First row", show=False, tooltip="The first row"),
        Binding("end,ctrl+end", "last", "Last row", show=False, tooltip="The last row"),
        Binding("left", "scroll_left", "Scroll left", show=False, tooltip="Columns to the left"),
        Binding(
            "right", "scroll_right", "Scroll right", show=False, tooltip="Columns to the right"
        ),
        Binding("enter", "select", "Open", show=False, tooltip="Open the selected row"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rowlist--header",
        "rowlist--even-row",
        "rowlist--cursor",
    }

    DEFAULT_CSS = """
    RowList {
        background: $surface;
        color: $foreground;
        height: 1fr;
        &:focus {
            background-tint: $foreground 5%;
            & > .rowlist--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .rowlist--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .rowlist--even-row {
            background: $surface-darken-1 40%;
        }
        & > .rowlist--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .rowlist--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .rowlist--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .rowlist--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    class Highlighted(Message):
        """The cursor moved to ``row`` (an index into the rows shown)."""

        def __init__(self, row_list: RowList, row: int) -> None:
            super().__init__()
            self.row_list = row_list
            self.row = row

        @property
        def control(self) -> RowList:
            return self.row_list

    class Selected(Message):
        """Enter (or a click) on ``row``."""

        def __init__(self, row_list: RowList, row: int) -> None:
            super().__init__()
            self.row_list = row_list
            self.row = row

        @property
        def control(self) -> RowList:
            return self.row_list

    def __init__(
        self,
        columns: Sequence[tuple[str, int] | Col],
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name for it
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        # ``Col``s follow the layout rule (widgets/fittable.py) at every width: the columns
        # that do not fit move out (``detail_words``); (label, width) pairs are fixed.
        self.cols = tuple(c if isinstance(c, Col) else Col(c[0], c[0], c[1]) for c in columns)
        self._rows: Sequence[Row] = ()
        self._cursor = 0
        self._paint_styles: tuple[Style, Style, Style, Style] | None = None
        self._apply(tuple(range(len(self.cols))), tuple(c.width for c in self.cols))

    def _apply(self, shown: tuple[int, ...], widths: tuple[int, ...]) -> None:
        self._shown = shown
        self.columns = tuple((self.cols[i].label, w) for i, w in zip(shown, widths, strict=True))
        self._widths = widths
        # One space either side of each cell, as DataTable pads them.
        self._line_width = sum(width + 2 for width in self._widths)
        self._header = Strip(
            [Segment(" " + fit(label, width) + " ") for label, width in self.columns],
            self._line_width,
        )
        self._set_virtual_size()

    def _replan(self) -> None:
        available = self.size.width - self.styles.scrollbar_size_vertical
        if available <= 0 or not any(c.drop or c.min_width for c in self.cols):
            return
        laid = plan(self.cols, available)
        index = {c.key: i for i, c in enumerate(self.cols)}
        shown = tuple(index[key] for key, _ in laid.widths)
        widths = tuple(width for _, width in laid.widths)
        if (shown, widths) != (self._shown, self._widths):
            self._apply(shown, widths)
            self.refresh()

    def detail_words(self, row: Row | None) -> list[str]:
        """The row's cells not fully shown at this width (moved out, or cut with "…")."""
        if row is None:
            return []
        texts = row.texts()
        widths = dict(zip(self._shown, self._widths, strict=True))
        out = []
        for i, (col, text) in enumerate(zip(self.cols, texts, strict=False)):
            width = widths.get(i)
            if text and (width is None or cell_len(text) > width):
                out.append(col.in_detail(text))
        return out

    # -- data ----------------------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[Row]:
        return self._rows

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    def set_rows(self, rows: Sequence[Row], cursor: int = 0) -> None:
        """Show ``rows`` (kept by reference: do not change the sequence afterwards)."""
        self._rows = rows
        self._cursor = max(0, min(cursor, len(rows) - 1))
        self._set_virtual_size()
        self._scroll_to_cursor()
        self.refresh()

    def _set_virtual_size(self) -> None:
        size = Size(self._line_width, len(self._rows) + 1)
        if size == self.virtual_size:
            return
        if not self.container_size:
            self.virtual_size = size  # not laid out yet
            return
        # Assigning ``virtual_size`` asks for a new layout of the whole screen (a full repaint)
        # on every keystroke. Only the scrollbars depend on it: update them directly; if one
        # has to appear or go, that still lays the screen out again.
        self.set_reactive(RowList.virtual_size, size)
        self._scroll_update(size)

    def move_cursor(self, row: int) -> None:
        if not self._rows:
            return
        row = max(0, min(row, len(self._rows) - 1))
        if row == self._cursor:
            return
        self._cursor = row
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self, row))

    @property
    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)  # the header takes a line

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        visible = self._visible_rows
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False, immediate=True)

    # -- keys and mouse ------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_page_up_rows(self) -> None:
        self.move_cursor(self._cursor - self._visible_rows)

    def action_page_down_rows(self) -> None:
        self.move_cursor(self._cursor + self._visible_rows)

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._rows) - 1)

    def action_select(self) -> None:
        if self._rows:
            self.post_message(self.Selected(self, self._cursor))

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        row = round(self.scroll_y) + event.y - 1
        if 0 <= row < len(self._rows):
            self.move_cursor(row)
            if event.chain > 1:
                self.post_message(self.Selected(self, row))

    def on_resize(self) -> None:
        self._replan()
        self._scroll_to_cursor()

    # -- painting ------------------------------------------------------------------------------

    def _line(self, row: Row) -> Strip:
        cached = row._line
        if cached is not None and cached[0] == (self._shown, self._widths):
            return cached[1]
        segments = []
        for index, width in zip(self._shown, self._widths, strict=True):
            cell = row.cells[index] if index < len(row.cells) else ""
            text, style = (cell, "") if isinstance(cell, str) else cell
            segments.append(Segment(" " + fit(_cell(text), width) + " ", _style(style) or None))
        line = Strip(segments).adjust_cell_length(self._line_width)
        row._line = ((self._shown, self._widths), line)
        return line

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles looked up once per paint, not once per line (each lookup walks the ancestors).
        base = self.rich_style
        self._paint_styles = (
            base,
            base + self.get_component_rich_style("rowlist--header"),
            base + self.get_component_rich_style("rowlist--cursor"),
            base + self.get_component_rich_style("rowlist--even-row"),
        )
        try:
            return super().render_lines(crop)
        finally:
            self._paint_styles = None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        styles = self._paint_styles
        if styles is None:  # called outside render_lines
            base = self.rich_style
            styles = (
                base,
                base + self.get_component_rich_style("rowlist--header"),
                base + self.get_component_rich_style("rowlist--cursor"),
                base + self.get_component_rich_style("rowlist--even-row"),
            )
        base, header, cursor, even = styles
        if y == 0:
            return self._header.crop_extend(scroll_x, scroll_x + width, None).apply_style(header)
        index = scroll_y + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, base)
        if index == self._cursor:
            style = cursor
        elif index % 2 == 0:  # zebra stripes as DataTable draws them: rows 0, 2, 4…
            style = even
        else:
            style = base
        line = self._line(self._rows[index])
        return line.crop_extend(scroll_x, scroll_x + width, None).apply_style(style)
