"""Every screen on the demo organisation with an incident in progress, at 80x24 and 120x40:
snapshots, and the layout rule checked on every table (no cell cut without "…", no column off
the edge) and on the status lines (LATE, the quorum list, the spokesperson: whole).

Read a snapshot change line by line with ``MIM_SNAPSHOT_TEXT=DIR`` (tests/test_snapshots.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static, TextArea

from mim_console.app import MimConsole, make_app
from mim_console.config import Settings
from mim_console.domain.replies import InboundReply
from mim_console.services.context import Context
from mim_console.services.demo import seed
from mim_console.services.incidents import IncidentService
from mim_console.widgets.fittable import FitTable
from mim_console.widgets.rowlist import RowList
from tests.conftest import FROZEN_NOW
from tests.incident_seed import FakeClock
from tests.screen_text import screen_lines
from tests.test_snapshots import dump_text

SIZES = [(80, 24), (120, 40)]
SIZE_IDS = ["80x24", "120x40"]


@pytest.fixture(autouse=True)
def utc_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's zone is UTC; the console shows the organisation's (the demo rotation's)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def demo_incident(ctx: Context, clock: FakeClock) -> str:
    """The demo organisation 40 minutes into an incident: half the MRT joined, one unable, one
    on standby, a spokesperson whose status report is late, bare replies waiting for an
    incident (two are open), notes on the timeline."""
    seed(ctx)
    service = IncidentService(ctx)
    service.declare(title="Mail delayed", severity="SEV3")  # listed after the newer one
    groups = [str(g.id) for g in ctx.directory().groups()][:2]
    code = service.declare(title="Card payments failing", severity="SEV1", group_refs=groups).code
    seats = service.roll_call(code).seats
    mrt = [s.person.name for s in seats if s.participant.role.value == "mrt"]
    specialists = [s.person.name for s in seats if s.participant.role.value == "specialist"]
    clock.advance(minutes=4)
    service.mark_joined(code, mrt[:4] + specialists[:2])
    service.mark_unable(code, mrt[4:5])
    clock.advance(minutes=3)
    service.release(code, specialists[1:2])
    service.set_spokesperson(code, specialists[0])
    service.status_report(code, "Card switch failing over to the standby site", 10)
    service.note(code, "Vendor ticket opened with Contoso Networks")
    clock.advance(minutes=1)
    for n, seat in enumerate(seats[5:8]):
        at = clock() + (FROZEN_NOW - FROZEN_NOW)
        service.receive(InboundReply(seat.person.mobile, "1", f"SM{n:032d}", at))
    clock.advance(minutes=32)  # the status report (due 10 minutes after it) is late
    return code


@pytest.fixture
def desk(db_path: Path) -> Iterator[tuple[Context, str]]:
    clock = FakeClock(FROZEN_NOW)
    ctx = Context(settings=Settings(db_path=db_path), clock=clock, actor="tester")
    code = demo_incident(ctx, clock)
    yield ctx, code
    ctx.close()


async def settle(pilot: Pilot[Any]) -> None:
    app = pilot.app
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


def go(*presses: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Each key, then everything it loads; blinking cursors off, so snapshots are stable."""

    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in presses:
            await pilot.press(key)
            await settle(pilot)
        for widget in pilot.app.screen.query("Input, TextArea"):
            if isinstance(widget, Input | TextArea):
                widget.cursor_blink = False
        await pilot.pause()
        assert isinstance(pilot.app, MimConsole)
        dump_text(pilot.app)

    return run


# The screens a duty manager reads, by keys from Duty (the first incident is selected there).
SCREENS: dict[str, tuple[str, ...]] = {
    "duty": (),
    "roll_call": ("r",),
    "roll_call_help": ("r", "f1"),
    "declare": ("n",),
    "replies": ("y",),
    "directory": ("p",),
    "rotations": ("o",),
    "timeline": ("t",),
    "comms": ("m",),
    "report": ("r", "p"),
    "readiness": ("w",),
    "outbox": ("O",),
    "roll_call_outbox": ("r", "O"),
    "page_more": ("r", "plus"),
    "incident_edit": ("r", "E"),
    "escalate": ("r", "e"),
}


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(
    snap_compare: Any, desk: tuple[Context, str], screen: str, size: tuple[int, int]
) -> None:
    ctx, _ = desk
    app = make_app(ctx, dispatch=False)
    assert snap_compare(app, terminal_size=size, run_before=go(*SCREENS[screen]))


# -- the layout rule, measured ------------------------------------------------------------------


def cut_cells(table: DataTable[Any]) -> list[str]:
    """Cells wider than their column that do not end in "…" (DataTable cuts those silently),
    and columns that run past the table's right edge."""
    problems = []
    columns = list(table.columns.values())
    if sum(c.get_render_width(table) for c in columns) > table.size.width:
        shown = ", ".join(str(c.label) for c in columns)
        problems.append(f"{table.id}: columns ({shown}) wider than {table.size.width}")
    for row_key in table.rows:
        for column, cell in zip(columns, table.get_row(row_key), strict=False):
            text = cell.plain if hasattr(cell, "plain") else str(cell)
            for line in text.splitlines() or [""]:
                if cell_len(line) > column.content_width and not line.endswith("…"):
                    problems.append(f"{table.id}/{column.label}: {line!r}")
    return problems


def cut_rows(rows: RowList) -> list[str]:
    width = sum(w + 2 for _, w in rows.columns)
    return (
        [f"{rows.id}: {width} columns wide in {rows.size.width}"] if width > rows.size.width else []
    )


def shown_text(app: MimConsole, widget: Widget) -> str:
    """What is on screen inside ``widget``'s region, its lines joined (a wrapped line reads on)."""
    region = widget.content_region
    lines = screen_lines(app)[region.y : region.bottom]
    return " ".join(" ".join(line[region.x : region.right].split()) for line in lines)


def with_comms(ctx: Context, code: str) -> None:
    """Versions of both kinds, approved by the MRT member with the longest name who may
    approve, published by hand, and a stakeholder list member with a long label."""
    from mim_console.services.comms import CommsService

    comms = CommsService(ctx)
    approvers = [
        s.person for s in IncidentService(ctx).roll_call(code).seats if s.person.decision_authority
    ]
    approver = max(approvers, key=lambda p: len(p.name))
    for kind in ("stakeholder_update", "press_release"):
        comms.draft(code, kind)
        version = comms.draft(code, kind, "Card payments are failing over to the standby site")
        comms.approve(code, kind, version.version, str(approver.id), without_joining=True)
        comms.publish(code, kind, version.version, "manual", "Finance desk (by phone)")
    comms.add_to_list("Executive board", "+358401110000", "Chief Financial Officer (deputy)")


# Tables that are not on a snapshot: the comms screen's with versions, its templates and lists,
# and the call sheet's waiting alerts (k on the roll call).
MORE_TABLES: dict[str, tuple[str, ...]] = {
    "comms_versions": ("m",),
    "comms_templates": ("m", "t"),
    "comms_lists": ("m", "l"),
    "call_sheet": ("r", "k"),
}


@pytest.mark.parametrize("screen", list(SCREENS) + list(MORE_TABLES))
async def test_every_table_fits_at_80_columns(desk: tuple[Context, str], screen: str) -> None:
    ctx, code = desk
    if screen in ("comms_versions", "comms_lists"):
        with_comms(ctx, code)
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await go(*SCREENS.get(screen, MORE_TABLES.get(screen, ())))(pilot)
        problems: list[str] = []
        shown = [t for t in app.screen.query(DataTable) if t.display and t.row_count]
        if screen in MORE_TABLES:
            assert shown, f"{screen}: no table with rows on {type(app.screen).__name__}"
            assert all(isinstance(t, FitTable) for t in shown), screen
        for table in shown:
            problems += cut_cells(table)
        if screen == "comms_lists":  # a shortened member, whole under the tables
            members = app.screen.query_one("#members-table", FitTable)
            labels = [str(members.get_row_at(i)[0]) for i in range(members.row_count)]
            members.move_cursor(
                row=next(i for i, t in enumerate(labels) if t.startswith("Chief F"))
            )
            await settle(pilot)
            detail = app.screen.query_one("#members-detail", Static)
            assert "Chief Financial Officer (deputy)" in shown_text(app, detail)
        if screen == "comms_versions":  # what the table shortens, the line under it says whole
            title = app.screen.query_one("#comms-text-title", Static)
            assert "published: manual Finance desk (by phone)" in shown_text(app, title)
        for rows in app.screen.query(RowList):
            problems += cut_rows(rows)
        assert not problems, "\n".join(problems)


async def test_late_flag_quorum_list_and_spokesperson_are_whole_at_80(
    desk: tuple[Context, str],
) -> None:
    ctx, code = desk
    app = make_app(ctx, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await go("r")(pilot)
        view = app.screen.view  # type: ignore[attr-defined]
        assert "LATE" in view.speaker_line and "waiting for" in view.quorum_line
        quorum = app.screen.query_one("#rc-quorum", Static)
        speaker = app.screen.query_one("#rc-speaker", Static)
        assert " ".join(view.quorum_line.split()) in shown_text(app, quorum)
        assert " ".join(view.speaker_line.split()) in shown_text(app, speaker)
        rc = IncidentService(ctx).roll_call(code)
        assert rc.spokesperson is not None and rc.spokesperson.name in shown_text(app, speaker)
        for party in rc.quorum.missing:
            assert rc.party_names[party] in shown_text(app, quorum)


def test_times_are_the_organisations(desk: tuple[Context, str]) -> None:
    """The machine is on UTC; the demo's duty rotation (so the organisation) is in Helsinki."""
    from mim_console.services.timezone import display_zone, times_in

    ctx, _ = desk
    assert times_in(display_zone(ctx)) == "times in Europe/Helsinki"
    assert os.environ["TZ"] == "UTC"
    assert isinstance(FROZEN_NOW, datetime)
