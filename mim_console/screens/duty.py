"""Duty: the home screen. Who is on duty now and next, each party's seat, active incidents."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


class DutyScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Duty", id="duty-title")
        yield Footer()
