"""The directory repository on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mim_console.data.demo import seed_demo
from mim_console.data.directory import Directory
from mim_console.data.store import Store
from mim_console.domain.people import Person
from mim_console.errors import NotFound, UserError
from tests.conftest import FROZEN_NOW


@pytest.fixture
def directory(store: Store) -> Directory:
    return Directory(store, default_region="FI", clock=lambda: FROZEN_NOW)


def test_add_person_stores_e164_and_markup_literally(directory: Directory) -> None:
    p = directory.add_person("[bold red]Eve[/]\x1b[2J", "040 123 4567", email="eve@example.org")
    assert isinstance(p, Person)
    assert p.mobile == "+358401234567"
    assert directory.person(p.id).name == "[bold red]Eve[/]\x1b[2J"


def test_bad_phone_writes_nothing(directory: Directory) -> None:
    with pytest.raises(UserError, match='"\\+358 40" is too short'):
        directory.add_person("Bo", "+358 40")
    assert directory.people() == []


def test_duplicate_email_and_ext_id_are_refused(directory: Directory) -> None:
    a = directory.add_person("Aino", "0401234567", email="aino@example.org", ext_id="1")
    with pytest.raises(UserError, match="already belongs to Aino"):
        directory.add_person("Other", "0401234568", email="AINO@example.org")
    with pytest.raises(UserError, match='id "1" already belongs'):
        directory.add_person("Other", "0401234568", ext_id="1")
    assert [p.id for p in directory.people()] == [a.id]


def test_find_person_by_every_kind_of_reference(directory: Directory) -> None:
    aino = directory.add_person("Aino Virtanen", "0401234567", email="aino@example.org")
    ainol = directory.add_person("Aino Laine", "0401234568", ext_id="E77")
    assert directory.find_person(str(aino.id)) == aino
    assert directory.find_person("#" + str(ainol.id)) == ainol
    assert directory.find_person("E77") == ainol
    assert directory.find_person("AINO@EXAMPLE.ORG") == aino
    assert directory.find_person("aino virtanen") == aino
    assert directory.find_person("laine") == ainol
    with pytest.raises(UserError) as info:
        directory.find_person("aino")
    message = str(info.value)
    assert "matches 2 people" in message
    assert "Aino Virtanen <aino@example.org> (id 1" in message and "Aino Laine (id 2" in message
    with pytest.raises(NotFound):
        directory.find_person("nobody")


def test_exact_name_beats_substring(directory: Directory) -> None:
    eve = directory.add_person("Eve", "0401234567")
    directory.add_person("Evelyn", "0401234568")
    assert directory.find_person("eve") == eve


def test_update_changes_only_given_fields(directory: Directory) -> None:
    p = directory.add_person("Aino", "0401234567", title="Ops", notes="keep")
    updated = directory.update_person(p.id, title="CIO", phone2="09 123 4567")
    assert (updated.title, updated.notes, updated.phone2) == ("CIO", "keep", "+35891234567")
    assert directory.person_by_phone("+35891234567") == updated
    with pytest.raises(UserError, match="mobile is empty"):
        directory.update_person(p.id, mobile="")
    verified = directory.mark_verified(p.id, datetime(2026, 3, 1, 12, tzinfo=UTC))
    assert verified.verified_at == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert not directory.deactivate_person(p.id).active
    assert directory.people(active_only=True) == []


def test_parties_and_groups_keep_their_order(directory: Directory) -> None:
    a = directory.add_person("A", "0401234567")
    b = directory.add_person("B", "0401234568")
    c = directory.add_person("C", "0401234569")
    party = directory.add_party("IT Ops")
    assert directory.set_representatives(party.id, [c.id, a.id]).representatives == (c.id, a.id)
    assert directory.party("it ops").representatives == (c.id, a.id)
    group = directory.add_group("Network", ["network", " DNS ", "dns", ""])
    assert group.categories == ("network", "DNS")
    directory.set_group_members(group.id, [b.id, c.id, a.id])
    assert directory.group("NETWORK").members == (b.id, c.id, a.id)
    assert directory.groups_covering(["dns"]) == [directory.group(group.id)]
    assert directory.groups_covering(["email"]) == []
    with pytest.raises(UserError, match="listed twice"):
        directory.set_group_members(group.id, [a.id, a.id])
    with pytest.raises(NotFound, match="no person with id 999"):
        directory.set_representatives(party.id, [999])
    assert directory.party(party.id).representatives == (c.id, a.id)
    with pytest.raises(UserError, match="already exists"):
        directory.add_party("IT OPS")
    with pytest.raises(NotFound, match="known: IT Ops"):
        directory.party("Finance")


def test_people_by_ids_handles_many(directory: Directory, store: Store) -> None:
    summary = seed_demo(store, FROZEN_NOW)
    ids = [p.id for p in directory.people()]
    assert len(directory.people_by_ids(ids + [10_000])) == summary.people


def test_demo_is_rich_deterministic_and_refuses_real_data(tmp_path: object) -> None:
    from pathlib import Path

    dumps = []
    for name in ("a.db", "b.db"):
        store = Store(Path(str(tmp_path)) / name)
        summary = seed_demo(store, FROZEN_NOW)
        d = Directory(store)
        people = d.people()
        assert summary.people == len(people) >= 60
        assert summary.rotations >= 2  # duty managers plus party seats
        assert len(d.parties()) >= 8 and len(d.groups()) >= 6
        assert len({p.name for p in people}) == len(people)
        assert sum(not p.active for p in people) == 1
        assert any(p.phone2 for p in people)
        assert all(p.mobile.startswith("+1") and p.mobile[5:9] == "5550" for p in people)
        assert all(p.email and p.email.endswith("@example.org") for p in people)
        for party in d.parties():
            assert len(party.representatives) >= 2
            assert d.person(party.representatives[0]).decision_authority
        assert all(g.categories and g.members for g in d.groups())
        dumps.append(
            (
                [(p.name, p.mobile, p.email) for p in people],
                [(p.name, p.representatives) for p in d.parties()],
            )
        )
        with pytest.raises(UserError, match=f"already holds {len(people)} people"):
            seed_demo(store, FROZEN_NOW)
        store.close()
    assert dumps[0] == dumps[1]
