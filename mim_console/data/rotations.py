"""Rotations, their members and overrides: rows in, ``domain.rotation.Rotation`` out.

Every function takes the ``Database`` of a ``store.read()`` / ``store.write()`` block, so a
service can put several changes in one transaction. Constraint failures become ``UserError``s
that name the rotation, person or override concerned.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlite_utils import Database

from mim_console.clock import to_iso
from mim_console.data.rotation_rows import Window, build_rotations, override_row, query_rows
from mim_console.data.store import as_row_id
from mim_console.domain.people import clean_name, clean_text
from mim_console.domain.rotation import (
    Override,
    Rotation,
    RotationRole,
    ShiftUnit,
)
from mim_console.errors import NotFound, UserError

# --- reading ---------------------------------------------------------------------------------


def list_rotations(db: Database, window: Window | None = None) -> list[Rotation]:
    """Every rotation with members and overrides: duty manager first, then by name.

    ``window`` loads only the overrides that overlap it (years of history need not be read to
    answer "who now").
    """
    rows = query_rows(
        db, "SELECT * FROM rotation ORDER BY role = 'duty_manager' DESC, name COLLATE NOCASE"
    )
    return build_rotations(db, rows, window)


def rotation_by_id(db: Database, rotation_id: int) -> Rotation:
    rows = query_rows(db, "SELECT * FROM rotation WHERE id = ?", [rotation_id])
    if not rows:
        raise NotFound(f"no rotation with id {rotation_id}")
    return build_rotations(db, rows)[0]


def find_rotation(db: Database, ref: str) -> Rotation:
    """By name (any case) or numeric id."""
    text = ref.strip()
    rows = query_rows(db, "SELECT * FROM rotation WHERE name = ? COLLATE NOCASE", [text])
    if not rows and as_row_id(text) is not None:
        rows = query_rows(db, "SELECT * FROM rotation WHERE id = ?", [as_row_id(text)])
    if not rows:
        names = [r["name"] for r in query_rows(db, "SELECT name FROM rotation ORDER BY name")]
        known = f"; rotations: {', '.join(names)}" if names else "; there are no rotations yet"
        raise NotFound(f'no rotation "{text}"{known}')
    return build_rotations(db, rows)[0]


def duty_manager_rotation(db: Database, window: Window | None = None) -> Rotation | None:
    rows = query_rows(db, "SELECT * FROM rotation WHERE role = 'duty_manager'")
    return build_rotations(db, rows, window)[0] if rows else None


def party_rotations(db: Database, window: Window | None = None) -> dict[int, Rotation]:
    """Party id → the rotation holding that party's MRT seat."""
    rows = query_rows(db, "SELECT * FROM rotation WHERE role = 'party'")
    return {r.party_id: r for r in build_rotations(db, rows, window) if r.party_id is not None}


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RotationSpec:
    """What ``rota create`` asks for; checked by building the domain value first."""

    name: str
    shift_unit: ShiftUnit
    shift_length: int
    handoff_time: time
    timezone: str
    start_date: date
    role: RotationRole = RotationRole.DUTY_MANAGER
    party_id: int | None = None
    handoff_weekday: int | None = None

    def check(self) -> Rotation:
        if not self.name.strip():
            raise UserError("a rotation needs a name")
        clean_name(self.name, "rotation name")
        if self.shift_unit == ShiftUnit.WEEKS and self.handoff_weekday is None:
            raise UserError(f"rotation {self.name}: weekly shifts need a handoff weekday")
        if self.shift_unit != ShiftUnit.WEEKS and self.handoff_weekday is not None:
            raise UserError(f"rotation {self.name}: a handoff weekday is for weekly shifts only")
        return Rotation(
            id=0,
            name=self.name,
            shift_unit=self.shift_unit,
            shift_length=self.shift_length,
            handoff_time=self.handoff_time,
            timezone=self.timezone,
            start_date=self.start_date,
            role=self.role,
            party_id=self.party_id,
            handoff_weekday=self.handoff_weekday,
        )


def create_rotation(db: Database, spec: RotationSpec, members: Sequence[int] = ()) -> Rotation:
    spec.check()
    name = spec.name.strip()
    if query_rows(db, "SELECT 1 FROM rotation WHERE name = ? COLLATE NOCASE", [name]):
        raise UserError(f'a rotation named "{name}" already exists')
    if spec.role == RotationRole.DUTY_MANAGER:
        existing = query_rows(db, "SELECT name FROM rotation WHERE role = 'duty_manager'")
        if existing:
            raise UserError(
                f'there is already a duty-manager rotation ("{existing[0]["name"]}"); '
                "there is only one"
            )
    if spec.party_id is not None:
        party = query_rows(db, "SELECT name FROM party WHERE id = ?", [spec.party_id])
        if not party:
            raise NotFound(f"no party with id {spec.party_id}")
        existing = query_rows(db, "SELECT name FROM rotation WHERE party_id = ?", [spec.party_id])
        if existing:
            raise UserError(
                f'party "{party[0]["name"]}" already has a rotation ("{existing[0]["name"]}")'
            )
    cursor = db.execute(
        "INSERT INTO rotation (name, role, party_id, shift_unit, shift_length, handoff_time, "
        "handoff_weekday, timezone, start_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            name,
            spec.role.value,
            spec.party_id,
            spec.shift_unit.value,
            spec.shift_length,
            f"{spec.handoff_time:%H:%M}",
            spec.handoff_weekday,
            spec.timezone,
            spec.start_date.isoformat(),
        ],
    )
    rotation_id = int(cursor.lastrowid or 0)
    if members:
        set_members(db, rotation_id, members)
    return rotation_by_id(db, rotation_id)


def _check_people(db: Database, person_ids: Iterable[int]) -> None:
    wanted = sorted(set(person_ids))
    if not wanted:
        return
    marks = ",".join("?" * len(wanted))
    found = {
        r["id"] for r in query_rows(db, f"SELECT id FROM person WHERE id IN ({marks})", wanted)
    }
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise NotFound(f"no person with id {', '.join(missing)}")


def set_members(db: Database, rotation_id: int, person_ids: Sequence[int]) -> Rotation:
    """Replace the member order. A person may appear more than once (A, B, A, C)."""
    rotation_by_id(db, rotation_id)
    _check_people(db, person_ids)
    db.execute("DELETE FROM rotation_member WHERE rotation_id = ?", [rotation_id])
    for position, person_id in enumerate(person_ids):
        db.execute(
            "INSERT INTO rotation_member (rotation_id, person_id, position) VALUES (?, ?, ?)",
            [rotation_id, person_id, position],
        )
    return rotation_by_id(db, rotation_id)


def add_override(
    db: Database,
    rotation_id: int,
    person_id: int,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
    source_uid: str | None = None,
) -> Override:
    Override(0, person_id, starts_at, ends_at)  # checks order and time zones
    reason = clean_text(reason, "reason", 500)
    rotation_by_id(db, rotation_id)
    _check_people(db, [person_id])
    try:
        cursor = db.execute(
            "INSERT INTO rotation_override (rotation_id, person_id, starts_at, ends_at, reason, "
            "source_uid) VALUES (?, ?, ?, ?, ?, ?)",
            [rotation_id, person_id, to_iso(starts_at), to_iso(ends_at), reason, source_uid],
        )
    except sqlite3.IntegrityError as exc:
        raise UserError(f"override {source_uid} is already in this rotation") from exc
    return override_by_id(db, int(cursor.lastrowid or 0))


def override_by_id(db: Database, override_id: int) -> Override:
    rows = query_rows(db, "SELECT * FROM rotation_override WHERE id = ?", [override_id])
    if not rows:
        raise NotFound(f"no override with id {override_id}")
    return override_row(rows[0])


def remove_override(db: Database, rotation_id: int, override_id: int) -> Override:
    rows = query_rows(
        db,
        "SELECT * FROM rotation_override WHERE id = ? AND rotation_id = ?",
        [override_id, rotation_id],
    )
    if not rows:
        raise NotFound(f"no override {override_id} in this rotation")
    db.execute("DELETE FROM rotation_override WHERE id = ?", [override_id])
    return override_row(rows[0])


@dataclass(frozen=True)
class ImportedShift:
    """One feed event resolved to a person: becomes or updates an override by ``source_uid``."""

    source_uid: str
    person_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str = ""


@dataclass(frozen=True)
class ImportCounts:
    added: int
    updated: int
    unchanged: int
    removed: int = 0


def upsert_imported(
    db: Database, rotation_id: int, shifts: Sequence[ImportedShift], *, prune: bool = False
) -> ImportCounts:
    """Add feed shifts as overrides; a UID seen before updates its override in place.

    ``prune`` also removes earlier imported overrides (those with a UID) that overlap the
    feed's time span but whose UID the feed no longer has: a shift deleted at the source.
    Overrides added by hand are never pruned. Call inside ``store.write()`` so the whole feed
    lands or nothing does.
    """
    rotation_by_id(db, rotation_id)
    _check_people(db, [s.person_id for s in shifts])
    added = updated = unchanged = 0
    for shift in shifts:
        Override(0, shift.person_id, shift.starts_at, shift.ends_at)
        existing = query_rows(
            db,
            "SELECT * FROM rotation_override WHERE rotation_id = ? AND source_uid = ?",
            [rotation_id, shift.source_uid],
        )
        values = [shift.person_id, to_iso(shift.starts_at), to_iso(shift.ends_at), shift.reason]
        if not existing:
            db.execute(
                "INSERT INTO rotation_override (person_id, starts_at, ends_at, reason, "
                "rotation_id, source_uid) VALUES (?, ?, ?, ?, ?, ?)",
                [*values, rotation_id, shift.source_uid],
            )
            added += 1
            continue
        old = override_row(existing[0])
        if (old.person_id, old.starts_at, old.ends_at, old.reason) == (
            shift.person_id,
            shift.starts_at,
            shift.ends_at,
            shift.reason,
        ):
            unchanged += 1
            continue
        db.execute(
            "UPDATE rotation_override SET person_id = ?, starts_at = ?, ends_at = ?, reason = ? "
            "WHERE id = ?",
            [*values, old.id],
        )
        updated += 1
    removed = 0
    if prune and shifts:
        span_start = min(s.starts_at for s in shifts)
        span_end = max(s.ends_at for s in shifts)
        keep = {s.source_uid for s in shifts}
        stale = [
            row["id"]
            for row in query_rows(
                db,
                "SELECT id, source_uid FROM rotation_override WHERE rotation_id = ? "
                "AND source_uid IS NOT NULL AND starts_at < ? AND ends_at > ?",
                [rotation_id, to_iso(span_end), to_iso(span_start)],
            )
            if row["source_uid"] not in keep
        ]
        for override_id in stale:
            db.execute("DELETE FROM rotation_override WHERE id = ?", [override_id])
        removed = len(stale)
    return ImportCounts(added, updated, unchanged, removed)


def delete_rotation(db: Database, rotation_id: int) -> None:
    """With its members and overrides (ON DELETE CASCADE): `rota delete`, e.g. a broken one."""
    rotation_by_id(db, rotation_id)
    db.execute("DELETE FROM rotation_member WHERE rotation_id = ?", [rotation_id])
    db.execute("DELETE FROM rotation_override WHERE rotation_id = ?", [rotation_id])
    db.execute("DELETE FROM rotation WHERE id = ?", [rotation_id])


# --- demo ------------------------------------------------------------------------------------


def seed_demo_rotations(
    db: Database,
    now: datetime,
    *,
    timezone: str = "Europe/Helsinki",
) -> list[Rotation]:
    """The demo organisation's rotations: weekly duty managers, weekly party seats, one override.

    Duty managers are the people whose title says "duty manager" (else the first four people
    with decision authority); each party with at least two representatives gets a weekly
    rotation over them. The override puts the second duty manager on for tomorrow 08:00–20:00
    local time, so the home view shows one. Call inside ``store.write()`` on a database with
    people and parties but no rotations; returns what it created.
    """
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    local_today = now.astimezone(zone).date()
    start = local_today - timedelta(days=28)
    people = query_rows(
        db, "SELECT id, title, decision_authority FROM person WHERE active = 1 ORDER BY id"
    )
    managers = [p["id"] for p in people if "duty manager" in (p["title"] or "").lower()]
    if len(managers) < 2:
        managers = [p["id"] for p in people if p["decision_authority"]][:4]
    created: list[Rotation] = []
    if managers:
        duty = create_rotation(
            db,
            RotationSpec(
                name="Duty managers",
                shift_unit=ShiftUnit.WEEKS,
                shift_length=1,
                handoff_time=time(9, 0),
                handoff_weekday=0,
                timezone=timezone,
                start_date=start,
            ),
            managers,
        )
        if len(managers) >= 2:
            tomorrow = local_today + timedelta(days=1)
            cover_start = datetime.combine(tomorrow, time(8, 0), tzinfo=zone)
            cover_end = datetime.combine(tomorrow, time(20, 0), tzinfo=zone)
            covering = next((m for m in managers if m != duty.on_duty(cover_start)), managers[1])
            add_override(db, duty.id, covering, cover_start, cover_end, reason="swap (demo)")
        created.append(rotation_by_id(db, duty.id))
    seats: dict[int, list[int]] = {}
    for row in query_rows(
        db,
        "SELECT m.party_id AS party_id, m.person_id AS person_id FROM party_member m "
        "JOIN person p ON p.id = m.person_id WHERE p.active = 1 ORDER BY m.party_id, m.position",
    ):
        seats.setdefault(row["party_id"], []).append(row["person_id"])
    names = {r["id"]: r["name"] for r in query_rows(db, "SELECT id, name FROM party")}
    for party_id, representatives in sorted(seats.items()):
        if len(representatives) < 2:
            continue
        created.append(
            create_rotation(
                db,
                RotationSpec(
                    name=f"{names[party_id]} seat",
                    role=RotationRole.PARTY,
                    party_id=party_id,
                    shift_unit=ShiftUnit.WEEKS,
                    shift_length=1,
                    handoff_time=time(9, 0),
                    handoff_weekday=0,
                    timezone=timezone,
                    start_date=start,
                ),
                representatives,
            )
        )
    return created
