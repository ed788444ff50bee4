"""The rotation repository on a real SQLite file: constraints in words, imports by UID, demo."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mim_console.data import rotations as repo
from mim_console.data.directory import Directory
from mim_console.data.store import Store
from mim_console.domain.rotation import RotationRole, ShiftUnit, parse_instant
from mim_console.errors import NotFound, UserError

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def spec(**kw: object) -> repo.RotationSpec:
    base: dict[str, object] = dict(
        name="Duty managers",
        shift_unit=ShiftUnit.WEEKS,
        shift_length=1,
        handoff_time=time(9, 0),
        handoff_weekday=0,
        timezone="Europe/Helsinki",
        start_date=date(2026, 3, 2),
    )
    base.update(kw)
    return repo.RotationSpec(**base)  # type: ignore[arg-type]


@pytest.fixture
def people(store: Store) -> list[int]:
    d = Directory(store)
    return [
        d.add_person("Aino", "+358401111111", email="aino@example.org").id,
        d.add_person("Eve", "+358402222222").id,
        d.add_person("Bob", "+358403333333").id,
    ]


def test_create_and_read_back(store: Store, people: list[int]) -> None:
    with store.write() as db:
        created = repo.create_rotation(db, spec(), people)
    with store.read() as db:
        found = repo.find_rotation(db, "DUTY MANAGERS")
        assert repo.find_rotation(db, str(created.id)) == found
        assert repo.duty_manager_rotation(db) == found
    assert found.members == tuple(people)
    assert found.handoff_weekday == 0 and found.role == RotationRole.DUTY_MANAGER
    assert found.on_duty(NOW) == people[0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "  "}, "a rotation needs a name"),
        ({"name": "x" * 500}, "rotation name is too long"),
        ({"handoff_weekday": None}, "weekly shifts need a handoff weekday"),
        ({"shift_unit": ShiftUnit.DAYS}, "weekday is for weekly shifts only"),
        ({"timezone": "Europe/Helsinky"}, 'time zone "Europe/Helsinky"'),
        ({"shift_length": 0}, "shift length must be at least 1"),
        ({"role": RotationRole.PARTY, "party_id": 99}, "no party with id 99"),
    ],
)
def test_bad_rotations_are_refused_in_words(
    store: Store, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(UserError, match=message), store.write() as db:
        repo.create_rotation(db, spec(**changes))
    assert store.query("SELECT count(*) AS n FROM rotation")[0]["n"] == 0


def test_one_duty_manager_rotation_and_one_per_party(store: Store, people: list[int]) -> None:
    party = Directory(store).add_party("Security").id
    with store.write() as db:
        repo.create_rotation(db, spec())
        repo.create_rotation(db, spec(name="Sec", role=RotationRole.PARTY, party_id=party))
    with pytest.raises(UserError, match="already a duty-manager rotation"), store.write() as db:
        repo.create_rotation(db, spec(name="Other"))
    with pytest.raises(UserError, match='"Security" already has a rotation'), store.write() as db:
        repo.create_rotation(db, spec(name="Sec2", role=RotationRole.PARTY, party_id=party))
    with pytest.raises(UserError, match="already exists"), store.write() as db:
        repo.create_rotation(db, spec(name="sec", role=RotationRole.PARTY, party_id=party))


def test_members_with_an_unknown_person_change_nothing(store: Store, people: list[int]) -> None:
    with store.write() as db:
        rotation = repo.create_rotation(db, spec(), people)
    with pytest.raises(NotFound, match="no person with id 999"), store.write() as db:
        repo.set_members(db, rotation.id, [people[1], 999])
    with store.read() as db:
        assert repo.rotation_by_id(db, rotation.id).members == tuple(people)


def test_imports_add_then_update_by_uid_and_never_duplicate(
    store: Store, people: list[int]
) -> None:
    with store.write() as db:
        rotation = repo.create_rotation(db, spec(), people)
    t0 = datetime(2026, 3, 10, 7, tzinfo=UTC)
    feed = [
        repo.ImportedShift("a", people[1], t0, t0 + timedelta(hours=8)),
        repo.ImportedShift("b", people[2], t0 + timedelta(days=1), t0 + timedelta(days=2)),
    ]
    with store.write() as db:
        assert repo.upsert_imported(db, rotation.id, feed) == repo.ImportCounts(2, 0, 0)
    moved = [feed[0], repo.ImportedShift("b", people[0], feed[1].starts_at, feed[1].ends_at)]
    with store.write() as db:
        assert repo.upsert_imported(db, rotation.id, moved) == repo.ImportCounts(0, 1, 1)
    with store.read() as db:
        loaded = repo.rotation_by_id(db, rotation.id)
    assert [(o.source_uid, o.person_id) for o in loaded.overrides] == [
        ("a", people[1]),
        ("b", people[0]),
    ]
    assert loaded.on_duty(t0 + timedelta(hours=1)) == people[1]


def test_window_loads_only_nearby_overrides(store: Store, people: list[int]) -> None:
    with store.write() as db:
        rotation = repo.create_rotation(db, spec(), people)
        for week in range(10):
            start = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(weeks=week)
            repo.add_override(db, rotation.id, people[2], start, start + timedelta(hours=4))
    with store.read() as db:
        near = repo.list_rotations(
            db, (datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
        )
    assert [o.starts_at.day for o in near[0].overrides] == [23, 30]


def test_remove_override_of_another_rotation_is_refused(store: Store, people: list[int]) -> None:
    party = Directory(store).add_party("Vendors").id
    with store.write() as db:
        duty = repo.create_rotation(db, spec(), people)
        other = repo.create_rotation(db, spec(name="V", role=RotationRole.PARTY, party_id=party))
        added = repo.add_override(db, duty.id, people[1], NOW, NOW + timedelta(hours=1))
    with pytest.raises(NotFound, match=f"no override {added.id} in this rotation"):
        with store.write() as db:
            repo.remove_override(db, other.id, added.id)
    with store.write() as db:
        assert repo.remove_override(db, duty.id, added.id) == added


def test_demo_seeding_gives_a_weekly_duty_rotation_party_rotations_and_an_override(
    store: Store,
) -> None:
    d = Directory(store)
    ids = [
        d.add_person(name, f"+35840{i:07d}", title=title).id
        for i, (name, title) in enumerate(
            [
                ("Aino", "Duty manager"),
                ("Eero", "Duty Manager"),
                ("Helmi", "duty manager, deputy CIO"),
                ("Ilkka", "Network lead"),
                ("Juho", "Security officer"),
                ("Kaisa", "Security analyst"),
            ]
        )
    ]
    security = d.add_party("Security").id
    network = d.add_party("Network").id
    d.set_representatives(security, [ids[4], ids[5]])
    d.set_representatives(network, [ids[3]])  # one person: keeps its fixed seat
    with store.write() as db:
        created = repo.seed_demo_rotations(db, NOW)
    assert [r.name for r in created] == ["Duty managers", "Security seat"]
    duty = created[0]
    assert duty.members == tuple(ids[:3])
    assert duty.shift_unit == ShiftUnit.WEEKS and duty.handoff_weekday == 0
    assert len(duty.overrides) == 1
    override = duty.overrides[0]
    assert override.starts_at == parse_instant("2026-03-05T08:00", duty.zone)
    assert override.person_id != duty.on_duty(override.starts_at - timedelta(seconds=1))
    assert duty.on_duty(override.starts_at) == override.person_id
    assert created[1].party_id == security and created[1].on_duty(NOW) in {ids[4], ids[5]}
    with pytest.raises(UserError), store.write() as db:
        repo.seed_demo_rotations(db, NOW)  # a second call changes nothing
    assert store.query("SELECT count(*) AS n FROM rotation")[0]["n"] == 2


def test_parse_instant_reads_offsets_wall_times_and_dates() -> None:
    zone = ZoneInfo("America/New_York")
    assert parse_instant("2026-03-08T07:00:00Z", zone) == datetime(2026, 3, 8, 7, tzinfo=UTC)
    assert parse_instant("2026-03-08T02:30", zone) == datetime(2026, 3, 8, 7, tzinfo=UTC)
    assert parse_instant("2026-11-01T01:30", zone) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert parse_instant("2026-03-09", zone) == datetime(2026, 3, 9, 4, tzinfo=UTC)
    with pytest.raises(UserError, match='--at "soon" is not ISO 8601'):
        parse_instant("soon", zone, "--at")
