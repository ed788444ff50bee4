"""A small fixed organisation for the console tests and snapshots (deterministic)."""

from __future__ import annotations

from datetime import date, datetime, time

from mim_console.data import rotations
from mim_console.data.directory import Directory
from mim_console.data.store import Store
from mim_console.domain.rotation import RotationRole, ShiftUnit

PEOPLE = [
    # name, mobile, party index, authority
    ("Aino Aalto", "+358401234501", 0, True),
    ("Eero Berg", "+358401234502", 0, True),
    ("Helmi Heikkinen", "+358401234503", 1, True),
    ("Ilkka Korhonen", "+358401234504", 1, True),
    ("[bold red]Eve[/] \x1b[31mEvil", "+358401234505", 2, True),
    ("Juho Laine", "+358401234506", 2, True),
    ("Kaisa Mäkinen", "+358401234507", None, False),
    ("Leena Nieminen", "+358401234508", None, False),
    ("Mikko Ojala", "+358401234509", None, False),
]
PARTIES = ["IT operations", "Communications", "[bold]Vendor[/] Oy"]


def seed_small(store: Store, now: datetime) -> dict[str, int]:
    """Three parties with a primary and a deputy each, two specialist groups, a duty rotation."""
    directory = Directory(store, default_region="FI", clock=lambda: now)
    parties = [directory.add_party(name) for name in PARTIES]
    ids = []
    for name, mobile, party, authority in PEOPLE:
        person = directory.add_person(
            name=name,
            mobile=mobile,
            party_id=parties[party].id if party is not None else None,
            decision_authority=authority,
            title="engineer",
        )
        directory.mark_verified(person.id, now)
        ids.append(person.id)
    for index, each in enumerate(parties):
        directory.set_representatives(each.id, [ids[2 * index], ids[2 * index + 1]])
    db_group = directory.add_group("Database team", ["database", "payments"])
    directory.set_group_members(db_group.id, [ids[6], ids[7]])
    net_group = directory.add_group("Network team", ["network"])
    directory.set_group_members(net_group.id, [ids[8], ids[6]])
    with store.write() as db:
        rotation = rotations.create_rotation(
            db,
            rotations.RotationSpec(
                name="Duty managers",
                shift_unit=ShiftUnit.WEEKS,
                shift_length=1,
                handoff_time=time(9, 0),
                timezone="UTC",
                start_date=date(2026, 1, 5),
                role=RotationRole.DUTY_MANAGER,
                handoff_weekday=0,
            ),
            [ids[0], ids[2], ids[5]],
        )
    return {"people": len(ids), "rotation": rotation.id}
