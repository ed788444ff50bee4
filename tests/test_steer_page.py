"""Paging more people into a running incident: `mim-console page` and the roll call's `+`.

The stand-in (over loopback HTTP) receives exactly one alert per new participant and nothing
more for the people already paged at the declaration.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mim_console.cli import main
from mim_console.config import Settings
from mim_console.data.store import Store
from mim_console.domain.incident import Role, State
from mim_console.errors import UserError
from mim_console.services.context import Context
from mim_console.services.dispatching import start_in_thread
from mim_console.services.incidents import IncidentService
from mim_console.services.steering import PageTargets, Steering
from mim_console.standin import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDER,
    ThreadedStandIn,
)
from tests.conftest import FROZEN_NOW
from tests.incident_seed import mobile, seed
from tests.twilio_fixtures import standin_twilio_settings


@pytest.fixture
def db(db_path: Path) -> Path:
    store = Store(db_path)
    seed(store, FROZEN_NOW)
    store.close()
    return db_path


def cli(db: Path, standin: ThreadedStandIn | None, *args: str, answer: str | None = None) -> Result:
    env = {}
    if standin is not None:
        env = {
            "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
            "MIM_TWILIO_FROM": DEFAULT_SENDER,
            "MIM_TWILIO_API_URL": standin.url,
        }
    return CliRunner().invoke(main, ["--db", str(db), *args], input=answer, env=env)


def wait_until(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture
def dispatcher(db: Path, threaded_standin: ThreadedStandIn) -> Iterator[Context]:
    """A dispatcher on its own thread sending the database's alerts to the stand-in."""
    ctx = Context(
        settings=Settings(db_path=db, twilio=standin_twilio_settings(threaded_standin.url))
    )
    stop = start_in_thread(ctx)
    yield ctx
    stop()
    ctx.close()


def texts_by_number(standin: ThreadedStandIn) -> Counter[str]:
    return Counter(m.to for m in standin.messages(direction="outbound-api"))


def test_page_by_cli_sends_one_alert_per_new_member_and_none_twice(
    db: Path, threaded_standin: ThreadedStandIn, dispatcher: Context
) -> None:
    declared = cli(
        db, threaded_standin, "declare", "-t", "Payments down", "-c", "payments", "--yes"
    )
    assert declared.exit_code == 0, declared.output
    code = declared.stdout.strip()
    first = IncidentService(dispatcher).roll_call(code)
    paged_before = {s.person.name for s in first.seats}
    assert {"Sam Spec", "Tina Spec", "Uma Spec", "Dan Biz"} <= paged_before
    wait_until(lambda: sum(texts_by_number(threaded_standin).values()) == len(paged_before))
    # Without --yes it asks, naming how many are new and who is skipped; "n" pages nobody.
    asked = cli(
        db, threaded_standin, "page", code, "Carol Ops", "--group", "Payments", "--party",
        "Business", answer="n\n",
    )  # fmt: skip
    assert asked.exit_code == 1
    assert "Page 2 new people into" in asked.output
    assert "not paged again: Dan Biz, Sam Spec, Tina Spec, Uma Spec" in asked.output
    assert "nobody was paged" in asked.stderr
    done = cli(
        db, threaded_standin, "page", code, "Carol Ops", "--group", "Payments", "--party",
        "Business", "--yes", "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    shown = json.loads(done.stdout)
    assert [(p["name"], p["role"], p["state"]) for p in shown["participants"]] == [
        ("Carol Ops", "mrt", "alerted"),
        ("Erin Biz", "mrt", "alerted"),
    ]
    assert {p["name"] for p in shown["already_on_incident"]} == {
        "Dan Biz",
        "Sam Spec",
        "Tina Spec",
        "Uma Spec",
    }
    total = len(paged_before) + 2
    wait_until(lambda: sum(texts_by_number(threaded_standin).values()) == total)
    time.sleep(0.5)  # nothing more arrives afterwards
    sent = texts_by_number(threaded_standin)
    assert sum(sent.values()) == total
    assert sent[mobile("Carol Ops")] == 1 and sent[mobile("Erin Biz")] == 1
    for name in ("Dan Biz", "Sam Spec", "Tina Spec", "Uma Spec"):
        assert sent[mobile(name)] == 1, name
    # The new participants are on the roll call with their role, waiting like everyone else.
    seats = {s.person.name: s for s in IncidentService(dispatcher).roll_call(code).seats}
    assert seats["Erin Biz"].participant.role is Role.MRT and seats["Erin Biz"].unit == "Business"
    assert seats["Carol Ops"].participant.state is State.ALERTED
    events = [e for e in IncidentService(dispatcher).timeline(code) if e.kind == "paged_more"]
    assert [e.text for e in events] == [
        "paged 2 more: Carol Ops, Erin Biz (already on the incident: Dan Biz, Sam Spec, "
        "Tina Spec, Uma Spec)"
    ]
    # Paging the same again: nobody new, a refusal with exit 1, nothing queued.
    again = cli(db, threaded_standin, "page", code, "--group", "Payments", "--yes")
    assert again.exit_code == 1
    assert "nobody new to page" in again.stderr and "Sam Spec" in again.stderr


def test_new_participants_escalate_like_the_rest(context: Context) -> None:
    from tests.incident_seed import FakeClock

    clock = FakeClock(FROZEN_NOW)
    seed(context.store, FROZEN_NOW)
    ctx = Context(settings=context.settings, clock=clock, actor="tester")
    inc = IncidentService(ctx).declare(title="Cards", severity="SEV2", categories=["payments"])
    Steering(ctx).page(inc.code, PageTargets(people=["Carol Ops"]))
    clock.advance(minutes=6)  # the voice call is due after 5 minutes without an answer
    IncidentService(ctx).tick()
    carol = next(
        s for s in IncidentService(ctx).roll_call(inc.code).seats if s.person.name == "Carol Ops"
    )
    assert carol.participant.state is State.ESCALATED
    ctx.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("page", "MI-2026-001"), "name someone to page"),
        (("page", "MI-2026-001", "--group", "Nope", "--yes"), 'no specialist group "Nope"'),
        (("page", "MI-2026-001", "--party", "Nope", "--yes"), 'no party "Nope"'),
        (("page", "MI-2026-001", "Nobody At All", "--yes"), "Nobody At All"),
        (("page", "MI-2026-404", "Carol Ops", "--yes"), "MI-2026-404"),
    ],
)
def test_page_refusals_exit_1_and_change_nothing(
    db: Path, args: tuple[str, ...], message: str
) -> None:
    assert cli(db, None, "declare", "-t", "Down", "-c", "payments", "--yes").exit_code == 0
    store = Store(db)
    before = store.query("SELECT count(*) AS n FROM alert")[0]["n"]
    store.close()
    result = cli(db, None, *args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr and "Traceback" not in result.output
    store = Store(db)
    assert store.query("SELECT count(*) AS n FROM alert")[0]["n"] == before
    store.close()


def test_page_usage_errors_exit_2(db: Path) -> None:
    result = cli(db, None, "page", "MI-2026-001", "Carol Ops", "--channel", "pigeon")
    assert result.exit_code == 2


# --- the roll call's `+`, by keys, with the in-app dispatcher ------------------------------------


async def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the console")
        await asyncio.sleep(0.05)


async def test_plus_pages_a_group_by_keys_and_skips_who_is_on_already(
    db_path: Path, threaded_standin: ThreadedStandIn
) -> None:
    from textual.widgets import Static

    from mim_console.app import make_app
    from mim_console.screens.confirm import ConfirmScreen
    from mim_console.screens.page_picker import PagePickerScreen
    from mim_console.screens.rollcall import RollCallScreen
    from tests.test_app import FAST
    from tests.ui_data import PEOPLE, seed_small

    settings = Settings(db_path=db_path, twilio=standin_twilio_settings(threaded_standin.url))
    ctx = Context(settings=settings, clock=lambda: FROZEN_NOW, actor="tester")
    seed_small(ctx.store, FROZEN_NOW)
    mobiles = {name: number for name, number, _, _ in PEOPLE}
    service = IncidentService(ctx)
    # The Database team (Kaisa, Leena) is paged at the declaration; the Network team is Mikko
    # and Kaisa: paging it adds Mikko alone.
    inc = service.declare(title="DB down", severity="SEV1", categories=["database"])
    before = {s.person.name for s in service.roll_call(inc.code).seats}
    assert "Kaisa Mäkinen" in before and "Mikko Ojala" not in before
    app = make_app(ctx, dispatch_config=FAST)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: sum(texts_by_number(threaded_standin).values()) == len(before))
        app.push_screen(RollCallScreen(inc.code))
        await wait_for(
            lambda: isinstance(app.screen, RollCallScreen) and app.screen.view is not None
        )
        roll = app.screen
        assert isinstance(roll, RollCallScreen)
        await pilot.press("plus")
        await wait_for(lambda: isinstance(app.screen, PagePickerScreen) and bool(app.screen.shown))
        picker = app.screen
        assert isinstance(picker, PagePickerScreen)
        await pilot.press(*"network")
        await wait_for(lambda: [c.name for c in picker.shown] == ["Network team"])
        assert picker.shown[0].words == "1 new of 2 · covers network"
        await pilot.press("enter")  # adds the group to the selection
        assert [c.name for c in picker.chosen] == ["Network team"]
        line = picker.query_one("#picker-chosen", Static)
        assert str(line.render()).startswith("By SMS (ctrl+o) · Selected: group Network team")
        await pilot.press("ctrl+o")
        assert (picker.channel, str(line.render())[:20]) == ("voice", "By voice call (ctrl+")
        await pilot.press("ctrl+o", "ctrl+o")  # both, then SMS again
        assert picker.channel == "sms"
        await pilot.press("enter")  # an empty search: done
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen))
        question = str(app.screen.question)  # type: ignore[attr-defined]
        assert question.startswith(f"Page 1 new person into {inc.code} by SMS?")
        assert "not paged again: Kaisa Mäkinen" in question
        assert len(service.roll_call(inc.code).seats) == len(before)  # nobody before the yes
        await pilot.press("y")
        await wait_for(lambda: sum(texts_by_number(threaded_standin).values()) == len(before) + 1)
        await wait_for(
            lambda: roll.view is not None and "Mikko Ojala" in {s.name for s in roll.view.seats}
        )
        await asyncio.sleep(0.5)  # nothing else arrives
    sent = texts_by_number(threaded_standin)
    assert sent[mobiles["Mikko Ojala"]] == 1
    assert sent[mobiles["Kaisa Mäkinen"]] == 1  # from the declaration only
    assert sum(sent.values()) == len(before) + 1
    mikko = next(s for s in service.roll_call(inc.code).seats if s.person.name == "Mikko Ojala")
    assert (mikko.participant.role, mikko.unit) == (Role.SPECIALIST, "Network team")
    ctx.close()


def test_page_by_voice_or_both_queues_the_calls(context: Context) -> None:
    seed(context.store, FROZEN_NOW)
    inc = IncidentService(context).declare(title="Cards", severity="SEV2", categories=["payments"])
    steering = Steering(context)
    steering.page(inc.code, PageTargets(people=["Carol Ops"]), channel="voice")
    steering.page(inc.code, PageTargets(parties=["Business"]), channel="both")
    rows = context.store.query(
        "SELECT p.name, a.channel FROM alert a JOIN person p ON p.id = a.person_id "
        "WHERE p.name IN ('Carol Ops', 'Erin Biz') ORDER BY a.id"
    )
    assert [(r["name"], r["channel"]) for r in rows] == [
        ("Carol Ops", "voice"),
        ("Erin Biz", "sms"),
        ("Erin Biz", "voice"),
    ]
    with pytest.raises(UserError, match='channel "bridge" is not one of sms, voice, both'):
        steering.page(inc.code, PageTargets(people=["Alice Ops"]), channel="bridge")
