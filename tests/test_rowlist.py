"""RowList: literal cells, cursor keys that keep the cursor on screen, painting from a list."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from textual.app import App, ComposeResult

from mim_console.domain.text import one_line
from mim_console.widgets.rowlist import ELLIPSIS, Row, RowList, fit

COLUMNS = [("name", 12), ("phone", 8)]


class ListApp(App[None]):
    def __init__(self, rows: list[Row]) -> None:
        super().__init__()
        self.rows = rows
        self.selected: list[int] = []

    def compose(self) -> ComposeResult:
        yield RowList(COLUMNS, id="list")

    def on_mount(self) -> None:
        rows = self.query_one(RowList)
        rows.set_rows(self.rows)
        rows.focus()

    def on_row_list_selected(self, message: RowList.Selected) -> None:
        self.selected.append(message.row)


def painted(widget: RowList, y: int) -> str:
    return "".join(segment.text for segment in widget.render_line(y))


def people(n: int) -> list[Row]:
    return [Row([f"Person {i:05d}", f"+358{i:04d}"], key=i) for i in range(n)]


@given(st.text(), st.integers(min_value=0, max_value=40))
def test_fit_is_always_exactly_the_width(text: str, width: int) -> None:
    text = one_line(text)  # what the list hands to fit: control characters already escaped
    out = fit(text, width)
    if cell_len(text) <= width:
        assert out.startswith(text) and cell_len(out) == width
    else:
        assert cell_len(out) == width  # a wide character at the edge becomes a space
        if width > 1:
            assert out.rstrip().endswith(ELLIPSIS)


async def test_cells_are_shown_literally() -> None:
    rows = [Row(["[bold red]Eve[/]", "\x1b[31m"]), Row([("[dim]x", "dim"), ""])]
    app = ListApp(rows)
    async with app.run_test(size=(40, 8)) as pilot:
        await pilot.pause()
        widget = app.query_one(RowList)
        assert painted(widget, 0).startswith(" name          phone ")
        assert "[bold red]Eve[/]"[:11] in painted(widget, 1)
        assert "\\x1b[31m" in painted(widget, 1)
        assert "\x1b" not in painted(widget, 1)
        assert painted(widget, 2).startswith(" [dim]x ")
        assert rows[0].texts() == ["[bold red]Eve[/]", "\\x1b[31m"]


async def test_cursor_keys_keep_the_cursor_on_screen() -> None:
    app = ListApp(people(500))
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        widget = app.query_one(RowList)
        visible = widget.scrollable_content_region.height - 1  # below the header
        await pilot.press("down", "down")
        assert widget.cursor_row == 2
        await pilot.press("pagedown")
        assert widget.cursor_row == 2 + visible
        await pilot.press("end")
        await pilot.pause()
        assert widget.cursor_row == 499
        top = round(widget.scroll_y)
        assert top <= 499 < top + visible
        assert f"Person {499:05d}" in "".join(painted(widget, y) for y in range(visible + 1))
        await pilot.press("home")
        await pilot.pause()
        assert widget.cursor_row == 0 and round(widget.scroll_y) == 0
        await pilot.press("up")
        assert widget.cursor_row == 0
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.selected == [1]


async def test_new_rows_replace_the_old_and_the_cursor_is_clamped() -> None:
    app = ListApp(people(300))
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        widget = app.query_one(RowList)
        await pilot.press("end")
        await pilot.pause()
        few = people(3)
        widget.set_rows(few, cursor=250)
        await pilot.pause()
        assert widget.cursor_row == 2 and widget.row_count == 3
        assert round(widget.scroll_y) == 0
        assert painted(widget, 3).startswith(" Person 00002")
        assert painted(widget, 4).strip() == ""
        widget.set_rows([])
        await pilot.pause()
        assert widget.row_count == 0 and widget.cursor_row == 0
        await pilot.press("down", "enter")  # nothing to move to or select: no error
        assert app.selected == []


async def test_a_row_is_built_once_and_reused() -> None:
    rows = people(50)
    app = ListApp(rows)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        widget: Any = app.query_one(RowList)
        first = rows[0]._line
        assert first is not None
        widget.set_rows(rows[:10])
        await pilot.pause()
        assert rows[0]._line is first
        assert rows[40]._line is None  # never on screen, never built


async def test_a_click_moves_the_cursor_and_a_double_click_opens() -> None:
    app = ListApp(people(20))
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        widget = app.query_one(RowList)
        await pilot.click(RowList, offset=(2, 3))  # the header is line 0: row 2
        await pilot.pause()
        assert widget.cursor_row == 2 and app.selected == []
        await pilot.click(RowList, offset=(2, 0))  # the header: nothing changes
        assert widget.cursor_row == 2
        await pilot.click(RowList, offset=(2, 5), times=2)
        await pilot.pause()
        assert widget.cursor_row == 4 and app.selected == [4]
