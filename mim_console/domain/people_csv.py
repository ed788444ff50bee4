"""People from CSV, parsed: every line accounted for, as a validated row or ``line N: reason``.

``parse_people_csv`` turns raw bytes into rows and rejections with no I/O, so property tests can
hammer it; ``data/people_csv.py`` applies the rows to the directory and writes the same format
back. The format is documented in README.md ("CSV format"); keep the two in step.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from mim_console.domain.people import (
    MAX_NOTES_CHARS,
    clean_email,
    clean_name,
    clean_text,
    parse_flag,
)
from mim_console.domain.phones import normalize_phone
from mim_console.errors import UserError

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
