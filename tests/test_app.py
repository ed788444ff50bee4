"""The console driven by keystrokes (Pilot) against a real SQLite file."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from mim_console.app import make_app
from mim_console.config import Settings
from mim_console.domain.incident import State
from mim_console.domain.text import countdown
from mim_console.notifiers.dispatcher import DispatcherConfig
from mim_console.screens.close import CloseScreen
from mim_console.screens.confirm import ConfirmScreen
from mim_console.screens.declare import DeclareScreen
from mim_console.screens.duty import DutyScreen
from mim_console.screens.help import HelpScreen, key_rows
from mim_console.screens.rollcall import RollCallScreen
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import ThreadedStandIn
from mim_console.widgets.rowlist import RowList
from tests.conftest import FROZEN_NOW
from tests.twilio_fixtures import standin_twilio_settings
from tests.ui_data import PEOPLE, seed_small


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
        # "instead of ? / F1": the screens' own Help key (first in their footer) moved too.
        assert not any(key in ("?", "f1") for _, key, _, _ in rows)
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)
    ctx.close()


def test_countdown_words() -> None:
    from datetime import timedelta

    assert countdown(FROZEN_NOW, FROZEN_NOW + timedelta(minutes=5)) == "in 5m"
    assert countdown(FROZEN_NOW, FROZEN_NOW + timedelta(hours=3, minutes=7)) == "in 3h 07m"
    assert countdown(FROZEN_NOW, FROZEN_NOW + timedelta(days=2, hours=1)) == "in 2d 1h"
    assert countdown(FROZEN_NOW, FROZEN_NOW - timedelta(minutes=5)) == "in 0m"


# --- the whole incident by keys, against the Twilio stand-in -----------------------------------

FAST = DispatcherConfig(
    heartbeat_s=0.1,
    lease_ttl_s=2.0,
    inbound_poll_s=0.1,
    status_poll_s=0.1,
    tick_s=0.2,
    idle_poll_s=0.5,  # the console wakes the dispatcher itself after queueing alerts
)


async def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait while the app (on this loop) and the stand-in (its own thread) do their work."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        if condition():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the console")
        await asyncio.sleep(0.05)


async def test_duty_paints_first_then_checks_readiness_and_loads_one_at_a_time(
    context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reloads asked for while the first load runs (the dispatcher's first report) wait for it,
    and the readiness check, which reads the whole directory, starts after the first paint."""
    from mim_console.screens import duty
    from mim_console.services import readiness

    seed_small(context.store, FROZEN_NOW)
    gate = threading.Event()
    events: list[str] = []

    def held_load(ctx: Context) -> duty.DutyView:
        events.append("load")
        gate.wait(10)
        return real_load(ctx)

    def seen_check(ctx: Context) -> readiness.Readiness:
        events.append("readiness")
        return real_check(ctx)

    real_load, real_check = duty.load_duty_view, readiness.readiness
    monkeypatch.setattr(duty, "load_duty_view", held_load)
    monkeypatch.setattr(readiness, "readiness", seen_check)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: events == ["load"])
        screen = app.screen
        assert isinstance(screen, DutyScreen)
        for _ in range(3):
            screen.reload()
        await pilot.pause(0.2)
        assert events == ["load"] and not screen.shown_once
        gate.set()
        await wait_for(lambda: "readiness" in events)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.shown_once
        assert events == ["load", "load", "readiness"] or events == ["load", "readiness", "load"]
        line = str(screen.query_one("#readiness", Static).render())
        assert "w: all" in line


def states(service: IncidentService, code: str) -> dict[str, State]:
    return {s.person.name: s.participant.state for s in service.roll_call(code).seats}


async def test_declare_replies_release_recall_note_close_by_keys(
    db_path: Path, threaded_standin: ThreadedStandIn
) -> None:
    settings = Settings(db_path=db_path, twilio=standin_twilio_settings(threaded_standin.url))
    ctx = Context(settings=settings, clock=lambda: FROZEN_NOW, actor="tester")
    seed_small(ctx.store, FROZEN_NOW)
    mobiles = {name: mobile for name, mobile, _, _ in PEOPLE}
    joiners = ["Aino Aalto", "Helmi Heikkinen", "Kaisa Mäkinen"]  # Eve never answers
    for name in joiners:
        threaded_standin.script_reply(mobiles[name], "1", after=0.05)
    threaded_standin.script_reply(mobiles["Leena Nieminen"], "2", after=0.05)
    service = IncidentService(ctx)
    app = make_app(ctx, dispatch_config=FAST)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        assert isinstance(app.screen, DeclareScreen)
        await pilot.press(*"DB down")
        await pilot.press("tab", "tab", "tab", "tab")
        await pilot.press(*"payments")
        declare = app.screen
        await wait_for(
            lambda: declare.preview is not None and declare.preview.form.categories == ("payments",)
        )
        await pilot.press("ctrl+s")
        await pilot.pause()
        question = str(app.screen.question)  # type: ignore[attr-defined]
        # Duty manager (also a party primary), three party primaries, two database specialists.
        assert "page 5 people" in question and "“DB down”" in question
        assert service.incidents() == []  # nobody paged before the yes
        await pilot.press("y")
        await wait_for(lambda: isinstance(app.screen, RollCallScreen))
        roll = app.screen
        assert isinstance(roll, RollCallScreen)
        code = service.incidents()[0].code
        # The replies arrive through the stand-in and the in-app dispatcher: no key pressed.
        await wait_for(
            lambda: (
                roll.view is not None
                and sum(s.state is State.JOINED for s in roll.view.seats) == len(joiners)
                and any(s.state is State.UNABLE for s in roll.view.seats)
            )
        )
        assert len(threaded_standin.messages(direction="outbound-api")) == 5
        # Release two joined specialists/MRT members marked with space.
        table = roll.query_one("#rc-table")
        names = [s.name for s in roll.view.seats]  # type: ignore[union-attr]
        # The row under the cursor is spelled out below the table, with the phone that is off
        # the edge of an 80-column table.
        table.move_cursor(row=names.index("Kaisa Mäkinen"))  # type: ignore[attr-defined]
        await pilot.pause()
        detail = str(roll.query_one("#rc-detail", Static).render())
        assert detail.startswith("Kaisa Mäkinen · ") and f"☎ {mobiles['Kaisa Mäkinen']}" in detail
        for target in ("Helmi Heikkinen", "Kaisa Mäkinen"):
            table.move_cursor(row=names.index(target))  # type: ignore[attr-defined]
            await pilot.press("space")
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen))
        question = str(app.screen.question)  # type: ignore[attr-defined]
        assert question.startswith("Release ") and "to standby?\nEach gets" in question
        assert "Helmi Heikkinen" in question and "Kaisa Mäkinen" in question
        assert states(service, code)["Kaisa Mäkinen"] is State.JOINED  # nothing before the yes
        await pilot.press("y")
        await wait_for(lambda: states(service, code)["Kaisa Mäkinen"] is State.STANDBY)
        assert states(service, code)["Helmi Heikkinen"] is State.STANDBY
        # Recall everyone on standby (nothing marked): a confirmation first, then SMS.
        await pilot.press("b")
        await pilot.pause()
        question = str(app.screen.question)  # type: ignore[attr-defined]
        assert question.startswith("Recall ") and "from standby?\nEach gets" in question
        assert "Helmi Heikkinen" in question and "Kaisa Mäkinen" in question
        await pilot.press("y")
        await wait_for(lambda: states(service, code)["Kaisa Mäkinen"] is not State.STANDBY)
        # A note by keys.
        await pilot.press("n")
        await pilot.press(*"ok [b]")
        await pilot.press("ctrl+s")
        await wait_for(lambda: any(e.kind == "note" for e in service.timeline(code)))
        assert [e.text for e in service.timeline(code) if e.kind == "note"] == ["ok [b]"]
        # Close: the form asks for the problem case; Enter only moves on, Ctrl+S closes.
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CloseScreen)
        await pilot.press(*"PRB-77", "enter", *"Alice Ops", "enter")
        assert service.incident(code).status.value == "active"
        await pilot.press("ctrl+s")
        await wait_for(lambda: service.incident(code).status.value == "closed")
        assert set(states(service, code).values()) == {State.STOOD_DOWN}
        closed = service.incident(code)
        assert (closed.problem_ref, closed.problem_owner, closed.problem_summary) == (
            "PRB-77",
            "Alice Ops",
            None,
        )
    ctx.close()


# --- directory ---------------------------------------------------------------------------------


async def test_slash_in_the_directory_starts_a_new_search(context: Context) -> None:
    """The footer says "/ Search": pressed while the filter has the focus it is not typed in."""
    from mim_console.screens.directory import DirectoryScreen

    seed_small(context.store, FROZEN_NOW)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        screen = app.screen
        assert isinstance(screen, DirectoryScreen)
        await wait_for(lambda: screen.shown_once)
        search = screen.query_one("#dir-filter", Input)
        await pilot.press("slash", *"eve")
        assert search.value == "eve"
        await wait_for(lambda: len(screen.shown) == 1)
        await pilot.press("slash", *"al")
        assert search.value == "al"


async def test_directory_filters_adds_edits_deactivates_by_keys(context: Context) -> None:
    from mim_console.data.directory import Directory
    from mim_console.screens.directory import DirectoryScreen
    from mim_console.screens.person_form import PersonFormScreen

    seed_small(context.store, FROZEN_NOW)
    directory = Directory(context.store)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        screen = app.screen
        assert isinstance(screen, DirectoryScreen)
        await wait_for(lambda: screen.shown_once)
        await pilot.press(*"eve")
        await wait_for(lambda: len(screen.shown) == 1)
        table = screen.query_one("#dir-table", RowList)
        # Stored markup and ESC bytes are shown as typed, never interpreted.
        assert table.rows[0].texts()[0] == "[bold red]Eve[/] \\x1b[31mEvil"
        # Add someone without a party (a bad phone first: the form stays open and says why).
        await pilot.press("down", "a")
        assert isinstance(app.screen, PersonFormScreen)
        await pilot.press(*"Tuuli Uusi", "tab", *"+358 40")
        await pilot.press("ctrl+s")
        form = app.screen
        error = form.query_one("#pf-error", Static)
        await wait_for(lambda: "Mobile: phone" in str(error.render()))
        assert form.focused is form.query_one("#pf-mobile", Input)
        # The mobile field has the focus, its text selected: what is typed replaces it.
        await pilot.press(*"+358 401234510")
        # A bad second phone: named as such, and the focus goes to it.
        await pilot.press("tab", "1", "2", "ctrl+s")
        await wait_for(lambda: 'Phone 2: phone "12"' in str(error.render()))
        assert form.focused is form.query_one("#pf-phone2", Input)
        await pilot.press("backspace", "backspace", "ctrl+s")
        await wait_for(lambda: app.screen is screen)
        added = directory.find_person("Tuuli Uusi")
        assert added.mobile == "+358401234510" and added.party_id is None
        # Edit: the title.
        await pilot.press("slash", "ctrl+u", *"tuuli")
        await wait_for(lambda: [e.person.id for e in screen.shown] == [added.id])
        await pilot.press("down", "e")
        await pilot.press("tab", "tab", "tab", "tab", *"DBA", "ctrl+s")
        await wait_for(lambda: directory.person(added.id).title == "DBA")
        # Deactivate, with a confirmation.
        await wait_for(lambda: app.screen is screen)
        await pilot.press("x")
        await pilot.press("y")
        await wait_for(lambda: not directory.person(added.id).active)
        await wait_for(lambda: "INACTIVE" in table.rows[0].texts()[1])  # next to the name
        await pilot.press("escape")
        assert isinstance(app.screen, DutyScreen)


async def test_directory_lists_every_match_and_enter_edits(context: Context) -> None:
    from mim_console.screens.directory import DirectoryScreen
    from mim_console.screens.person_form import PersonFormScreen

    seed_small(context.store, FROZEN_NOW)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        screen = app.screen
        assert isinstance(screen, DirectoryScreen)
        await wait_for(lambda: screen.shown_once)
        table = screen.query_one("#dir-table", RowList)
        assert table.row_count == len(screen.items) == len(PEOPLE)
        await pilot.press("down", "end")
        last = screen.shown[-1].person
        await pilot.press("enter")
        form = app.screen
        assert isinstance(form, PersonFormScreen) and form.person == last
        await pilot.press("escape")
        assert app.screen is screen


async def test_csv_import_reports_each_bad_line(context: Context, tmp_path: Path) -> None:
    from mim_console.data.directory import Directory
    from mim_console.screens.import_csv import ImportScreen

    source = tmp_path / "people.csv"
    source.write_bytes(
        "\ufeffid;name;mobile;email\n"
        "A1;Good One;040 123 4577;one@example.org\n"
        "A2;Bad Phone;+358 40;bad@example.org\n"
        "A3;[b]Two[/b];0401234578;two@example.org\n".encode()
    )
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        await wait_for(lambda: app.screen.shown_once)  # type: ignore[attr-defined]
        await pilot.press("down", "i")
        modal = app.screen
        assert isinstance(modal, ImportScreen)
        path_input = modal.query_one("#import-path")
        path_input.value = str(tmp_path / "missing.csv")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(lambda: "no such file" in str(modal.query_one("#import-result").render()))
        path_input.value = str(source)  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await wait_for(lambda: modal.report is not None)
        errors = modal.query_one("#import-errors", DataTable)
        assert [str(c) for c in errors.get_row_at(0)] == ["3", 'phone "+358 40" is too short']
        assert errors.row_count == 1
        await pilot.press("escape")
    names = {p.name for p in Directory(context.store).people()}
    assert names == {"Good One", "[b]Two[/b]"}


# --- another process writes; the console notices ----------------------------------------------


async def test_roll_call_notices_another_process_writing(context: Context, db_path: Path) -> None:
    """A CLI or a second console commits through its own connection: the roll call follows
    through ``PRAGMA data_version`` polling without a key press."""
    seed_small(context.store, FROZEN_NOW)
    code = IncidentService(context).declare(title="Other writer", severity="SEV2").code
    other = Context(settings=Settings(db_path=db_path), clock=lambda: FROZEN_NOW, actor="cli")
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        roll = app.screen
        assert isinstance(roll, RollCallScreen)
        await wait_for(lambda: roll.view is not None)
        assert not any(s.state is State.JOINED for s in roll.view.seats)  # type: ignore[union-attr]
        IncidentService(other).mark_joined(code, ["Aino Aalto"])  # the other connection
        await wait_for(
            lambda: any(
                s.name == "Aino Aalto" and s.state is State.JOINED
                for s in roll.view.seats  # type: ignore[union-attr]
            ),
            seconds=5,
        )
        # Duty shows the same when we go back.
        await pilot.press("escape")
        assert isinstance(app.screen, DutyScreen)
    other.close()


async def test_lost_twilio_shows_a_banner_not_a_freeze(
    db_path: Path, threaded_standin: ThreadedStandIn
) -> None:
    from mim_console.widgets.banner import OutboxBanner

    settings = Settings(db_path=db_path, twilio=standin_twilio_settings(threaded_standin.url))
    ctx = Context(settings=settings, clock=lambda: FROZEN_NOW, actor="tester")
    seed_small(ctx.store, FROZEN_NOW)
    threaded_standin.go_down()
    service = IncidentService(ctx)
    service.declare(title="Twilio is gone", severity="SEV2")
    app = make_app(ctx, dispatch_config=FAST)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        banner = app.screen.query_one(OutboxBanner)
        await wait_for(lambda: "UNREACHABLE" in str(banner.render()), seconds=10)
        # Still responsive: help opens and closes while the outbox retries.
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, DutyScreen)
    ctx.close()


# --- report --------------------------------------------------------------------------------------


async def test_report_takes_lessons_and_saves_markdown_and_html_by_keys(context: Context) -> None:
    from textual.widgets import Markdown, TextArea

    from mim_console.screens.lessons import LessonsScreen
    from mim_console.screens.report import ReportScreen

    seed_small(context.store, FROZEN_NOW)
    service = IncidentService(context)
    code = service.declare(title="DB down", severity="SEV1", categories=["payments"]).code
    service.close(code, problem_ref="PRB-9")
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(ReportScreen(code))  # `p` on the roll call, which a closed one leaves
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReportScreen)
        await wait_for(lambda: screen.lessons is not None)
        await pilot.press("l")
        assert isinstance(app.screen, LessonsScreen)
        await pilot.press(*"Bridge <b>up</b> fast", "tab", *"Deputies [missing]")
        assert app.screen.query_one("#lessons-improve", TextArea).text == "Deputies [missing]"
        await pilot.press("ctrl+s")
        await wait_for(lambda: service.incident(code).to_improve == "Deputies [missing]")
        assert service.incident(code).went_well == "Bridge <b>up</b> fast"  # after the close too
        assert [e.kind for e in service.timeline(code)][-1] == "lessons"
        markdown = screen.query_one(Markdown)
        await wait_for(lambda: "Deputies" in markdown.source)
        await pilot.press("w")
        folder = context.settings.resolved_db_path().parent / "reports"
        await wait_for(lambda: len(list(folder.glob(f"report-{code}.*"))) == 2)
        html = (folder / f"report-{code}.html").read_text()
        assert "Bridge &lt;b&gt;up&lt;/b&gt; fast" in html and "PRB-9" in html
        assert "Deputies" in (folder / f"report-{code}.md").read_text()


async def test_duty_keeps_recently_closed_incidents_in_reach_for_the_lessons(
    context: Context,
) -> None:
    from datetime import timedelta

    seed_small(context.store, FROZEN_NOW)
    earlier = Context(
        settings=context.settings, clock=lambda: FROZEN_NOW - timedelta(days=15), actor="t"
    )
    old = IncidentService(earlier).declare(title="Old", severity="SEV2", categories=["payments"])
    IncidentService(earlier).close(old.code)
    earlier.close()
    service = IncidentService(context)
    code = service.declare(title="DB down", severity="SEV1", categories=["payments"]).code
    service.close(code)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, DutyScreen)
        await wait_for(lambda: screen.shown_once)
        table = screen.query_one("#incidents", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows == [[code, "DB down", "SEV1", f"closed {FROZEN_NOW:%d.%m}", "lessons due"]]
        other = Context(settings=context.settings, clock=lambda: FROZEN_NOW, actor="cli")
        IncidentService(other).lessons(code, went_well="fast bridge", to_improve=None)
        other.close()  # written by another process, e.g. `mim-console lessons`
        await wait_for(lambda: str(table.get_row_at(0)[4]) == "lessons ✔")
        # Written in this console (its own connection): Duty catches up when shown again.
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, RollCallScreen))
        await pilot.press("p")
        report = app.screen
        await wait_for(lambda: getattr(report, "lessons", None) is not None)
        await pilot.press("l", "end", "ctrl+u", "ctrl+s")  # what went well: cleared
        await wait_for(lambda: not service.incident(code).went_well)
        await pilot.press("escape", "escape")
        assert app.screen is screen
        await wait_for(lambda: str(table.get_row_at(0)[4]) == "lessons due")


async def test_duty_shows_a_close_made_on_the_roll_call_above_it(context: Context) -> None:
    """This console's own writes do not move `data_version`: Duty is told to reload."""
    seed_small(context.store, FROZEN_NOW)
    service = IncidentService(context)
    code = service.declare(title="DB down", severity="SEV1", categories=["payments"]).code
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        duty = app.screen
        assert isinstance(duty, DutyScreen)
        await wait_for(lambda: duty.shown_once)
        table = duty.query_one("#incidents", DataTable)
        assert str(table.get_row_at(0)[0]) == code and "short" in str(table.get_row_at(0)[3])
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, RollCallScreen))
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CloseScreen)
        await pilot.press("tab", "tab", "tab", "space")  # no all-clear: nothing to send
        await pilot.press("ctrl+s")
        await wait_for(lambda: service.incident(code).status.value == "closed")
        assert not context.store.query("SELECT 1 FROM alert WHERE purpose = 'stand_down'")
        await pilot.press("escape")
        assert cast(Screen[Any], app.screen) is duty  # mypy still sees the CloseScreen above
        await wait_for(lambda: str(table.get_row_at(0)[3]).startswith("closed"))
