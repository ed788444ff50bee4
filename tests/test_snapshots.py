"""Snapshots of the main screens at 80x24 and 100x30: frozen clock, fixed data, UTC, no blink.

Regenerate after an intended change with ``pytest tests/test_snapshots.py --snapshot-update``
and look at the SVGs in ``tests/__snapshots__`` before committing them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from mim_console.app import MimConsole, make_app
from mim_console.config import Settings
from mim_console.data import outbox
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.screen_text import screen_lines
from tests.ui_data import seed_small

# Every snapshot runs by default: skipping one would leave its file unused, which syrupy fails.
SIZES = [(80, 24), (100, 30)]


@pytest.fixture(autouse=True)
def utc_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times are shown in local time; the snapshots are taken with local time = UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def snap_context(db_path: Path) -> Iterator[Context]:
    ctx = Context(settings=Settings(db_path=db_path), clock=lambda: FROZEN_NOW, actor="tester")
    seed_small(ctx.store, FROZEN_NOW)
    yield ctx
    ctx.close()


def with_incident(ctx: Context) -> str:
    """An incident mid-way: some joined, one unable, one released to standby, a note."""
    service = IncidentService(ctx)
    code = service.declare(
        title="Payments down [bold]for everyone[/]", severity="SEV1", categories=["payments"]
    ).code
    service.mark_joined(code, ["Aino Aalto", "Helmi Heikkinen", "Kaisa Mäkinen"])
    service.mark_unable(code, ["Leena Nieminen"])
    service.release(code, ["Kaisa Mäkinen"])
    service.set_spokesperson(code, "Kaisa Mäkinen")
    service.note(code, "Failover to the standby database started")
    return code


def settle(then: Callable[[Pilot[Any]], Awaitable[None]] | None = None) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, MimConsole)
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if then is not None:
            await then(pilot)
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
        # The banner's outbox counts arrive with the first poll: wait for them.
        with app.context.store.read() as db:
            queued = outbox.counts(db)["queued"]
        for _ in range(100):
            if app.outbox.queued == queued:
                break
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause()
        for widget in app.screen.query("Input, TextArea"):
            if isinstance(widget, Input | TextArea):
                widget.cursor_blink = False
        await pilot.pause()
        dump_text(app)

    return run_before


def dump_text(app: MimConsole) -> None:
    """With MIM_SNAPSHOT_TEXT=DIR, each snapshot is also written there as plain text, to read
    a change line by line next to its SVG."""
    folder = os.environ.get("MIM_SNAPSHOT_TEXT")
    if not folder:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "snapshot").split("::")[-1].split(" ")[0]
    Path(folder, f"{test}.txt").write_text("\n".join(screen_lines(app)) + "\n")


def keys(*presses: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Press keys; after the first (which opens the screen) let its data load."""

    async def press(pilot: Pilot[Any]) -> None:
        first, *rest = presses
        await pilot.press(first)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if rest:
            await pilot.press(*rest)

    return press


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "100x30"])
def test_duty(snap_compare: Any, snap_context: Context, size: tuple[int, int]) -> None:
    with_incident(snap_context)
    app = make_app(snap_context, dispatch=False)
    assert snap_compare(app, terminal_size=size, run_before=settle())


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "100x30"])
def test_roll_call(snap_compare: Any, snap_context: Context, size: tuple[int, int]) -> None:
    with_incident(snap_context)
    app = make_app(snap_context, dispatch=False)
    assert snap_compare(app, terminal_size=size, run_before=settle(keys("r", "down", "space")))


def test_declare(snap_compare: Any, snap_context: Context) -> None:
    app = make_app(snap_context, dispatch=False)

    async def fill(pilot: Pilot[Any]) -> None:
        await pilot.press("n")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        pilot.app.screen.query_one("#title", Input).value = "DB down"
        pilot.app.screen.query_one("#categories", Input).value = "payments"
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()

    assert snap_compare(app, terminal_size=(80, 24), run_before=settle(fill))


def test_help_on_roll_call(snap_compare: Any, snap_context: Context) -> None:
    with_incident(snap_context)
    app = make_app(snap_context, dispatch=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle(keys("r", "f1")))


def test_directory(snap_compare: Any, snap_context: Context) -> None:
    app = make_app(snap_context, dispatch=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle(keys("p", "down")))


def test_timeline(snap_compare: Any, snap_context: Context) -> None:
    with_incident(snap_context)
    app = make_app(snap_context, dispatch=False)
    assert snap_compare(app, terminal_size=(100, 30), run_before=settle(keys("t")))


def test_rotations(snap_compare: Any, snap_context: Context) -> None:
    app = make_app(snap_context, dispatch=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle(keys("o")))


def test_comms(snap_compare: Any, snap_context: Context) -> None:
    """Communications at 80x24: a published update with a long dash (UCS-2), a press release
    draft, the next update due, and a stakeholder name with markup shown literally."""
    from mim_console.services.comms import CommsService

    code = with_incident(snap_context)
    comms = CommsService(snap_context)
    comms.add_to_list("Board", "Eero Berg")
    comms.draft(code, "press_release")
    update = comms.draft(code, "stakeholder_update")
    comms.draft(
        code, "stakeholder_update", update.text + " Card payments resume at 10:00 \u2014 ok."
    )
    comms.approve(code, "stakeholder_update", 2, "Aino Aalto", without_joining=True)
    comms.publish(code, "stakeholder_update", 2, "sms", "Board")
    comms.set_next_update(code, 30)
    app = make_app(snap_context, dispatch=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle(keys("r", "m")))
