"""Stored rotation rows in, ``domain.rotation`` values out — whatever the rows hold.

A row written around the console's checks (by hand, by another tool, by an older version: a
date in 9999, a length of 3,000,000 days, text that is not a time) never becomes a crash of
``declare`` or the duty board: an override that cannot be used is left out, a rotation whose
rule cannot be used is loaded *broken* (it never starts), and each is named in words the
reader shows as a warning (``Rotation.problems``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

from sqlite_utils import Database

from mim_console.clock import from_iso, to_iso
from mim_console.domain.rotation import (
    EARLIEST,
    LATEST,
    Override,
    Rotation,
    RotationRole,
    ShiftUnit,
    parse_handoff_time,
    parse_zone,
)
from mim_console.errors import UserError


def query_rows(db: Database, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in db.query(sql, params)]


def override_row(row: Mapping[str, Any]) -> Override:
    return Override(
        id=row["id"],
        person_id=row["person_id"],
        starts_at=from_iso(row["starts_at"]),
        ends_at=from_iso(row["ends_at"]),
        reason=row["reason"],
        source_uid=row["source_uid"],
    )


#: What reading a stored row written around the console's checks (by hand, by an older
#: version, by another tool) can raise: it becomes a warning naming the row, never a crash.
_UNREADABLE = (UserError, ValueError, TypeError, OverflowError, KeyError)


def _loaded_override(row: Mapping[str, Any]) -> Override | str:
    """The override, or why it cannot be used (it is left out of the rotation, with a warning
    naming it, so that a single bad row never stops `declare` or the duty board)."""
    try:
        return override_row(row)
    except _UNREADABLE as exc:
        why = _reason(exc, f"override {row['id']}: ")
        return (
            f"override {row['id']} of rotation {row['rotation_id']} is ignored "
            f"({row['starts_at']!s:.40} – {row['ends_at']!s:.40}): "
            f"{why}; remove it "
            f"with `mim-console rota override remove {row['rotation_id']} {row['id']}`"
        )


def _reason(exc: BaseException, prefix: str) -> str:
    text = str(exc)
    return text[len(prefix) :] if text.startswith(prefix) else text or type(exc).__name__


def _rotation(
    row: Mapping[str, Any],
    members: Sequence[int],
    overrides: Sequence[Override],
    ignored: Sequence[str] = (),
) -> Rotation:
    try:
        return Rotation(
            id=row["id"],
            name=row["name"],
            role=RotationRole(row["role"]),
            party_id=row["party_id"],
            shift_unit=ShiftUnit(row["shift_unit"]),
            shift_length=row["shift_length"],
            handoff_time=parse_handoff_time(row["handoff_time"]),
            handoff_weekday=row["handoff_weekday"],
            timezone=row["timezone"],
            start_date=date.fromisoformat(row["start_date"]),
            members=tuple(members),
            overrides=tuple(overrides),
            ignored=tuple(ignored),
        )
    except _UNREADABLE as exc:
        return _broken_rotation(row, members, overrides, ignored, exc)


def _broken_rotation(
    row: Mapping[str, Any],
    members: Sequence[int],
    overrides: Sequence[Override],
    ignored: Sequence[str],
    exc: BaseException,
) -> Rotation:
    """A stored rule that cannot be used: kept (so it can be seen, fixed or deleted) with safe
    stand-ins for its values; it never starts, so nobody is on duty from it."""
    try:
        role = RotationRole(row["role"])
    except ValueError:
        role = RotationRole.PARTY if row["party_id"] is not None else RotationRole.DUTY_MANAGER
    unit = row["shift_unit"] if row["shift_unit"] in set(ShiftUnit) else ShiftUnit.DAYS
    try:
        parse_zone(str(row["timezone"]))
        timezone = str(row["timezone"])
    except UserError:
        timezone = "UTC"
    reason = _reason(exc, f"rotation {row['name']}: ")
    stored = f"{row['shift_length']!s:.30} {row['shift_unit']!s:.10} from {row['start_date']!s:.30}"
    return Rotation(
        id=row["id"],
        name=str(row["name"]),
        role=role,
        party_id=row["party_id"],
        shift_unit=ShiftUnit(unit),
        shift_length=1,
        handoff_time=time(0, 0),
        handoff_weekday=None,
        timezone=timezone,
        start_date=LATEST.date(),
        members=tuple(members),
        overrides=tuple(overrides),
        broken=f"{reason} (stored: {stored}); delete it "
        f"with `mim-console rota delete {row['id']}` and create it again",
        ignored=tuple(ignored),
    )


def _members(db: Database, rotation_ids: Iterable[int]) -> dict[int, list[int]]:
    ids = list(rotation_ids)
    found: dict[int, list[int]] = {i: [] for i in ids}
    if not ids:
        return found
    marks = ",".join("?" * len(ids))
    for row in query_rows(
        db,
        f"SELECT rotation_id, person_id FROM rotation_member WHERE rotation_id IN ({marks}) "
        "ORDER BY rotation_id, position",
        ids,
    ):
        found[row["rotation_id"]].append(row["person_id"])
    return found


Window = tuple[datetime, datetime]


def _overrides(
    db: Database,
    rotation_ids: Iterable[int],
    window: Window | None = None,
    ignored: dict[int, list[str]] | None = None,
) -> dict[int, list[Override]]:
    ids = list(rotation_ids)
    found: dict[int, list[Override]] = {i: [] for i in ids}
    if not ids:
        return found
    marks = ",".join("?" * len(ids))
    params: list[Any] = list(ids)
    where = ""
    if window is not None:
        where = " AND ends_at > ? AND starts_at < ?"
        params += [to_iso(window[0]), to_iso(window[1])]
    for row in query_rows(
        db,
        f"SELECT * FROM rotation_override WHERE rotation_id IN ({marks}){where} "
        "ORDER BY starts_at, id",
        params,
    ):
        loaded = _loaded_override(row)
        if isinstance(loaded, Override):
            found[row["rotation_id"]].append(loaded)
        elif ignored is not None:
            ignored.setdefault(row["rotation_id"], []).append(loaded)
    return found


def build_rotations(
    db: Database, rows: list[dict[str, Any]], window: Window | None = None
) -> list[Rotation]:
    ids = [r["id"] for r in rows]
    members = _members(db, ids)
    ignored: dict[int, list[str]] = {}
    overrides = _overrides(db, ids, window, ignored)
    if window is not None:
        # A bad row outside the window is still named: it lies in no window (dates too far
        # out, or text that is not a time), so look for it apart.
        _bad_overrides(db, ids, ignored)
    return [
        _rotation(r, members[r["id"]], overrides[r["id"]], ignored.get(r["id"], ())) for r in rows
    ]


_STORED_TIME = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*"


def _bad_overrides(db: Database, ids: Sequence[int], ignored: dict[int, list[str]]) -> None:
    """Overrides whose stored times a window query would skip but which cannot be used: they
    are warned about on every read (one indexed query)."""
    marks = ",".join("?" * len(ids))
    for row in query_rows(
        db,
        f"SELECT * FROM rotation_override WHERE rotation_id IN ({marks}) "
        "AND (ends_at > ? OR starts_at < ? OR starts_at NOT GLOB ? OR ends_at NOT GLOB ?) "
        "ORDER BY id",
        [*ids, to_iso(LATEST), to_iso(EARLIEST), _STORED_TIME, _STORED_TIME],
    ):
        loaded = _loaded_override(row)
        if isinstance(loaded, str) and loaded not in ignored.get(row["rotation_id"], []):
            ignored.setdefault(row["rotation_id"], []).append(loaded)
