"""Rotations for the CLI and the Rotations screen: read, create, members, overrides, export.

Each call is one read or one ``store.write()`` transaction. People are looked up with the
directory's one rule (``find_person``) and shown with one shift formatter (``who_is_on``), so
`mim-console rota shifts` and the Rotations screen say the same thing about the same stretch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from mim_console.data import rotations as repo
from mim_console.data.rotations import RotationSpec
from mim_console.domain.people import Person
from mim_console.domain.rotation import Override, Piece, Rotation
from mim_console.services.context import Context

__all__ = [
    "RotationSpec",
    "add_override",
    "create_rotation",
    "delete_rotation",
    "duty_rotation",
    "export_ics",
    "find_rotation",
    "list_rotations",
    "people_of",
    "remove_override",
    "set_members",
    "who_is_on",
]

NOBODY_ON_DUTY = "NOBODY ON DUTY"


def duty_rotation(ctx: Context) -> Rotation | None:
    with ctx.store.read() as db:
        return repo.duty_manager_rotation(db)


def find_rotation(ctx: Context, ref: str) -> Rotation:
    """By name (any case) or numeric id."""
    with ctx.store.read() as db:
        return repo.find_rotation(db, ref)


def list_rotations(ctx: Context) -> list[Rotation]:
    with ctx.store.read() as db:
        return repo.list_rotations(db)


def create_rotation(ctx: Context, spec: RotationSpec, member_ids: Sequence[int]) -> Rotation:
    with ctx.store.write() as db:
        return repo.create_rotation(db, spec, member_ids)


def delete_rotation(ctx: Context, rotation_id: int) -> None:
    with ctx.store.write() as db:
        repo.delete_rotation(db, rotation_id)


def set_members(ctx: Context, rotation_id: int, person_ids: Sequence[int]) -> Rotation:
    with ctx.store.write() as db:
        return repo.set_members(db, rotation_id, person_ids)


def add_override(
    ctx: Context,
    rotation_id: int,
    person_id: int,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
) -> Override:
    with ctx.store.write() as db:
        return repo.add_override(db, rotation_id, person_id, starts_at, ends_at, reason)


def remove_override(ctx: Context, rotation_id: int, override_id: int) -> Override:
    with ctx.store.write() as db:
        return repo.remove_override(db, rotation_id, override_id)


def people_of(ctx: Context, ids: Iterable[int | None]) -> dict[int, Person]:
    """The people these ids name (``None``s and repeats ignored); no query for none."""
    wanted = sorted({i for i in ids if i is not None})
    return ctx.directory().people_by_ids(wanted) if wanted else {}


def export_ics(
    rotation: Rotation, shifts: Sequence[Piece], people: dict[int, Person], now: datetime
) -> bytes:
    from mim_console.data import ics  # only here: `mim-console duty` need not load icalendar

    return ics.export_rotation(rotation, list(shifts), people, now)


def who_is_on(piece: Piece, people: dict[int, Person]) -> str:
    """Who holds a stretch, as every shift list says it: a name (INACTIVE ones marked), a bare
    id for someone no longer in the directory, or nobody."""
    if piece.person_id is None:
        return NOBODY_ON_DUTY
    person = people.get(piece.person_id)
    if person is None:
        return f"person {piece.person_id}"
    return person.name + ("" if person.active else " (INACTIVE)")
