"""The services the screens and commands use instead of the data layer: one person-lookup rule,
one directory factory, the Duty list's joined counts, one shift formatter."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mim_console.config import BridgeSettings, Settings
from mim_console.domain.incident import State
from mim_console.domain.rotation import Piece
from mim_console.errors import UserError
from mim_console.services import rota as rota_service
from mim_console.services.attendance import joined_counts
from mim_console.services.comms import CommsService
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import seed


@pytest.fixture
def ctx(db_path: Path) -> Context:
    settings = Settings(
        db_path=db_path,
        bridge=BridgeSettings(number="+358 9 1234 5678", pin="4242"),
        default_region="SE",
    )
    return Context(settings=settings, clock=lambda: FROZEN_NOW, actor="dm")


def test_comms_names_people_by_the_directory_rule(ctx: Context) -> None:
    """A name that works on the roll call (a unique part, "#id") works when approving too."""
    ids = seed(ctx.store, FROZEN_NOW)
    code = (
        IncidentService(ctx)
        .declare(title="Payments down", severity="SEV1", categories=["payments"])
        .code
    )
    comms = CommsService(ctx)
    comms.draft(code, "stakeholder_update", "Payments are down; next update 10:30.")
    approved = comms.approve(
        code, "stakeholder_update", 1, "alice", without_joining=True
    )  # part of "Alice Ops"
    assert approved.approved_by == ids["Alice Ops"]
    comms.draft(code, "stakeholder_update", "Payments are back.")
    assert (
        comms.approve(
            code, "stakeholder_update", 2, f"#{ids['Bob Ops']}", without_joining=True
        ).approved_by
        == (ids["Bob Ops"])
    )
    with pytest.raises(UserError, match='"ops" matches 3 people'):
        comms.approve(code, "stakeholder_update", 2, "ops")
    with pytest.raises(UserError, match='no person "Nobody"'):
        comms.approve(code, "stakeholder_update", 2, "Nobody")


def test_the_directory_factory_reads_phones_in_the_configured_region(ctx: Context) -> None:
    person = ctx.directory().add_person("Sven Svensson", "070 123 45 67")
    assert person.mobile == "+46701234567"  # Sweden, as configured: not the "FI" default
    with ctx.store.read() as db:
        created = db.execute("SELECT created_at FROM person WHERE id = ?", [person.id]).fetchone()
    assert created[0] == FROZEN_NOW.isoformat()  # the context's clock, not the wall clock


def test_joined_counts_agree_with_the_roll_call(ctx: Context) -> None:
    seed(ctx.store, FROZEN_NOW)
    service = IncidentService(ctx)
    first = service.declare(title="Payments down", severity="SEV1", categories=["payments"])
    second = service.declare(title="Mail slow", severity="SEV3", categories=[])
    service.mark_joined(first.code, ["Alice Ops", "Dan Biz", "Sam Spec"])
    service.mark_unable(first.code, ["Frank Comms"])
    counts = joined_counts(ctx, [first, second])
    for inc in (first, second):
        rc = service.roll_call(inc.code)
        came = counts[inc.id]
        assert came.total == len(rc.seats)
        assert came.joined == sum(1 for s in rc.seats if s.participant.state is State.JOINED)
        assert came.quorum == rc.quorum
    assert counts[first.id].joined == 3
    assert not counts[first.id].quorum.reached  # Communications has nobody joined
    assert joined_counts(ctx, []) == {}


def test_one_shift_formatter_for_the_cli_and_the_screen(ctx: Context) -> None:
    seed(ctx.store, FROZEN_NOW)
    directory = ctx.directory()
    alice = directory.find_person("Alice Ops")
    carol = directory.deactivate_person(directory.find_person("Carol Ops").id)
    people = {alice.id: alice, carol.id: carol}
    end = FROZEN_NOW + timedelta(hours=8)
    assert rota_service.who_is_on(Piece(FROZEN_NOW, end, alice.id), people) == "Alice Ops"
    assert rota_service.who_is_on(Piece(FROZEN_NOW, end, carol.id), people) == (
        "Carol Ops (INACTIVE)"
    )
    assert rota_service.who_is_on(Piece(FROZEN_NOW, end, 999), people) == "person 999"
    assert rota_service.who_is_on(Piece(FROZEN_NOW, end, None), people) == "NOBODY ON DUTY"
