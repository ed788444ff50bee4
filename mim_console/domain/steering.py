"""Steering a running incident as pure rules: who a "page more" would add, what an edit
changes, and when service may be said to have been restored.

Nothing here reads the clock or the database: the services pass the incident, the people
already on it and ``now``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mim_console.domain.incident import Incident, Recipient
from mim_console.domain.people import SpecialistGroup
from mim_console.domain.text import one_line
from mim_console.errors import UserError

#: The severities an incident may be given (the declare form offers the same three).
SEVERITIES = ("SEV1", "SEV2", "SEV3")
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 4000
MAX_CATEGORY_CHARS = 100
MAX_CATEGORIES = 30


@dataclass(frozen=True)
class PagePlan:
    """Who a "page more" adds, and who it leaves out (already on the incident, inactive)."""

    new: tuple[Recipient, ...]
    already: tuple[int, ...]  # person ids on the incident already: not paged again
    inactive: tuple[int, ...]  # person ids marked inactive in the directory


def plan_more(
    candidates: Iterable[Recipient], on_incident: Collection[int], active: Collection[int]
) -> PagePlan:
    """The candidates in order, each person once (the first role named wins), without the
    people already on the incident and the inactive."""
    new: list[Recipient] = []
    already: list[int] = []
    inactive: list[int] = []
    seen: set[int] = set()
    for r in candidates:
        if r.person_id in seen:
            continue
        seen.add(r.person_id)
        if r.person_id in on_incident:
            already.append(r.person_id)
        elif r.person_id not in active:
            inactive.append(r.person_id)
        else:
            new.append(r)
    return PagePlan(tuple(new), tuple(already), tuple(inactive))


def clean_severity(text: str) -> str:
    value = text.strip().upper()
    if value not in SEVERITIES:
        shown = one_line(text.strip())[:20] or "(empty)"
        raise UserError(f'severity "{shown}" is not one of {", ".join(SEVERITIES)}')
    return value


def clean_title(text: str) -> str:
    value = text.strip()
    if not value:
        raise UserError("the incident needs a title")
    if "\n" in value or "\r" in value:
        raise UserError("the title is one line (it goes into every SMS)")
    if len(value) > MAX_TITLE_CHARS:
        raise UserError(
            f"the title is too long ({len(value)} characters, at most {MAX_TITLE_CHARS})"
        )
    return value


def clean_description(text: str) -> str:
    value = text.strip()
    if len(value) > MAX_DESCRIPTION_CHARS:
        raise UserError(
            f"the description is too long ({len(value)} characters, "
            f"at most {MAX_DESCRIPTION_CHARS})"
        )
    return value


def clean_categories(values: Iterable[str]) -> tuple[str, ...]:
    """Stripped, each once (the first spelling kept when two differ only in case), bounded."""
    seen: dict[str, str] = {}
    for raw in values:
        text = raw.strip()
        if not text:
            continue
        if len(text) > MAX_CATEGORY_CHARS:
            raise UserError(
                f"category {one_line(text)[:30]!r}… is too long "
                f"({len(text)} characters, at most {MAX_CATEGORY_CHARS})"
            )
        seen.setdefault(text.casefold(), text)
    if len(seen) > MAX_CATEGORIES:
        raise UserError(f"{len(seen)} categories: at most {MAX_CATEGORIES}")
    return tuple(seen.values())


@dataclass(frozen=True)
class Change:
    """One changed field of an incident, and its timeline words."""

    field: str
    before: str | tuple[str, ...]
    after: str | tuple[str, ...]
    text: str


def _short(text: str, limit: int = 60) -> str:
    line = one_line(text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def changes(
    inc: Incident,
    *,
    severity: str | None = None,
    title: str | None = None,
    description: str | None = None,
    categories: Sequence[str] | None = None,
) -> list[Change]:
    """What an edit changes, each field checked as declare would; unchanged fields are left
    out, so an edit that changes nothing has no changes."""
    out: list[Change] = []
    if severity is not None:
        value = clean_severity(severity)
        if value != inc.severity:
            out.append(
                Change("severity", inc.severity, value, f"severity {inc.severity} → {value}")
            )
    if title is not None:
        value = clean_title(title)
        if value != inc.title:
            out.append(
                Change(
                    "title", inc.title, value, f"title “{_short(inc.title)}” → “{_short(value)}”"
                )
            )
    if description is not None:
        value = clean_description(description)
        if value != inc.description:
            words = f"description: “{_short(value)}”" if value else "description removed"
            out.append(Change("description", inc.description, value, words))
    if categories is not None:
        cats = clean_categories(categories)
        if [c.casefold() for c in cats] != [c.casefold() for c in inc.categories]:
            added, dropped = (
                added_categories(inc.categories, cats),
                [c for c in inc.categories if c.casefold() not in {n.casefold() for n in cats}],
            )
            parts = [f"+ {', '.join(added)}"] if added else []
            parts += [f"− {', '.join(dropped)}"] if dropped else []
            words = "; ".join(parts) or "reordered"
            out.append(Change("categories", inc.categories, cats, f"categories {words}"))
    return out


def added_categories(before: Sequence[str], after: Sequence[str]) -> list[str]:
    known = {c.casefold() for c in before}
    return [c for c in after if c.casefold() not in known]


def restored_problem(at: datetime, declared_at: datetime, now: datetime) -> str | None:
    """Why ``at`` cannot be when service was restored (None when it can): not before the
    declaration, not in the future."""
    if at < declared_at:
        return (
            f"service cannot be restored ({at:%Y-%m-%d %H:%M} UTC) before the incident was "
            f"declared ({declared_at:%Y-%m-%d %H:%M} UTC)"
        )
    if at > now:
        return f"service restored at {at:%Y-%m-%d %H:%M} UTC is in the future"
    return None


@dataclass(frozen=True)
class Outcome:
    """Time to restore and time to close, apart. A close without a recorded restore also
    stamps ``restored_at`` (at the same instant): that is no restore time of its own."""

    to_restore: timedelta | None
    to_close: timedelta | None
    restore_recorded: bool


def outcome(inc: Incident) -> Outcome:
    recorded = inc.restored_at is not None and inc.restored_at != inc.closed_at
    return Outcome(
        inc.restored_at - inc.declared_at if recorded and inc.restored_at else None,
        inc.closed_at - inc.declared_at if inc.closed_at else None,
        recorded,
    )


def groups_offered(
    groups: Iterable[SpecialistGroup],
    added: Sequence[str],
    on_incident: Collection[int],
    active: Collection[int],
) -> list[SpecialistGroup]:
    """The groups covering the ``added`` categories that would page someone new."""
    if not added:
        return []
    return [
        g
        for g in groups
        if g.covers(list(added)) and any(m in active and m not in on_incident for m in g.members)
    ]
