"""Replies that name no incident: counted on Duty and every open roll call, placed by keys or
by `mim-console replies assign`, listed by `mim-console replies [--unassigned] [--json]`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.widgets import OptionList, Static

from mim_console.app import make_app
from mim_console.cli import main
from mim_console.domain.incident import State
from mim_console.domain.replies import InboundReply
from mim_console.errors import UserError
from mim_console.screens.duty import DutyScreen
from mim_console.screens.replies import PlaceScreen, RepliesScreen
from mim_console.screens.rollcall import RollCallScreen
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.ui_data import PEOPLE, seed_small

MOBILE = {name: mobile for name, mobile, _, _ in PEOPLE}
REPLIERS = ["Aino Aalto", "Eero Berg", "Helmi Heikkinen", "Ilkka Korhonen", "Juho Laine"]


def two_open_with_bare_replies(ctx: Context) -> tuple[str, str]:
    """Two incidents paging the same parties; five people answer `1` without a code."""
    seed_small(ctx.store, FROZEN_NOW)
    service = IncidentService(ctx)
    first = service.declare(title="Payments down", severity="SEV1").code
    second = service.declare(title="Mail down", severity="SEV2").code
    for n, name in enumerate(REPLIERS):
        at = FROZEN_NOW + timedelta(minutes=1, seconds=n)
        outcome = service.receive(InboundReply(MOBILE[name], "1", f"SM{n:032d}", at))
        assert not outcome.answered  # ambiguous: each got the help SMS instead
    return first, second


def states(ctx: Context, code: str) -> dict[str, State]:
    rc = IncidentService(ctx).roll_call(code)
    return {s.person.name: s.participant.state for s in rc.seats}


def test_bare_replies_are_listed_and_placed_once(context: Context) -> None:
    first, second = two_open_with_bare_replies(context)
    service = IncidentService(context)
    found = service.replies(unplaced=True)
    assert [r.person_name for r in found] == REPLIERS
    # Paged for both: ambiguous; a deputy nobody paged: not alerted. Both wait for a decision.
    assert found[0].meaning == "ambiguous"
    assert {r.meaning for r in found} <= {"ambiguous", "not_alerted"}
    assert all(r.says == "joining" for r in found)
    said = service.assign_reply(found[0].id, second)
    assert "joined" in said
    assert states(context, second)["Aino Aalto"] is State.JOINED
    assert states(context, first)["Aino Aalto"] is State.ALERTED  # only where it was placed
    with pytest.raises(UserError, match="already placed"):
        service.assign_reply(found[0].id, first)
    service.dismiss_reply(found[1].id)
    assert service.unplaced_count() == 3
    events = [e.text for e in service.timeline(second)]
    assert any("placed on" in t and "Aino Aalto" in t for t in events)


def test_words_that_say_neither_need_a_meaning(context: Context) -> None:
    first, _ = two_open_with_bare_replies(context)
    service = IncidentService(context)
    at = FROZEN_NOW + timedelta(minutes=3)
    service.receive(InboundReply(MOBILE["Helmi Heikkinen"], "on my way", "SM" + "9" * 32, at))
    words = next(r for r in service.replies(unplaced=True) if r.body == "on my way")
    assert words.meaning == "unrecognised" and words.says is None
    with pytest.raises(UserError, match="neither joining nor unable"):
        service.assign_reply(words.id, first)
    service.assign_reply(words.id, first, "joining")
    assert states(context, first)["Helmi Heikkinen"] is State.JOINED


def test_nothing_needs_an_incident_when_none_is_open(context: Context) -> None:
    first, second = two_open_with_bare_replies(context)
    service = IncidentService(context)
    for code in (first, second):
        service.close(code, problem_ref="PRB1", owner="Aino Aalto", summary="fixed")
    assert service.replies(unplaced=True) == []
    assert len(service.replies()) >= 5  # still in the full list


def test_cli_lists_as_json_and_assigns(context: Context, db_path: Path) -> None:
    first, _ = two_open_with_bare_replies(context)
    context.close()
    runner = CliRunner()
    out = runner.invoke(main, ["--db", str(db_path), "replies", "--unassigned", "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)
    assert len(listed) == 5
    one = listed[0]
    assert set(one) == {"id", "person", "from", "body", "received_at", "incident", "meaning"}
    assert one["person"]["name"] == "Aino Aalto" and one["from"] == MOBILE["Aino Aalto"]
    assert one["body"] == "1" and one["incident"] is None and one["meaning"] == "ambiguous"
    assert one["received_at"].endswith("+00:00")  # JSON stays UTC
    table = runner.invoke(main, ["--db", str(db_path), "replies", "--unassigned"])
    assert table.exit_code == 0 and "Aino Aalto" in table.output and "times in" in table.output
    done = runner.invoke(main, ["--db", str(db_path), "replies", "assign", str(one["id"]), first])
    assert done.exit_code == 0, done.output
    assert "joined" in done.output
    again = runner.invoke(main, ["--db", str(db_path), "replies", "--json"])
    placed = next(r for r in json.loads(again.output) if r["id"] == one["id"])
    assert placed["incident"] == first and placed["meaning"] == "joining"
    wrong = runner.invoke(main, ["--db", str(db_path), "replies", "assign", "9999", first])
    assert wrong.exit_code != 0 and "no reply 9999" in wrong.output


async def test_counts_on_duty_and_roll_calls_then_placed_by_keys(context: Context) -> None:
    first, second = two_open_with_bare_replies(context)
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(80, 24)) as pilot:

        async def settle() -> None:
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()

        await settle()
        assert isinstance(app.screen, DutyScreen)
        line = app.screen.query_one("#duty-unplaced", Static)
        assert line.display and "5 replies need an incident" in str(line.render())
        for row in (0, 1):  # both roll calls say it
            await pilot.press("escape") if row else None
            await settle()
            await pilot.press(*(["down"] * row), "r")
            await settle()
            assert isinstance(app.screen, RollCallScreen)
            assert "5 replies need an incident" in str(
                app.screen.query_one("#rc-unplaced", Static).render()
            )
        await pilot.press("y")
        await settle()
        assert isinstance(app.screen, RepliesScreen)
        await pilot.press("a")
        await settle()
        assert isinstance(app.screen, PlaceScreen)
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        target = next(i for i, label in enumerate(labels) if label.startswith(first))
        await pilot.press(*(["down"] * target), "enter")
        await settle()
        assert isinstance(app.screen, RepliesScreen)
        assert "4 replies need an incident" in str(app.screen.query_one("#rp-title").render())
    assert states(context, first)["Aino Aalto"] is State.JOINED
    assert states(context, second)["Aino Aalto"] is State.ALERTED
