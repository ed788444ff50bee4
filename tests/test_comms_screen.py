"""The Communications screen driven by keys against a real SQLite file: draft, edit, compare,
approve (refused without authority), publish to a stakeholder list, templates, update rhythm."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Static, TextArea

from mim_console.app import MimConsole, make_app
from mim_console.domain.comms import DraftState
from mim_console.screens.comms import CommsScreen
from mim_console.screens.comms_approver import ApproverScreen
from mim_console.screens.comms_diff import DiffScreen
from mim_console.screens.comms_editor import TextEditScreen
from mim_console.screens.comms_next import NextUpdateScreen, parse_minutes
from mim_console.screens.comms_publish import PublishScreen
from mim_console.screens.comms_templates import TemplatesScreen
from mim_console.screens.comms_view import due_words
from mim_console.screens.confirm import ConfirmScreen
from mim_console.screens.duty import DutyScreen
from mim_console.screens.help import HelpScreen
from mim_console.screens.rollcall import RollCallScreen
from mim_console.services.comms import CommsService
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.widgets.sms_preview import offender_lines, sms_summary
from tests.conftest import FROZEN_NOW
from tests.ui_data import seed_small

BOARD = ["+358401234504", "+358501112233"]  # Ilkka Korhonen's mobile and a plain number


def seeded(ctx: Context) -> str:
    seed_small(ctx.store, FROZEN_NOW)
    code = (
        IncidentService(ctx)
        .declare(title="Payments down", severity="SEV1", categories=["payments"])
        .code
    )
    comms = CommsService(ctx)
    comms.add_to_list("Board", "Ilkka Korhonen")
    comms.add_to_list("Board", "+358 50 111 2233", "CFO")
    comms.add_to_list("Press desk", "+358 50 999 8877", "Comms agency")
    return code


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def press(pilot: Pilot[Any], *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


async def open_comms(pilot: Pilot[Any], *, via_roll_call: bool = False) -> CommsScreen:
    """Duty → Communications (m), or Duty → roll call (r) → Communications (m), by keys."""
    app = pilot.app
    await settle(pilot)
    assert isinstance(app.screen, DutyScreen)
    if via_roll_call:
        await press(pilot, "r")
        assert isinstance(app.screen, RollCallScreen)
    await press(pilot, "m")
    assert isinstance(app.screen, CommsScreen)
    return app.screen


def stakeholder_rows(ctx: Context) -> list[dict[str, Any]]:
    return ctx.store.query(
        "SELECT to_number, body, channel FROM alert WHERE purpose = 'stakeholder' ORDER BY id"
    )


def status_text(screen: CommsScreen) -> str:
    return str(screen.query_one("#comms-status", Static).render())


async def test_draft_edit_approve_refused_then_publish_to_a_list(context: Context) -> None:
    code = seeded(context)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_comms(pilot, via_roll_call=True)
        assert screen.view is not None and screen.view.drafts == []

        # u: a stakeholder update from its template, in the editor; ctrl+s saves v1.
        await press(pilot, "u")
        assert isinstance(app.screen, TextEditScreen)
        area = app.screen.query_one("#edit-text", TextArea)
        assert "Incident update" in area.text and code in area.text
        await press(pilot, "ctrl+s")
        assert isinstance(app.screen, CommsScreen)
        versions = CommsService(context).versions(code)
        assert [(d.version, d.state) for d in versions] == [(1, DraftState.DRAFT)]

        # e: edit by typing; saving makes v2 and leaves v1 as it was.
        await press(pilot, "e")
        assert isinstance(app.screen, TextEditScreen)
        await pilot.press("space", *"Workaround", "space", *"ready")
        await press(pilot, "ctrl+s")
        versions = CommsService(context).versions(code)
        assert [d.version for d in versions] == [1, 2]
        assert versions[1].text == versions[0].text + " Workaround ready"
        assert screen.current() is not None and screen.current().version == 2  # type: ignore[union-attr]

        # d: v1 → v2 as a diff.
        await press(pilot, "d")
        assert isinstance(app.screen, DiffScreen)
        assert "+Incident update" in app.screen.diff and "Workaround ready" in app.screen.diff
        await press(pilot, "escape")

        # a: approval by someone without decision authority is refused, in words.
        await press(pilot, "a")
        assert isinstance(app.screen, ApproverScreen)
        await press(pilot, *"kaisa")
        await press(pilot, "enter")
        assert isinstance(app.screen, CommsScreen)
        assert "no decision authority" in status_text(screen)
        assert CommsService(context).version(code, "stakeholder_update", 2).state is (
            DraftState.DRAFT
        )
        # p before approval: refused, nothing offered.
        await press(pilot, "p")
        assert isinstance(app.screen, CommsScreen)

        # a again: Aino Aalto (IT operations seat, authority) approves; she was paged but has
        # not joined, so the console asks first and the timeline says so.
        await press(pilot, "a")
        await press(pilot, *"aino")
        await press(pilot, "enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Aino Aalto has not joined" in app.screen.question
        assert "without joining?" in app.screen.question
        assert CommsService(context).version(code, "stakeholder_update", 2).state is (
            DraftState.DRAFT
        )
        await press(pilot, "y")
        approved = CommsService(context).version(code, "stakeholder_update", 2)
        assert approved.state is DraftState.APPROVED and approved.approved_by_name == "Aino Aalto"
        assert "approved by Aino Aalto (without joining)" in status_text(screen)
        timeline = [e.text for e in IncidentService(context).timeline(code)]
        assert (
            "stakeholder update version 2 approved by Aino Aalto without joining the incident"
            in (timeline)
        )

        # p: the first destination is SMS to Board; the confirmation gives the count first.
        await press(pilot, "p")
        assert isinstance(app.screen, PublishScreen)
        await press(pilot, "enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert "2 people get it" in app.screen.question
        assert stakeholder_rows(context) == []  # nothing queued before the yes
        await press(pilot, "y")
        assert isinstance(app.screen, CommsScreen)

    rows = stakeholder_rows(context)
    assert sorted(r["to_number"] for r in rows) == sorted(BOARD)
    assert {r["body"] for r in rows} == {approved.text}
    assert {r["channel"] for r in rows} == {"sms"}
    published = CommsService(context).version(code, "stakeholder_update", 2)
    assert published.state is DraftState.PUBLISHED and published.channel == "sms"
    # Response-team alerts never went to the stakeholders, nor stakeholder SMS to the team.
    others = context.store.query("SELECT to_number FROM alert WHERE purpose != 'stakeholder'")
    assert not {r["to_number"] for r in others} & {"+358501112233", "+358509998877"}
    kinds = [e.kind for e in IncidentService(context).timeline(code)]
    assert {"comms_draft", "comms_approved", "comms_published"} <= set(kinds)


async def test_publishing_twice_says_so_and_escape_changes_nothing(context: Context) -> None:
    code = seeded(context)
    comms = CommsService(context)
    draft = comms.draft(code, "stakeholder_update", "Payments are back. Next update 10:00.")
    comms.approve(code, "stakeholder_update", draft.version, "Aino Aalto", without_joining=True)
    comms.publish(code, "stakeholder_update", draft.version, "sms", "Board")
    before = len(stakeholder_rows(context))
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_comms(pilot)
        await press(pilot, "p")
        assert isinstance(app.screen, PublishScreen)
        await press(pilot, "escape")
        assert isinstance(app.screen, CommsScreen)
        await press(pilot, "p", "enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert "already published there" in app.screen.question
        await press(pilot, "n")
        assert len(stakeholder_rows(context)) == before
        # The second list, confirmed: once more, to its one number only.
        await press(pilot, "p", "down", "enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert "1 person gets it" in app.screen.question
        await press(pilot, "y")
    new = stakeholder_rows(context)[before:]
    assert [r["to_number"] for r in new] == ["+358509998877"]


async def test_press_release_is_not_offered_by_sms_and_manual_records_it(
    context: Context,
) -> None:
    code = seeded(context)
    IncidentService(context).mark_joined(code, ["Helmi Heikkinen"])  # approves without a question
    CommsService(context).add_webhook("ops", "slack", "https://hooks.example.test/T0/B0/secret")
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_comms(pilot)
        await press(pilot, "w")
        assert isinstance(app.screen, TextEditScreen)
        assert not app.screen.query("#edit-sms")  # a press release is not an SMS
        await press(pilot, "ctrl+s")
        await press(pilot, "a", *"helmi", "enter")
        await press(pilot, "p")
        assert isinstance(app.screen, PublishScreen)
        assert all(c.channel != "sms" for c in app.screen.choices)
        app.screen.query_one("#publish-where", Input).focus()
        await press(pilot, *"intranet", "enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Nothing is sent" in app.screen.question
        await press(pilot, "y")
        # p again: chat, the first choice; one chat post is queued and no SMS.
        await press(pilot, "p", "enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert "posted to 1 chat channel" in app.screen.question
        await press(pilot, "y")
    pubs = CommsService(context).publications(code)
    assert [(p.channel, p.target, p.queued) for p in pubs] == [
        ("manual", "intranet", 0),
        ("chat", "ops", 1),
    ]
    rows = stakeholder_rows(context)
    assert [(r["to_number"], r["channel"]) for r in rows] == [("chat:ops", "chat")]
    assert "secret" not in rows[0]["to_number"]


async def test_empty_edit_is_refused_in_the_editor(context: Context) -> None:
    code = seeded(context)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_comms(pilot)
        await press(pilot, "u")
        editor = app.screen
        assert isinstance(editor, TextEditScreen)
        editor.query_one("#edit-text", TextArea).load_text("   ")
        await press(pilot, "ctrl+s")
        assert app.screen is editor
        assert "empty" in str(editor.query_one("#edit-error", Static).render())
        await press(pilot, "escape")  # changed text: asks before discarding
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        assert isinstance(app.screen, CommsScreen)
    assert CommsService(context).versions(code) == []


async def test_template_with_unknown_placeholder_is_not_saved_then_reset(
    context: Context,
) -> None:
    seeded(context)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_comms(pilot)
        await press(pilot, "t")
        assert isinstance(app.screen, TemplatesScreen)
        table = app.screen.query_one("#tpl-table", DataTable)
        assert table.row_count >= 7
        # The first row is the alert SMS; its editor shows the SMS preview of sample values.
        await press(pilot, "e")
        editor = app.screen
        assert isinstance(editor, TextEditScreen)
        area = editor.query_one("#edit-text", TextArea)
        original = area.text
        await press(pilot, "space", "{", *"titel", "}")
        error = str(editor.query_one("#edit-error", Static).render())
        assert "unknown placeholder {titel}" in error
        await press(pilot, "ctrl+s")
        assert app.screen is editor  # not saved, still editing
        assert CommsService(context).template_text("alert_sms") == original
        # A letter outside GSM-7 forces UCS-2: the preview says so and what to use instead.
        area.load_text(original + " Tšek")
        await settle(pilot)
        sms_text = str(editor.query_one("#edit-sms", Static).render())
        assert "UCS-2" in sms_text and "use 's'" in sms_text
        await press(pilot, "ctrl+g")
        assert area.text == original + " Tsek"
        await press(pilot, "ctrl+s")
        assert isinstance(app.screen, TemplatesScreen)
        assert CommsService(context).template_text("alert_sms") == original + " Tsek"
        await press(pilot, "r")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        assert CommsService(context).template_text("alert_sms") == original
        await press(pilot, "escape")
        assert isinstance(app.screen, CommsScreen)


async def test_next_update_due_is_set_by_key_and_reminded_on_duty(context: Context) -> None:
    code = seeded(context)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_comms(pilot)
        await press(pilot, "s")
        assert isinstance(app.screen, NextUpdateScreen)
        await press(pilot, *"abc", "enter")
        assert isinstance(app.screen, NextUpdateScreen)  # not a time: stays, says why
        app.screen.query_one("#next-minutes", Input).value = ""
        await press(pilot, *"30", "enter")
        assert isinstance(app.screen, CommsScreen)
        inc = IncidentService(context).incident(code)
        assert inc.next_update_at == FROZEN_NOW + timedelta(minutes=30)
        assert "in 30m" in str(screen.query_one("#comms-due", Static).render())

    # Forty minutes later the update is overdue: Duty and the roll call say so.
    later = FROZEN_NOW + timedelta(minutes=40)
    ctx = Context(settings=context.settings, clock=lambda: later, actor="tester")
    try:
        app2 = make_app(ctx, dispatch=False)
        async with app2.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            warnings = str(app2.screen.query_one("#warnings", Static).render())
            assert "stakeholder update" in warnings and code in warnings
            await press(pilot, "m")
            assert isinstance(app2.screen, CommsScreen)
            due = str(app2.screen.query_one("#comms-due", Static).render())
            assert "DUE" in due and "10m late" in due
            await press(pilot, "escape", "r")
            line = str(app2.screen.query_one("#rc-quorum", Static).render())
            assert "UPDATE DUE 08:30 (m)" in line
    finally:
        ctx.close()


async def test_help_lists_every_key_and_names_show_literally(context: Context) -> None:
    code = seeded(context)
    comms = CommsService(context)
    draft = comms.draft(code, "stakeholder_update", "[bold red]Eve[/] says hi \x1b[2J")
    comms.approve(code, "stakeholder_update", draft.version, "Eero Berg", without_joining=True)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_comms(pilot, via_roll_call=True)
        text = str(screen.query_one("#comms-text", Static).render())
        assert "[bold red]Eve[/] says hi \\x1b[2J" in text  # markup and ESC shown, not obeyed
        await press(pilot, "f1")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-keys", DataTable)
        shown = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        for binding in CommsScreen.BINDINGS:
            assert binding.description in shown  # type: ignore[union-attr]
            assert binding.id and binding.tooltip  # type: ignore[union-attr]
        await press(pilot, "escape", "escape")
        assert isinstance(app.screen, RollCallScreen)


async def test_approver_list_puts_mrt_deciders_first(context: Context) -> None:
    seeded(context)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app, MimConsole)
        await settle(pilot)
        app.push_screen(ApproverScreen("stakeholder update v1"))
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, ApproverScreen)
        first = picker.shown[0]
        assert "decision authority" in first.words and "seat" in first.words
        last = picker.shown[-1]
        assert "no authority" in last.words
        await press(pilot, *"zzzz")
        assert picker.shown == []
        assert picker.query_one(OptionList).option_count == 1  # "nobody matches"
        await press(pilot, "enter")
        assert app.screen is picker  # nobody chosen: stays


def test_due_words_and_minutes() -> None:
    from mim_console.domain.incident import Incident

    inc = Incident(1, "MI-1", "K7", "t", "SEV1", FROZEN_NOW)
    assert due_words(inc, FROZEN_NOW)[1] is False
    soon = Incident(1, "MI-1", "K7", "t", "SEV1", FROZEN_NOW, next_update_at=FROZEN_NOW)
    words, due = due_words(soon, FROZEN_NOW + timedelta(minutes=75))
    assert due and "1h15m late" in words
    assert parse_minutes("1h30") == 90 and parse_minutes("45m") == 45
    for bad in ("", "0", "x", "25h"):
        with pytest.raises(ValueError):
            parse_minutes(bad)


@given(st.integers(min_value=1, max_value=24 * 60))
def test_minutes_parse_in_every_form(minutes: int) -> None:
    hours, rest = divmod(minutes, 60)
    assert parse_minutes(str(minutes)) == minutes
    assert parse_minutes(f"{minutes}m") == minutes
    if hours:
        assert parse_minutes(f"{hours}h{rest:02d}" if rest else f"{hours}h") == minutes


def test_sms_preview_lines() -> None:
    assert "GSM-7" in sms_summary("plain text") and "1 segment" in sms_summary("plain text")
    assert "2 segments" in sms_summary("a" * 161)
    lines = offender_lines("It\u2019s down \u2014 again \U0001f525")
    assert any('use "\'"' in line for line in lines)
    assert any("use '-'" in line for line in lines)
    assert any("drop it" in line and "U+1F525" in line for line in lines)


async def test_duty_reminds_when_the_update_comes_due_without_any_write(db_path: Any) -> None:
    from mim_console.config import Settings

    moment = [FROZEN_NOW]
    ctx = Context(settings=Settings(db_path=db_path), clock=lambda: moment[0], actor="tester")
    try:
        code = seeded(ctx)
        due = CommsService(ctx).set_next_update(code, 1).next_update_at
        assert due is not None
        moment[0] = due - timedelta(seconds=0.2)
        app = make_app(ctx, dispatch=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            warnings = app.screen.query_one("#warnings", Static)
            assert "stakeholder update" not in str(warnings.render())
            moment[0] = due + timedelta(seconds=1)  # time passes; nothing is written
            await pilot.pause(1.6)
            await settle(pilot)
            assert f"{code}: stakeholder update due since" in str(warnings.render())
    finally:
        ctx.close()


async def test_unknown_incident_says_so_on_the_screen(context: Context) -> None:
    seed_small(context.store, FROZEN_NOW)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(CommsScreen("MI-1999-999"))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CommsScreen)
        assert 'no incident "MI-1999-999"' in status_text(screen)
        await press(pilot, "u")  # nothing to draft for: refused in words, no crash
        assert isinstance(app.screen, CommsScreen)
        await press(pilot, "escape")
        assert isinstance(app.screen, DutyScreen)


async def test_stakeholder_lists_by_key_bad_number_refused_then_published_to(
    context: Context,
) -> None:
    from mim_console.screens.comms_lists import StakeholderListsScreen
    from mim_console.screens.comms_lists_add import AddMemberScreen

    seed_small(context.store, FROZEN_NOW)
    IncidentService(context).declare(title="Payments down", severity="SEV1")
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_comms(pilot)
        await press(pilot, "l")
        screen = app.screen
        assert isinstance(screen, StakeholderListsScreen)
        # a: a new list "Execs" with a number too short to be one: refused, nothing made.
        await press(pilot, "a")
        assert isinstance(app.screen, AddMemberScreen)
        await press(pilot, *"Execs", "tab", "plus", *"35840", "enter")
        assert isinstance(app.screen, StakeholderListsScreen)
        assert "not a valid number" in str(screen.query_one("#lists-status", Static).render())
        assert CommsService(context).lists() == []
        # a again: the form comes back filled in; fix the number, add a label.
        await press(pilot, "a")
        who = app.screen.query_one("#add-who", Input)
        assert who.value == "+35840"
        who.value = "+358 50 111 2233"
        app.screen.query_one("#add-label", Input).value = "CFO"
        await press(pilot, "ctrl+s")
        # a: a person by name onto the same (selected) list.
        await press(pilot, "a")
        assert app.screen.query_one("#add-list", Input).value == "Execs"
        await press(pilot, *"Eero", "space", *"Berg", "enter")
        lists = CommsService(context).lists()
        assert [(sl.name, sorted(m.label for m in sl.members)) for sl in lists] == [
            ("Execs", ["CFO", "Eero Berg"])
        ]
        # x on the second member (tab to the members, down): asks, then removes.
        await press(pilot, "tab", "down", "x")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Eero Berg" in app.screen.question
        await press(pilot, "y")
        members = CommsService(context).lists()[0].members
        assert [m.label for m in members] == ["CFO"]
        # Back in Communications the new list is offered at once.
        await press(pilot, "escape")
        assert isinstance(app.screen, CommsScreen)
        assert app.screen.view is not None
        assert [sl.name for sl in app.screen.view.lists] == ["Execs"]
