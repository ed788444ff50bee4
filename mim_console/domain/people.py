"""People, parties and specialist groups as plain values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from mim_console.errors import UserError


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    mobile: str  # E.164
    phone2: str | None = None  # E.164
    email: str | None = None
    ext_id: str | None = None  # the organisation's stable key (CSV `id` column)
    title: str = ""
    party_id: int | None = None
    decision_authority: bool = False
    active: bool = True
    notes: str = ""
    verified_at: datetime | None = None

    @property
    def phones(self) -> tuple[str, ...]:
        return (self.mobile,) if not self.phone2 else (self.mobile, self.phone2)


@dataclass(frozen=True)
class Party:
    """A party's MRT seat: ``representatives[0]`` is the primary, the rest are deputies in order."""

    id: int
    name: str
    description: str = ""
    representatives: tuple[int, ...] = field(default=())  # person ids, in order


@dataclass(frozen=True)
class SpecialistGroup:
    id: int
    name: str
    categories: tuple[str, ...] = ()
    description: str = ""
    members: tuple[int, ...] = ()  # person ids, in call order

    def covers(self, categories: tuple[str, ...] | list[str]) -> bool:
        wanted = {c.casefold() for c in categories}
        return any(c.casefold() in wanted for c in self.categories)


def next_active(order: tuple[int, ...], after: int | None, active: set[int]) -> int | None:
    """The next active person after ``after`` in ``order`` (wrapping), or the first active one.

    This is the deputy rule everywhere: a party's seat, a group's call order, a rotation.
    """
    if not order:
        return None
    start = order.index(after) + 1 if after in order else 0
    for offset in range(len(order)):
        candidate = order[(start + offset) % len(order)]
        if candidate != after and candidate in active:
            return candidate
    return None


# --- validation of typed or imported values (pure; the directory and the CSV import share it) ---

MAX_NAME_CHARS = 200
MAX_NOTES_CHARS = 4000
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")
_TRUE = {"1", "yes", "y", "true", "t", "x", "on", "kyllä", "ja"}
_FALSE = {"0", "no", "n", "false", "f", "off", "", "ei", "nej"}


def clean_name(value: str, what: str = "name") -> str:
    """A required short text, stripped; stored exactly as typed otherwise (markup included)."""
    text = value.strip()
    if not text:
        raise UserError(f"{what} is empty")
    if len(text) > MAX_NAME_CHARS:
        raise UserError(f"{what} is too long ({len(text)} characters, at most {MAX_NAME_CHARS})")
    return text


def clean_text(value: str | None, what: str, limit: int = MAX_NAME_CHARS) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise UserError(f"{what} is too long ({len(text)} characters, at most {limit})")
    return text


def clean_email(value: str | None) -> str | None:
    """None for blank; otherwise one ``local@domain.tld`` with no spaces."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > 254 or not _EMAIL.match(text):
        raise UserError(f'email "{text[:80]}" is not an email address')
    return text


def parse_flag(value: str, what: str) -> bool:
    """yes/no, true/false, 1/0, x or blank (= no)."""
    text = value.strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UserError(f'{what} "{value.strip()[:40]}" is not yes or no')


def describe(person: Person) -> str:
    """How a person is named in a list of candidates: name, email, id."""
    email = f" <{person.email}>" if person.email else ""
    inactive = ", inactive" if not person.active else ""
    return f"{person.name}{email} (id {person.id}{inactive})"
