"""People from and to CSV: one-transaction import of the parsed rows, and export.

``import_people`` applies the rows of ``domain.people_csv.parse_people_csv`` inside one
``store.write()`` transaction (a savepoint per row, so a row refused by the database leaves no
trace while the good rows stay). ``export_people`` writes the same format back.

The format is documented in README.md ("CSV format"); keep the two in step.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from mim_console.data.directory import Directory
from mim_console.data.store import Store
from mim_console.domain.people import Person
from mim_console.domain.people_csv import (
    COLUMNS,
    PersonRow,
    Rejected,
    parse_people_csv,
)
from mim_console.errors import NotFound, UserError

# --- applying to the database ----------------------------------------------------------------


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    created_parties: list[str] = field(default_factory=list)
    created_groups: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.added + self.updated + self.unchanged

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
            "created_parties": self.created_parties,
            "created_groups": self.created_groups,
            "notes": self.notes,
        }


def import_people(directory: Directory, data: bytes | str) -> ImportReport:
    """Parse and apply in one transaction. Unknown parties and groups are created (and listed
    in the report); a row the database refuses (its email belongs to someone else) is rejected
    on its own. Re-importing the same file changes nothing."""
    parsed = parse_people_csv(data, directory.default_region)
    report = ImportReport(rejected=list(parsed.rejected), notes=list(parsed.notes))
    store = directory.store
    with store.write() as db:
        before = _snapshot(store)
        imported: list[tuple[PersonRow, int]] = []
        for row in parsed.rows:
            db.execute("SAVEPOINT csv_row")
            try:
                person_id, status = _apply_row(directory, row, parsed.columns, report)
            except UserError as exc:
                db.execute("ROLLBACK TO csv_row")
                db.execute("RELEASE csv_row")
                report.rejected.append(Rejected(row.line, str(exc)))
                continue
            db.execute("RELEASE csv_row")
            imported.append((row, person_id))
            setattr(report, status, getattr(report, status) + 1)
        if "groups" in parsed.columns:
            _apply_groups(directory, imported, report)
        if "seat" in parsed.columns:
            _apply_seats(directory, imported)
        if _snapshot(store) == before:
            report.added = report.updated = 0
            report.unchanged = len(imported)
    report.rejected.sort(key=lambda r: r.line)
    return report


def _snapshot(store: Store) -> tuple[Any, ...]:
    """The directory's content, to tell an import that changed nothing."""
    return (
        store.query(
            "SELECT id, ext_id, name, mobile, phone2, email, title, party_id, "
            "decision_authority, active, notes FROM person ORDER BY id"
        ),
        store.query("SELECT * FROM party_member ORDER BY party_id, position"),
        store.query("SELECT * FROM group_member ORDER BY group_id, position"),
        store.query("SELECT id, name FROM party ORDER BY id"),
        store.query("SELECT id, name FROM specialist_group ORDER BY id"),
    )


def _party_id(directory: Directory, name: str, report: ImportReport, line: int) -> int:
    try:
        return directory.party(name).id
    except NotFound:
        pass
    report.created_parties.append(name)
    report.notes.append(f'line {line}: created party "{name}"')
    return directory.add_party(name).id


def _apply_row(
    directory: Directory, row: PersonRow, columns: tuple[str, ...], report: ImportReport
) -> tuple[int, str]:
    existing: Person | None = None
    if row.ext_id is not None:
        existing = directory.person_by_ext_id(row.ext_id)
    if existing is None and row.email is not None:
        existing = directory.person_by_email(row.email)
        if existing is not None and row.ext_id and existing.ext_id not in (None, row.ext_id):
            raise UserError(
                f'email "{row.email}" belongs to id "{existing.ext_id}", not "{row.ext_id}"'
            )
    values: dict[str, Any] = {"name": row.name, "mobile": row.mobile}
    optional = {
        "id": ("ext_id", row.ext_id),
        "phone2": ("phone2", row.phone2),
        "email": ("email", row.email),
        "title": ("title", row.title),
        "decision_authority": ("decision_authority", row.decision_authority),
        "active": ("active", row.active),
        "notes": ("notes", row.notes),
    }
    for column, (key, value) in optional.items():
        if column in columns:
            values[key] = value
    if "party" in columns:
        values["party_id"] = (
            _party_id(directory, row.party, report, row.line) if row.party else None
        )
    if existing is None:
        return directory.add_person(**values).id, "added"
    if existing.ext_id and values.get("ext_id") is None:
        values.pop("ext_id", None)  # matched by email: never drop their stable key
    after = directory.update_person(existing.id, **values)
    return existing.id, ("unchanged" if after == existing else "updated")


def _apply_groups(
    directory: Directory, imported: list[tuple[PersonRow, int]], report: ImportReport
) -> None:
    """Each imported person ends up in exactly the groups their row names.

    Current members keep their place; an explicit ``Name:N`` puts them at call position N; new
    members without a position join at the end in file order.
    """
    groups = {g.name.casefold(): g for g in directory.groups()}
    wanted: dict[str, dict[int, int | None]] = {}
    for row, person_id in imported:
        for name, position in row.groups:
            key = name.casefold()
            if key not in groups:
                groups[key] = directory.add_group(name)
                report.created_groups.append(groups[key].name)
                report.notes.append(f'line {row.line}: created group "{name}" (no categories)')
            wanted.setdefault(key, {})[person_id] = position
    touched = {pid for _, pid in imported}
    big = 1_000_000
    for key, group in groups.items():
        mine = wanted.get(key, {})
        ranked: list[tuple[int, int, int]] = []
        for index, pid in enumerate(group.members):
            if pid in touched and pid not in mine:
                continue  # their row no longer names this group
            position = mine.get(pid)
            # An explicit position wins a tie with someone who merely kept their place.
            if position is not None:
                ranked.append((position, 0, pid))
            else:
                ranked.append((index + 1, 1, pid))
        current = set(group.members)
        for order, (pid, position) in enumerate(mine.items()):
            if pid not in current:
                if position is not None:
                    ranked.append((position, 0, pid))
                else:
                    ranked.append((big + order, 2, pid))
        members = [pid for _, _, pid in sorted(ranked)]
        if tuple(members) != group.members:
            directory.set_group_members(group.id, members)


def _apply_seats(directory: Directory, imported: list[tuple[PersonRow, int]]) -> None:
    """``seat`` N puts the person in their party's MRT seat at rank N (1 = primary); a blank
    seat takes them out of every seat."""
    touched = {pid for _, pid in imported}
    wanted: dict[int, int] = {pid: row.seat for row, pid in imported if row.seat is not None}
    people = directory.people_by_ids(touched)
    for party in directory.parties():
        ranked: list[tuple[int, int, int]] = []
        for index, pid in enumerate(party.representatives):
            if pid in touched and (pid not in wanted or people[pid].party_id != party.id):
                continue
            seat = wanted.get(pid)
            ranked.append((seat, 0, pid) if seat is not None else (index + 1, 1, pid))
        current = set(party.representatives)
        for pid, seat in wanted.items():
            if people[pid].party_id == party.id and pid not in current:
                ranked.append((seat, 0, pid))
        reps = [pid for _, _, pid in sorted(ranked)]
        if tuple(reps) != party.representatives:
            directory.set_representatives(party.id, reps)


def export_people(directory: Directory, *, delimiter: str = ",") -> str:
    """Every person (inactive too) in the import format, so the file re-imports unchanged."""
    parties = {p.id: p for p in directory.parties()}
    member_of: dict[int, list[str]] = {}
    for group in directory.groups():
        for position, pid in enumerate(group.members, start=1):
            member_of.setdefault(pid, []).append(f"{group.name}:{position}")
    out = io.StringIO()
    # CRLF (RFC 4180) also makes the writer quote a lone \r inside a value.
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for person in directory.people():
        party = parties.get(person.party_id) if person.party_id is not None else None
        seat = ""
        if party is not None and person.id in party.representatives:
            seat = str(party.representatives.index(person.id) + 1)
        writer.writerow(
            [
                person.ext_id or "",
                person.name,
                person.mobile,
                person.phone2 or "",
                person.email or "",
                party.name if party else "",
                seat,
                person.title,
                "yes" if person.decision_authority else "no",
                "yes" if person.active else "no",
                person.notes,
                "|".join(member_of.get(person.id, [])),
            ]
        )
    return out.getvalue()
