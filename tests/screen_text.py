"""The screen as plain text lines (for tests that read a whole screen, and for reading
snapshot changes line by line)."""

from __future__ import annotations

from typing import Any

from textual.app import App


def screen_lines(app: App[Any]) -> list[str]:
    """Every line of what the terminal shows now, without styles."""
    strips = app.screen._compositor.render_strips()
    return ["".join(segment.text for segment in strip) for strip in strips]
