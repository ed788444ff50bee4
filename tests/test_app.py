"""The console driven by keystrokes (Pilot) against a real SQLite file."""

from __future__ import annotations

from textual.widgets import DataTable

from mim_console.app import make_app
from mim_console.screens.confirm import ConfirmScreen
from mim_console.screens.duty import DutyScreen, countdown
from mim_console.screens.help import HelpScreen, key_rows
from mim_console.services.context import Context
from tests.conftest import FROZEN_NOW


async def test_opens_on_duty_and_help_lists_every_screen_binding(context: Context) -> None:
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, DutyScreen)
        duty = app.screen
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-keys", DataTable)
        shown = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        for binding in DutyScreen.BINDINGS:
            assert binding.description in shown  # type: ignore[union-attr]
        assert "Help" in shown and "Quit" in shown
        await pilot.press("escape")
        assert app.screen is duty
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert app.screen is duty


async def test_every_screen_binding_has_an_id_tooltip_and_palette_entry(context: Context) -> None:
    from mim_console.app import ActionCommands

    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for binding in DutyScreen.BINDINGS:
            assert binding.id and binding.tooltip  # type: ignore[union-attr]
        provider = ActionCommands(app.screen)
        names = {name for name, _, _ in provider._commands()}
        assert {b.description for b in DutyScreen.BINDINGS} <= names  # type: ignore[union-attr]


async def test_confirm_defaults_to_no(context: Context) -> None:
    app = make_app(context, dispatch=False)
    answers: list[bool | None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(ConfirmScreen("Page 3 people?"), answers.append)
        await pilot.pause()
        await pilot.press("enter")  # the focused button is "Cancel"
        await pilot.pause()
        app.push_screen(ConfirmScreen("Page 3 people?"), answers.append)
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        app.push_screen(ConfirmScreen("Page 3 people?"), answers.append)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
    assert answers == [False, True, False]


async def test_keymap_setting_remaps_a_binding(context: Context) -> None:
    from dataclasses import replace

    ctx = Context(
        settings=replace(context.settings, keymap={"app.help": "f2"}), clock=context.clock
    )
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("f2")
        assert isinstance(app.screen, HelpScreen)
        rows = key_rows(app.screen_stack[-2])
        assert any(key == "f2" and action == "Help" for _, key, action, _ in rows)
    ctx.close()


def test_countdown_words() -> None:
    from datetime import timedelta

    assert countdown(FROZEN_NOW, FROZEN_NOW + timedelta(minutes=5)) == "in 5m"
    assert countdown(FROZEN_NOW, FROZEN_NOW + timedelta(hours=3, minutes=7)) == "in 3h 07m"
    assert countdown(FROZEN_NOW, FROZEN_NOW + timedelta(days=2, hours=1)) == "in 2d 1h"
    assert countdown(FROZEN_NOW, FROZEN_NOW - timedelta(minutes=5)) == "in 0m"
