"""People from and to CSV: a pure parser that accounts for every line, and one-transaction import.

``parse_people_csv`` turns raw bytes into validated rows and ``line N: reason`` rejections with
no I/O, so property tests can hammer it. ``import_people`` applies the rows inside one
``store.write()`` transaction (a savepoint per row, so a row refused by the database leaves no
trace while the good rows stay). ``export_people`` writes the same format back.

The format is documented in README.md ("CSV format"); keep the two in step.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mim_console.data.directory import Directory
from mim_console.data.store import Store
from mim_console.domain.people import (
    MAX_NOTES_CHARS,
    Person,
    clean_email,
    clean_name,
    clean_text,
    parse_flag,
)
from mim_console.domain.phones import normalize_phone
from mim_console.errors import NotFound, UserError

COLUMNS = (
    "id",
    "name",
    "mobile",
    "phone2",
    "email",
    "party",
    "seat",
    "title",
    "decision_authority",
    "active",
    "notes",
    "groups",
)
REQUIRED = ("name", "mobile")
ALIASES = {
    "ext_id": "id",
    "external_id": "id",
    "employee_id": "id",
    "full_name": "name",
    "mobile_phone": "mobile",
    "phone": "mobile",
    "second_phone": "phone2",
    "phone_2": "phone2",
    "e_mail": "email",
    "authority": "decision_authority",
    "decides": "decision_authority",
    "group": "groups",
}
MAX_LINE_CHARS = 100_000  # a longer physical line is reported and skipped, never parsed
MAX_FIELD_CHARS = MAX_NOTES_CHARS
GROUP_SEPARATORS = re.compile(r"[|;]")
_POSITION = re.compile(r"^(?P<name>.*?)\s*:\s*(?P<pos>\d{1,4})$")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_BAD_BYTE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class PersonRow:
    """One valid line: values cleaned, phones in E.164; groups as (name, call position or None)."""

    line: int
    ext_id: str | None
    name: str
    mobile: str
    phone2: str | None = None
    email: str | None = None
    party: str | None = None
    seat: int | None = None
    title: str = ""
    decision_authority: bool = False
    active: bool = True
    notes: str = ""
    groups: tuple[tuple[str, int | None], ...] = ()


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ParsedCsv:
    """Every non-blank data line is in exactly one of ``rows`` and ``rejected``."""

    columns: tuple[str, ...]
    delimiter: str
    rows: list[PersonRow] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # header remarks, e.g. ignored columns
    data_lines: int = 0  # records seen after the header (blank lines excluded)


def _physical_lines(text: str) -> Iterator[tuple[int, str]]:
    for number, match in enumerate(_LINE.finditer(text), start=1):
        if match.group():
            yield number, match.group()


def _column_key(raw: str) -> str:
    key = re.sub(r"[\s\-]+", "_", raw.strip().casefold())
    return ALIASES.get(key, key)


def _sniff_delimiter(header: str) -> str:
    """The header's own separator: whichever of ``;``, ``,`` and tab it uses most."""
    counts = {d: header.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _groups(value: str) -> tuple[tuple[str, int | None], ...]:
    out: dict[str, tuple[str, int | None]] = {}
    for part in GROUP_SEPARATORS.split(value):
        text = part.strip()
        if not text:
            continue
        position: int | None = None
        match = _POSITION.match(text)
        if match and match.group("name"):
            text, position = match.group("name"), int(match.group("pos"))
            if position < 1:
                raise UserError(f'groups: position in "{part.strip()}" must be 1 or more')
        name = clean_name(text, "group name")
        out.setdefault(name.casefold(), (name, position))
    return tuple(out.values())


def parse_row(values: dict[str, str], line: int, region: str) -> PersonRow:
    """One record (column → raw text) to a clean row, or ``UserError`` naming the field."""

    def get(column: str) -> str:
        return values.get(column, "")

    for column, value in values.items():
        if len(value) > MAX_FIELD_CHARS:
            raise UserError(f"{column} is too long ({len(value)} characters)")
    name = clean_name(get("name"))
    if not get("mobile").strip():
        raise UserError("mobile is empty: it is the number alerts go to")
    mobile = normalize_phone(get("mobile"), region, mobile=True)
    phone2 = normalize_phone(get("phone2"), region) if get("phone2").strip() else None
    email = clean_email(get("email"))
    ext_id = clean_text(get("id"), "id") or None
    if ext_id is None and email is None:
        raise UserError("has neither id nor email: one is needed to recognise the person again")
    party = clean_text(get("party"), "party") or None
    seat: int | None = None
    if get("seat").strip():
        if not get("seat").strip().isdigit() or int(get("seat")) < 1:
            raise UserError(f'seat "{get("seat").strip()[:20]}" is not 1, 2, 3… (1 = primary)')
        if party is None:
            raise UserError("seat is given but party is empty")
        seat = int(get("seat"))
    return PersonRow(
        line=line,
        ext_id=ext_id,
        name=name,
        mobile=mobile,
        phone2=phone2,
        email=email,
        party=clean_name(party, "party") if party else None,
        seat=seat,
        title=clean_text(get("title"), "title"),
        decision_authority=parse_flag(get("decision_authority"), "decision_authority"),
        active=parse_flag(get("active"), "active") if get("active").strip() else True,
        notes=clean_text(get("notes"), "notes", MAX_NOTES_CHARS),
        groups=_groups(get("groups")),
    )


def parse_people_csv(data: bytes | str, region: str = "FI") -> ParsedCsv:
    """Parse a whole file. A problem with the file as a whole (no header, no name or mobile
    column) raises ``UserError``; a problem with a line rejects that line only."""
    text = data if isinstance(data, str) else data.decode("utf-8", errors="surrogateescape")
    text = text.removeprefix("\ufeff")
    long_lines: list[Rejected] = []
    header: tuple[int, str] | None = None
    kept: list[str] = []
    for number, line in _physical_lines(text):
        if len(line) > MAX_LINE_CHARS:
            long_lines.append(
                Rejected(number, f"is {len(line):,} characters long (at most {MAX_LINE_CHARS:,})")
            )
            kept.append("\n")  # keeps the numbering; a blank line is skipped by the reader
            continue
        if header is None and line.strip():
            header = (number, line)
        kept.append(line)
    if header is None:
        raise UserError("the file is empty: the first line must name the columns (see README)")
    header_line, header_text = header
    delimiter = _sniff_delimiter(header_text)
    reader = csv.reader(iter(kept), delimiter=delimiter, strict=False)
    result = ParsedCsv(columns=(), delimiter=delimiter)
    result.rejected.extend(long_lines)
    result.data_lines += len(long_lines)
    columns: list[str] | None = None
    last_end = 0
    while True:
        start = last_end + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            last_end = reader.line_num
            if columns is None:
                raise UserError(f"line {start}: the header cannot be read: {exc}") from None
            result.data_lines += 1
            result.rejected.append(Rejected(start, f"cannot be read as CSV ({exc})"))
            continue
        last_end = reader.line_num
        while start <= last_end and kept[start - 1].strip() == "":
            start += 1  # blank lines the reader skipped before this record
        if not record or all(not cell.strip() for cell in record):
            continue
        if columns is None:
            columns = _header(record, start, result)
            continue
        result.data_lines += 1
        bad = next((c for c in record if _BAD_BYTE.search(c)), None)
        if bad is not None:
            byte = ord(_BAD_BYTE.search(bad).group()) - 0xDC00  # type: ignore[union-attr]
            result.rejected.append(
                Rejected(start, f"is not UTF-8 (byte 0x{byte:02X}); save the file as UTF-8")
            )
            continue
        if len(record) != len(columns):
            if last_end > start:
                reason = (
                    f"lines {start}-{last_end} were read as one row because a quote opened "
                    f"on line {start} is not closed; none of them was imported"
                )
            else:
                reason = (
                    f"has {len(record)} fields but the header has {len(columns)}; "
                    "quote values that contain the delimiter"
                )
            result.rejected.append(Rejected(start, reason))
            continue
        values = {c: v for c, v in zip(columns, record, strict=True) if c in COLUMNS}
        try:
            result.rows.append(parse_row(values, start, region))
        except UserError as exc:
            result.rejected.append(Rejected(start, str(exc)))
    if columns is None:
        raise UserError(f"line {header_line}: the header cannot be read")
    _reject_duplicates(result)
    result.rejected.sort(key=lambda r: r.line)
    return result


def _header(record: list[str], line: int, result: ParsedCsv) -> list[str]:
    if any(_BAD_BYTE.search(cell) for cell in record):
        raise UserError(f"line {line}: the header is not UTF-8; save the file as UTF-8")
    keys = [_column_key(cell) for cell in record]
    missing = [c for c in REQUIRED if c not in keys]
    if missing:
        shown = ", ".join(repr(c.strip()[:40]) for c in record[:12])
        raise UserError(
            f"line {line}: the header has no {' or '.join(missing)} column "
            f"(found {shown}); columns are: {', '.join(COLUMNS)}"
        )
    seen: set[str] = set()
    for cell, key in zip(record, keys, strict=True):
        if key in seen and key in COLUMNS:
            raise UserError(f'line {line}: column "{cell.strip()}" appears twice')
        seen.add(key)
        if key not in COLUMNS:
            result.notes.append(f'line {line}: column "{cell.strip()[:40]}" is not known; ignored')
    result.columns = tuple(k for k in keys if k in COLUMNS)
    return keys


def _reject_duplicates(result: ParsedCsv) -> None:
    """A later line repeating an earlier line's id or email is refused, naming the first."""
    first_id: dict[str, int] = {}
    first_email: dict[str, int] = {}
    kept: list[PersonRow] = []
    for row in result.rows:
        reason = None
        if row.ext_id is not None and row.ext_id in first_id:
            reason = f'repeats id "{row.ext_id}" from line {first_id[row.ext_id]}'
        elif row.email is not None and row.email.casefold() in first_email:
            reason = f'repeats email "{row.email}" from line {first_email[row.email.casefold()]}'
        if reason:
            result.rejected.append(Rejected(row.line, reason))
            continue
        if row.ext_id is not None:
            first_id[row.ext_id] = row.line
        if row.email is not None:
            first_email[row.email.casefold()] = row.line
        kept.append(row)
    result.rows = kept


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
