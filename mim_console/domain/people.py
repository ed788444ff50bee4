"""People, parties and specialist groups as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
