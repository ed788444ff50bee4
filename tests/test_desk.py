"""Issue 16's smaller rules: the layout plan, forms that keep their input, help whatever has the
focus, one toast per kind, the banner's failed count."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.widgets import DataTable, Input, Static

from mim_console.app import make_app
from mim_console.data import outbox
from mim_console.screens.declare import DeclareScreen
from mim_console.screens.directory import DirectoryScreen
from mim_console.screens.help import HelpScreen
from mim_console.screens.override import OverrideScreen
from mim_console.screens.person_form import PersonFormScreen
from mim_console.screens.rotations import RotationsScreen
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.services.outbox_view import outbox_counts
from mim_console.widgets.fittable import Col, plan, shorten
from tests.conftest import FROZEN_NOW
from tests.ui_data import seed_small

COLS = (
    Col("name", "name", 20, min_width=10, grow=True),
    Col("state", "state", 12),
    Col("delivery", "delivery", 13, drop=2),
    Col("phone", "phone", 13, drop=3),
)


def test_plan_moves_columns_out_then_shrinks_then_grows() -> None:
    wide = plan(COLS, 200, {"name": 30})
    assert wide.moved == () and dict(wide.widths)["name"] == 30  # grew to its longest cell
    narrow = plan(COLS, 50)
    assert narrow.moved == ("delivery", "phone")  # highest drop first, both needed
    assert sum(w + 2 for _, w in narrow.widths) <= 50
    tiny = plan(COLS, 30)
    assert dict(tiny.widths) == {"name": 14, "state": 12}  # the one with room to give shrinks
    assert dict(plan(COLS, 10).widths) == {"name": 10, "state": 12}  # never below its floor


@pytest.mark.parametrize("width", range(1, 12))
def test_shorten_is_whole_or_ends_in_an_ellipsis(width: int) -> None:
    text = shorten(Text("Contoso Networks", style="bold"), width)
    assert len(text.plain) <= width
    assert text.plain == "Contoso Networks"[:width] or text.plain.endswith("…")


def test_banner_counts_failed_alerts_of_open_incidents_only(context: Context) -> None:
    seed_small(context.store, FROZEN_NOW)
    service = IncidentService(context)
    closed = service.declare(title="Old", severity="SEV2").code
    open_code = service.declare(title="New", severity="SEV2").code
    with context.store.write() as db:
        db.execute("UPDATE alert SET status = 'failed'")  # every alert of both failed
        total = outbox.counts(db)["failed"]
    service.close(closed, all_clear=False)
    with context.store.read() as db:
        old = len(outbox.list_alerts(db, incident_id=service.incident(closed).id))
    assert outbox_counts(context)["failed"] == total - old > 0
    service.close(open_code, all_clear=False)
    assert outbox_counts(context)["failed"] == 0  # history only: `mim-console outbox`


async def test_help_lists_the_screens_keys_while_typing_in_the_filter(context: Context) -> None:
    seed_small(context.store, FROZEN_NOW)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("p")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DirectoryScreen)
        assert isinstance(app.focused, Input)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        actions = [r[1] for r in rows]
        for action in ("Add", "Edit", "Deactivate", "Import CSV"):
            assert action in actions
        wheres = [r[3] for r in rows]
        assert wheres.index("this screen") < wheres.index("Input")  # its own keys below
        assert all(
            len(c) <= col.content_width
            for r in rows
            for c, col in zip(
                (r[0], r[1], r[3]), [table.ordered_columns[i] for i in (0, 1, 3)], strict=True
            )
        )


async def test_forms_keep_their_input_and_mark_the_field(context: Context) -> None:
    seed_small(context.store, FROZEN_NOW)
    directory = context.directory()
    directory.add_person(name="Sofia Aalto", mobile="+358401234598")
    directory.add_person(name="Sofia Berg", mobile="+358401234599")
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        # Rotations, then an override for an ambiguous name: refused, kept, marked.
        await pilot.press("o")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, RotationsScreen)
        heading = str(app.screen.query_one("#rot-heading", Static).render())
        assert heading.startswith("Shifts of Duty managers")
        await pilot.press("o")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, OverrideScreen)
        await pilot.press(*"Sofia", "ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is form  # still open
        person = form.query_one("#ov-person", Input)
        error = form.query_one("#ov-error", Static)
        assert person.value == "Sofia" and form.focused is person
        assert person.selected_text == "Sofia" and person.has_class("-invalid")
        assert str(error.render()).startswith("✖ Person:")
        assert not app._notifications  # shown in the form, not toasted as well
        await pilot.press(*"Sofia Berg")  # typing replaces the selected text
        assert person.value == "Sofia Berg" and str(error.render()) == ""
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, RotationsScreen)
        await pilot.press("escape", "p")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("down", "a")  # from the filter into the list, then Add
        await pilot.pause()
        # The person form: an e-mail refusal goes to the Email field, with its label.
        form2 = app.screen
        assert isinstance(form2, PersonFormScreen)
        await pilot.press(*"Tuuli Uusi", "tab", *"+358 40 1234597")
        form2.query_one("#pf-email", Input).value = "not an address"
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        email = form2.query_one("#pf-email", Input)
        assert form2.focused is email and email.selected_text == "not an address"
        assert str(form2.query_one("#pf-error", Static).render()).startswith("✖ Email:")
        await pilot.press("escape", "escape")
        # Declare: the title error goes as soon as a title is typed.
        await pilot.press("n")
        await app.workers.wait_for_complete()
        await pilot.pause()
        declare = app.screen
        assert isinstance(declare, DeclareScreen)
        await pilot.press("ctrl+s")
        declare_error = declare.query_one("#declare-error", Static)
        assert "needs a title" in str(declare_error.render())
        await pilot.press("D")
        assert str(declare_error.render()) == ""


async def test_one_toast_per_kind(context: Context) -> None:
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        for n in range(3):
            app.notify(f"warning {n}", severity="warning")
        app.notify("done")
        await pilot.pause()
        shown = [(n.severity, n.message) for n in app._notifications]
        assert sorted(shown) == [("information", "done"), ("warning", "warning 2")]


async def test_a_closed_roll_call_hides_its_changing_keys_and_one_pressed_says_why(
    context: Context,
) -> None:
    from mim_console.screens.rollcall import RollCallScreen

    seed_small(context.store, FROZEN_NOW)
    service = IncidentService(context)
    code = service.declare(title="Old", severity="SEV2").code
    service.close(code, all_clear=False)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(RollCallScreen(code))
        await app.workers.wait_for_complete()
        await pilot.pause()
        roll = app.screen
        assert isinstance(roll, RollCallScreen) and roll.view is not None
        assert roll.check_action("joined", ()) is False
        assert roll.check_action("timeline", ()) is True
        keys = {b.binding.action for b in roll.active_bindings.values()}
        assert "joined" not in keys and "timeline" in keys
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is roll  # no note form opened
        assert any(f"{code} is closed" in str(n.message) for n in app._notifications)


async def test_a_console_without_credentials_says_who_sends_instead(context: Context) -> None:
    """Another process holds a fresh dispatcher lease: the banner says alerts go out, not
    "NOT CONFIGURED" (which reads as an outage); once that lease lapses it warns again."""
    from mim_console.data.lease import Lease
    from mim_console.widgets.banner import OutboxBanner

    assert not context.settings.twilio.configured
    other = Lease(context.store, holder="site-b:4242:0123abcd", ttl_s=60)
    assert other.try_acquire()
    app = make_app(context)
    async with app.run_test(size=(80, 24)) as pilot:
        banner = app.screen.query_one(OutboxBanner)

        async def shows(words: str) -> None:
            for _ in range(100):
                if str(banner.render()).startswith(words):
                    return
                await pilot.pause(0.05)
            raise AssertionError(str(banner.render()))

        await shows("✔ alerts sent by site-b, process 4242 · 0 queued")
        other.release()
        await shows("⚠ Twilio NOT CONFIGURED, alerts wait")
