"""Checkboxes that read on a monochrome terminal: ticked shows ✔, unticked shows a blank.

Textual's own toggles draw the same ``X`` either way and tell them apart by colour only.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from textual.content import Content
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList
from textual.widgets.option_list import OptionDoesNotExist

TICK = "✔"


class TickBox(Checkbox):
    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = TICK if self.value else " "
        return super()._button


class TickList(SelectionList[Any]):
    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        _, scroll_y = self.scroll_offset
        try:
            selection = self.get_option_at_index(scroll_y + y)
        except OptionDoesNotExist:
            return strip
        segments = list(strip)
        if len(segments) < 2:
            return strip
        inner = segments[1]
        segments[1] = Segment(TICK if selection.value in self._selected else " ", inner.style)
        return Strip(segments, strip.cell_length)
