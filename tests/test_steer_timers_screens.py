"""The roll call by keys: the next escalation step in the detail line at 80 columns, `e` naming
its step and the deputy, `r` naming the party whose quorum it drops, Ctrl+Q asking while this
console may be the only one sending."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

from mim_console.app import MimConsole, make_app
from mim_console.config import Settings
from mim_console.data.lease import Lease
from mim_console.domain.incident import State
from mim_console.screens.confirm import ConfirmScreen
from mim_console.screens.escalate import EscalateScreen
from mim_console.screens.rollcall import RollCallScreen
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.widgets.fittable import FitTable
from tests.conftest import FROZEN_NOW
from tests.incident_seed import FakeClock, mobile, seed


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FROZEN_NOW)


@pytest.fixture
def ctx(db_path: Path, clock: FakeClock) -> Iterator[Context]:
    c = Context(settings=Settings(db_path=db_path), clock=clock, actor="dm")
    seed(c.store, clock.now)
    yield c
    c.close()


async def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting for the console"
        await asyncio.sleep(0.05)


def declare(ctx: Context) -> str:
    return (
        IncidentService(ctx)
        .declare(title="Payments down", severity="SEV1", categories=["payments"])
        .code
    )


async def open_roll_call(app: MimConsole, pilot: object) -> RollCallScreen:
    await pilot.pause()  # type: ignore[attr-defined]
    await pilot.press("r")  # type: ignore[attr-defined]
    await wait_for(lambda: isinstance(app.screen, RollCallScreen) and app.screen.view is not None)
    roll = app.screen
    assert isinstance(roll, RollCallScreen)
    return roll


async def cursor_on(roll: RollCallScreen, pilot: object, name: str) -> None:
    assert roll.view is not None
    names = [s.name for s in roll.view.seats]
    roll.query_one("#rc-table").move_cursor(row=names.index(name))  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]


def detail(roll: RollCallScreen) -> str:
    return str(roll.query_one("#rc-detail", Static).render())


def alerts_to(ctx: Context, name: str) -> list[tuple[str, str]]:
    rows = ctx.store.query(
        "SELECT channel, purpose FROM alert WHERE to_number = ? ORDER BY id", [mobile(name)]
    )
    return [(r["channel"], r["purpose"]) for r in rows]


def state(ctx: Context, code: str, name: str) -> State:
    seats = IncidentService(ctx).roll_call(code).seats
    return next(s.participant.state for s in seats if s.person.name == name)


async def test_detail_line_at_80_columns_shows_the_next_step(
    ctx: Context, clock: FakeClock
) -> None:
    code = declare(ctx)
    clock.advance(minutes=2)
    IncidentService(ctx).escalate(code, "Frank Comms")
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        roll = await open_roll_call(app, pilot)
        await cursor_on(roll, pilot, "Dan Biz")
        assert detail(roll).startswith("◆ Dan Biz · ") and "☎ in 3m" in detail(roll)
        await cursor_on(roll, pilot, "Frank Comms")
        assert "deputy in 5m" in detail(roll)
        table = roll.query_one("#rc-table", FitTable)
        assert table._plan is not None and "next" in table._plan.moved  # at 80: detail line only
        await cursor_on(roll, pilot, "Alice Ops")
        assert "☎ in 3m" in detail(roll)
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(120, 30)) as pilot:
        roll = await open_roll_call(app, pilot)
        table = roll.query_one("#rc-table", FitTable)
        assert table._plan is not None and "next" not in table._plan.moved  # a column of its own
        key = str(next(s.participant_id for s in roll.view.seats if s.name == "Frank Comms"))  # type: ignore[union-attr]
        cells = table.full_cells(key)
        assert cells is not None and "deputy in 5m" in [str(c) for c in cells]


async def test_escalate_dialog_names_the_step_and_the_deputy(ctx: Context) -> None:
    code = declare(ctx)
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        roll = await open_roll_call(app, pilot)
        await cursor_on(roll, pilot, "Dan Biz")
        await pilot.press("e")
        await wait_for(lambda: isinstance(app.screen, EscalateScreen))
        question = app.screen.question  # type: ignore[attr-defined]
        assert "Escalate Dan Biz now?" in question
        assert "v  voice call now (the next step)" in question
        assert "d  page deputy Erin Biz" in question
        assert alerts_to(ctx, "Erin Biz") == []  # asking pages nobody
        await pilot.press("d")
        await wait_for(lambda: alerts_to(ctx, "Erin Biz") == [("sms", "escalation")])
        assert [c for c, _ in alerts_to(ctx, "Dan Biz")] == ["sms"]  # no voice call
        # A voice call, then e again: the deputy comes first, and calling again asks.
        await cursor_on(roll, pilot, "Frank Comms")
        await pilot.press("e")
        await wait_for(lambda: isinstance(app.screen, EscalateScreen))
        await pilot.press("v")
        await wait_for(lambda: state(ctx, code, "Frank Comms") is State.ESCALATED)
        await wait_for(lambda: not isinstance(app.screen, EscalateScreen))
        await pilot.press("e")
        await wait_for(lambda: isinstance(app.screen, EscalateScreen))
        question = app.screen.question  # type: ignore[attr-defined]
        assert "d  page deputy Gina Comms (the next step)" in question
        assert "v  another voice call now" in question
        assert "did not answer the voice call already placed" in question
        await pilot.press("v")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen))
        assert "Call Frank Comms again?" in app.screen.question  # type: ignore[attr-defined]
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, EscalateScreen)  # back to the choice, nothing done
        assert [c for c, _ in alerts_to(ctx, "Frank Comms")].count("voice") == 1
        await pilot.press("v", "y")
        await wait_for(lambda: [c for c, _ in alerts_to(ctx, "Frank Comms")].count("voice") == 2)
        assert alerts_to(ctx, "Gina Comms") == []


async def test_release_asks_and_names_the_party_whose_quorum_it_drops(ctx: Context) -> None:
    code = declare(ctx)
    service = IncidentService(ctx)
    service.mark_joined(code, ["Alice Ops", "Sam Spec"])
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        roll = await open_roll_call(app, pilot)
        await cursor_on(roll, pilot, "Alice Ops")
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen))
        question = app.screen.question  # type: ignore[attr-defined]
        assert "Release Alice Ops to standby?" in question
        assert "This drops the quorum of IT Operations." in question
        await pilot.press("n")
        await pilot.pause()
        assert state(ctx, code, "Alice Ops") is State.JOINED
        await cursor_on(roll, pilot, "Sam Spec")
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen))
        question = app.screen.question  # type: ignore[attr-defined]
        assert "Release Sam Spec to standby?" in question and "quorum" not in question
        await pilot.press("y")
        await wait_for(lambda: state(ctx, code, "Sam Spec") is State.STANDBY)
    assert service.quorum_dropped_by(code, ["Sam Spec"]) == []
    service.mark_joined(code, ["Dan Biz"])
    both = service.quorum_dropped_by(code, ["Alice Ops", "Dan Biz"])
    assert sorted(both) == ["Business", "IT Operations"]


async def test_quit_asks_while_an_incident_is_open_and_nobody_else_sends(ctx: Context) -> None:
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")
        await wait_for(lambda: app.return_code is not None)  # no open incident: at once
    code = declare(ctx)
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen))
        question = app.screen.question  # type: ignore[attr-defined]
        assert f"Quit while {code} is open?" in question
        assert "alerts and escalation timers stop until `mim-console dispatch`" in question
        await pilot.press("n")
        await pilot.pause()
        assert app.return_code is None and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("ctrl+q")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(lambda: app.return_code is not None)
    other = Lease(ctx.store, holder="another-console", ttl_s=60)
    assert other.try_acquire()
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")
        await wait_for(lambda: app.return_code is not None)  # another process sends
        assert not isinstance(app.screen, ConfirmScreen)
