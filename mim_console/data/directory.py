"""The directory: people, parties (MRT seats) and specialist groups, as domain values.

Every write goes through ``store.write()``; calls made inside an outer ``store.write()`` (the CSV
import) join its transaction, so a whole import is all-or-nothing. Phones are stored as E.164,
read in ``default_region`` when written without a country code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from mim_console.clock import Clock, from_iso, to_iso, utcnow
from mim_console.data.store import Store, as_row_id
from mim_console.domain.people import (
    MAX_NOTES_CHARS,
    Party,
    Person,
    SpecialistGroup,
    clean_email,
    clean_name,
    clean_text,
    describe,
)
from mim_console.domain.phones import normalize_phone
from mim_console.errors import NotFound, UserError

PERSON_FIELDS = (
    "name",
    "mobile",
    "phone2",
    "email",
    "ext_id",
    "title",
    "party_id",
    "decision_authority",
    "active",
    "notes",
    "verified_at",
)
_CHUNK = 500  # parameters per IN (...) query, well under SQLite's limit
_MAX_CANDIDATES = 10


def _person(row: dict[str, Any]) -> Person:
    return Person(
        id=row["id"],
        name=row["name"],
        mobile=row["mobile"],
        phone2=row["phone2"],
        email=row["email"],
        ext_id=row["ext_id"],
        title=row["title"],
        party_id=row["party_id"],
        decision_authority=bool(row["decision_authority"]),
        active=bool(row["active"]),
        notes=row["notes"],
        verified_at=from_iso(row["verified_at"]) if row["verified_at"] else None,
    )


def _select(db: Database, where: str, params: Sequence[Any] = ()) -> list[Person]:
    cursor = db.conn.execute(
        f"SELECT * FROM person WHERE {where} ORDER BY name COLLATE NOCASE, id", params
    )
    names = [d[0] for d in cursor.description]
    return [_person(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def find_person(db: Database, ref: str) -> Person:
    """The one rule for naming a person, everywhere (roll call, comms, rotations, the CLI): by
    id, ``id`` column (ext_id), email, or name (exact, else a unique part of it).

    A number that is both someone's id and someone else's ext_id is ambiguous; ``#12``
    always means id 12. Takes the caller's connection, so it joins an open transaction.
    """
    text = str(ref).strip()
    if not text:
        raise UserError("no person given: use a name, an email or an id")
    if text.startswith("#") and as_row_id(text[1:]) is not None:
        found = _select(db, "id = ?", [int(text[1:])])
        if not found:
            raise NotFound(f"no person with id {int(text[1:])}")
        return found[0]
    candidates: dict[int, Person] = {}
    if as_row_id(text) is not None:
        candidates.update({p.id: p for p in _select(db, "id = ?", [int(text)])})
    by_ext = _select(db, "ext_id = ?", [text])
    if by_ext:
        candidates[by_ext[0].id] = by_ext[0]
    if not candidates and "@" in text:
        by_email = _select(db, "email = ? COLLATE NOCASE", [text])
        if by_email:
            return by_email[0]
    if not candidates:
        candidates = {p.id: p for p in _select(db, "name = ? COLLATE NOCASE", [text])}
    if not candidates:
        needle = text.casefold()
        candidates = {p.id: p for p in _select(db, "1") if needle in p.name.casefold()}
    if not candidates:
        raise NotFound(f'nobody in the directory matches "{text}"')
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    ranked = sorted(candidates.values(), key=lambda p: (not p.active, p.name.casefold(), p.id))
    listed = "; ".join(describe(p) for p in ranked[:_MAX_CANDIDATES])
    more = len(ranked) - _MAX_CANDIDATES
    tail = f"; and {more} more" if more > 0 else ""
    raise UserError(
        f'"{text}" matches {len(ranked)} people: {listed}{tail}. Use the email or "#id".'
    )


def clean_categories(categories: Iterable[str]) -> tuple[str, ...]:
    """Stripped, non-empty, first spelling kept when two differ only in case."""
    seen: dict[str, str] = {}
    for raw in categories:
        text = raw.strip()
        if text and text.casefold() not in seen:
            seen[text.casefold()] = clean_name(text, "category")
    return tuple(seen.values())


class Directory:
    """Reads return frozen dataclasses; writes validate first and change nothing on refusal."""

    def __init__(self, store: Store, *, default_region: str = "FI", clock: Clock = utcnow) -> None:
        self.store = store
        self.default_region = default_region
        self.clock = clock

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Like ``store.query`` without sqlite-utils' per-call parsing: imports make many."""
        with self.store.read() as db:
            cursor = db.conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # --- people: reads -----------------------------------------------------------------------

    def _people_where(self, where: str = "1", params: Sequence[Any] = ()) -> list[Person]:
        rows = self._rows(
            f"SELECT * FROM person WHERE {where} ORDER BY name COLLATE NOCASE, id", params
        )
        return [_person(r) for r in rows]

    def person(self, person_id: int) -> Person:
        found = self._people_where("id = ?", [person_id])
        if not found:
            raise NotFound(f"no person with id {person_id}")
        return found[0]

    def people(self, *, active_only: bool = False) -> list[Person]:
        return self._people_where("active = 1" if active_only else "1")

    def count_people(self) -> int:
        return int(self._rows("SELECT count(*) AS n FROM person")[0]["n"])

    def people_by_ids(self, ids: Iterable[int]) -> dict[int, Person]:
        wanted = sorted(set(ids))
        out: dict[int, Person] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for p in self._people_where(f"id IN ({marks})", chunk):
                out[p.id] = p
        return out

    def person_by_phone(self, e164: str) -> Person | None:
        """Who owns this number (mobile or second phone); active people first, then lowest id."""
        found = self._rows(
            "SELECT * FROM person WHERE mobile = ? OR phone2 = ? ORDER BY active DESC, id LIMIT 1",
            [e164, e164],
        )
        return _person(found[0]) if found else None

    def person_by_email(self, email: str) -> Person | None:
        found = self._people_where("email = ? COLLATE NOCASE", [email.strip()])
        return found[0] if found else None

    def person_by_ext_id(self, ext_id: str) -> Person | None:
        found = self._people_where("ext_id = ?", [ext_id.strip()])
        return found[0] if found else None

    def find_person(self, ref: str) -> Person:
        """A person named by id, ``id`` column (ext_id), email, or name: see ``find_person``."""
        with self.store.read() as db:
            return find_person(db, ref)

    # --- people: writes ----------------------------------------------------------------------

    def _clean_person(self, values: dict[str, Any]) -> dict[str, Any]:
        """Validated column values for the fields present in ``values``."""
        unknown = set(values) - set(PERSON_FIELDS)
        if unknown:
            raise UserError(f"unknown person field(s): {', '.join(sorted(unknown))}")
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key == "name":
                out[key] = clean_name(str(value or ""))
            elif key == "mobile":
                if not str(value or "").strip():
                    raise UserError("mobile is empty: it is the number alerts go to")
                out[key] = normalize_phone(str(value), self.default_region, mobile=True)
            elif key == "phone2":
                text = str(value or "").strip()
                out[key] = normalize_phone(text, self.default_region) if text else None
            elif key == "email":
                out[key] = clean_email(value)
            elif key == "ext_id":
                text = str(value or "").strip()
                out[key] = clean_text(text, "id") or None
            elif key == "title":
                out[key] = clean_text(value, "title")
            elif key == "notes":
                out[key] = clean_text(value, "notes", MAX_NOTES_CHARS)
            elif key == "party_id":
                if value is not None and not self._rows(
                    "SELECT 1 FROM party WHERE id = ?", [int(value)]
                ):
                    raise NotFound(f"no party with id {value}")
                out[key] = None if value is None else int(value)
            elif key in ("decision_authority", "active"):
                out[key] = 1 if value else 0
            elif key == "verified_at":
                out[key] = to_iso(value) if isinstance(value, datetime) else value
        return out

    def _check_unique(self, values: dict[str, Any], person_id: int | None) -> None:
        for column, label, lookup in (
            ("email", "email", self.person_by_email),
            ("ext_id", "id", self.person_by_ext_id),
        ):
            value = values.get(column)
            if value:
                other = lookup(value)
                if other is not None and other.id != person_id:
                    raise UserError(f'{label} "{value}" already belongs to {describe(other)}')

    def add_person(
        self,
        name: str,
        mobile: str,
        phone2: str | None = None,
        email: str | None = None,
        ext_id: str | None = None,
        title: str = "",
        party_id: int | None = None,
        decision_authority: bool = False,
        active: bool = True,
        notes: str = "",
    ) -> Person:
        values = self._clean_person(
            {
                "name": name,
                "mobile": mobile,
                "phone2": phone2,
                "email": email,
                "ext_id": ext_id,
                "title": title,
                "party_id": party_id,
                "decision_authority": decision_authority,
                "active": active,
                "notes": notes,
            }
        )
        now = to_iso(self.clock())
        with self.store.write() as db:
            self._check_unique(values, None)
            values["created_at"] = values["updated_at"] = now
            columns = ", ".join(values)
            marks = ", ".join("?" * len(values))
            cursor = db.execute(
                f"INSERT INTO person ({columns}) VALUES ({marks})", list(values.values())
            )
            new_id = int(cursor.lastrowid or 0)
        return self.person(new_id)

    def update_person(self, person_id: int, **changes: Any) -> Person:
        """Change only the given fields; returns the person as stored afterwards."""
        values = self._clean_person(changes)
        with self.store.write() as db:
            current = self.person(person_id)
            if "mobile" in changes and not values.get("mobile"):
                raise UserError("mobile is empty: it is the number alerts go to")
            self._check_unique(values, person_id)
            differs = {k: v for k, v in values.items() if _stored(current, k) != v}
            if differs:
                differs["updated_at"] = to_iso(self.clock())
                sets = ", ".join(f"{k} = ?" for k in differs)
                db.execute(f"UPDATE person SET {sets} WHERE id = ?", [*differs.values(), person_id])
        return self.person(person_id)

    def deactivate_person(self, person_id: int) -> Person:
        """Kept for history and seats, but never alerted; seats and call orders skip them."""
        return self.update_person(person_id, active=False)

    def mark_verified(self, person_id: int, at: datetime) -> Person:
        """The person confirmed their numbers (test alert answered) at ``at``."""
        return self.update_person(person_id, verified_at=at)

    # --- parties -----------------------------------------------------------------------------

    def _members(self, table: str, key: str) -> dict[int, tuple[int, ...]]:
        out: dict[int, list[int]] = {}
        for row in self._rows(
            f"SELECT {key} AS owner, person_id FROM {table} ORDER BY {key}, position"
        ):
            out.setdefault(row["owner"], []).append(row["person_id"])
        return {k: tuple(v) for k, v in out.items()}

    def parties(self) -> list[Party]:
        seats = self._members("party_member", "party_id")
        return [
            Party(r["id"], r["name"], r["description"], seats.get(r["id"], ()))
            for r in self._rows("SELECT * FROM party ORDER BY name COLLATE NOCASE, id")
        ]

    def party(self, ref: str | int) -> Party:
        """A party by id or by name (case-insensitive)."""
        text = str(ref).strip()
        rows = self._by_ref("party", text)
        if not rows:
            known = ", ".join(p.name for p in self.parties()) or "none yet"
            raise NotFound(f'no party "{text}" (known: {known})')
        r = rows[0]
        seat = self._member_ids("party_member", "party_id", r["id"])
        return Party(r["id"], r["name"], r["description"], seat)

    def add_party(self, name: str, description: str = "") -> Party:
        clean = clean_name(name, "party name")
        with self.store.write() as db:
            if self._exists("party", clean):
                raise UserError(f'party "{clean}" already exists')
            cursor = db.execute(
                "INSERT INTO party (name, description) VALUES (?, ?)",
                [clean, clean_text(description, "description", MAX_NOTES_CHARS)],
            )
            new_id = int(cursor.lastrowid or 0)
        return self.party(new_id)

    def set_representatives(self, party_id: int, person_ids: Sequence[int]) -> Party:
        """Replace the seat's order: the first is the primary, the rest deputies in order."""
        with self.store.write():
            self.party(party_id)
            self._set_order("party_member", "party_id", party_id, person_ids)
        return self.party(party_id)

    # --- specialist groups -------------------------------------------------------------------

    def groups(self) -> list[SpecialistGroup]:
        members = self._members("group_member", "group_id")
        return [
            SpecialistGroup(
                r["id"],
                r["name"],
                tuple(json.loads(r["categories"] or "[]")),
                r["description"],
                members.get(r["id"], ()),
            )
            for r in self._rows("SELECT * FROM specialist_group ORDER BY name COLLATE NOCASE, id")
        ]

    def group(self, ref: str | int) -> SpecialistGroup:
        """A group by id or by name (case-insensitive)."""
        text = str(ref).strip()
        rows = self._by_ref("specialist_group", text)
        if not rows:
            known = ", ".join(g.name for g in self.groups()) or "none yet"
            raise NotFound(f'no specialist group "{text}" (known: {known})')
        r = rows[0]
        return SpecialistGroup(
            r["id"],
            r["name"],
            tuple(json.loads(r["categories"] or "[]")),
            r["description"],
            self._member_ids("group_member", "group_id", r["id"]),
        )

    def groups_covering(self, categories: Iterable[str]) -> list[SpecialistGroup]:
        wanted = tuple(categories)
        return [g for g in self.groups() if g.covers(wanted)]

    def add_group(
        self, name: str, categories: Iterable[str] = (), description: str = ""
    ) -> SpecialistGroup:
        clean = clean_name(name, "group name")
        cats = clean_categories(categories)
        with self.store.write() as db:
            if self._exists("specialist_group", clean):
                raise UserError(f'specialist group "{clean}" already exists')
            cursor = db.execute(
                "INSERT INTO specialist_group (name, categories, description) VALUES (?, ?, ?)",
                [
                    clean,
                    json.dumps(list(cats), ensure_ascii=False),
                    clean_text(description, "description", MAX_NOTES_CHARS),
                ],
            )
            new_id = int(cursor.lastrowid or 0)
        return self.group(new_id)

    def set_group_categories(self, group_id: int, categories: Iterable[str]) -> SpecialistGroup:
        cats = clean_categories(categories)
        with self.store.write() as db:
            self.group(group_id)
            db.execute(
                "UPDATE specialist_group SET categories = ? WHERE id = ?",
                [json.dumps(list(cats), ensure_ascii=False), group_id],
            )
        return self.group(group_id)

    def set_group_members(self, group_id: int, person_ids: Sequence[int]) -> SpecialistGroup:
        """Replace the call order: members are called in this order."""
        with self.store.write():
            self.group(group_id)
            self._set_order("group_member", "group_id", group_id, person_ids)
        return self.group(group_id)

    def add_group_member(self, group_id: int, person_id: int) -> SpecialistGroup:
        """Append to the end of the call order (no change if already a member)."""
        with self.store.write():
            current = self.group(group_id).members
            if person_id not in current:
                self._set_order("group_member", "group_id", group_id, [*current, person_id])
        return self.group(group_id)

    # --- helpers -----------------------------------------------------------------------------

    def _by_ref(self, table: str, text: str) -> list[dict[str, Any]]:
        """The row whose id (a number) or name (any case) is ``text``; an id wins."""
        if as_row_id(text) is not None:
            rows = self._rows(f"SELECT * FROM {table} WHERE id = ?", [int(text)])
            if rows:
                return rows
        return self._rows(f"SELECT * FROM {table} WHERE name = ? COLLATE NOCASE", [text])

    def _member_ids(self, table: str, key: str, owner: int) -> tuple[int, ...]:
        rows = self._rows(
            f"SELECT person_id FROM {table} WHERE {key} = ? ORDER BY position", [owner]
        )
        return tuple(r["person_id"] for r in rows)

    def _exists(self, table: str, name: str) -> bool:
        return bool(self._rows(f"SELECT 1 FROM {table} WHERE name = ? COLLATE NOCASE", [name]))

    def _set_order(self, table: str, key: str, owner: int, person_ids: Sequence[int]) -> None:
        ids = [int(i) for i in person_ids]
        seen: set[int] = set()
        for i in ids:
            if i in seen:
                raise UserError(f"{describe(self.person(i))} is listed twice")
            seen.add(i)
        missing = sorted(seen - set(self.people_by_ids(ids)))
        if missing:
            raise NotFound(f"no person with id {', '.join(str(m) for m in missing)}")
        with self.store.write() as db:
            db.execute(f"DELETE FROM {table} WHERE {key} = ?", [owner])
            db.conn.executemany(
                f"INSERT INTO {table} ({key}, person_id, position) VALUES (?, ?, ?)",
                [(owner, pid, pos) for pos, pid in enumerate(ids)],
            )


def _stored(person: Person, key: str) -> Any:
    """The person's current value in the column's stored form, to skip no-op updates."""
    value = getattr(person, key)
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, datetime):
        return to_iso(value)
    return value
