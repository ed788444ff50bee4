"""Steering a running incident: page more people into it, change its severity, title,
description or categories, record when service was restored.

Paging more follows declare's path: the same ``Recipient`` roles (a party's seat holders are
MRT, a group's members specialists), the same ``_page`` (participant row, "alerted" event,
``AlertDraft``s), so the new participants escalate like everyone else. People already on the
incident are never paged again: the plan is made again inside the transaction, against the
roll call as it is at that moment. Each action is one transaction with its timeline events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mim_console.data import incidents as repo
from mim_console.domain.alerts import Purpose
from mim_console.domain.incident import Incident, IncidentStatus, Participant, Recipient, Role
from mim_console.domain.people import Party, Person, SpecialistGroup
from mim_console.domain.steering import (
    Change,
    PagePlan,
    added_categories,
    changes,
    groups_offered,
    plan_more,
    restored_problem,
)
from mim_console.domain.text import names_list
from mim_console.errors import UserError
from mim_console.services.context import Context
from mim_console.services.incident_core import IncidentCore
from mim_console.services.timezone import wall

PAGE_CHANNELS = ("sms", "voice", "both")
CHANNEL_WORDS = {"sms": "SMS", "voice": "voice call", "both": "SMS and voice call"}


@dataclass(frozen=True)
class PageTargets:
    """What the duty manager asked to page: people, parties' seats, specialist groups."""

    people: Sequence[str] = ()
    parties: Sequence[str] = ()
    groups: Sequence[str] = ()

    @property
    def empty(self) -> bool:
        return not (self.people or self.parties or self.groups)


@dataclass(frozen=True)
class PagePreview:
    """Who a page would reach: the confirmation names how many are new and who is skipped."""

    incident: Incident
    new: Sequence[tuple[Person, Recipient]]
    already: Sequence[Person]
    inactive: Sequence[Person]

    def question(self, channel: str) -> str:
        count = len(self.new)
        text = (
            f"Page {count} new {'person' if count == 1 else 'people'} into "
            f"{self.incident.code} by {CHANNEL_WORDS.get(channel, channel)}?"
        )
        if self.already:
            text += f"\nAlready on the incident, not paged again: {_names(self.already)}"
        if self.inactive:
            text += f"\nInactive, not paged: {_names(self.inactive)}"
        return text


@dataclass(frozen=True)
class Paged:
    incident: Incident
    participants: Sequence[tuple[Person, Participant]]
    already: Sequence[Person]
    text: str  # the timeline's words


@dataclass(frozen=True)
class Edited:
    incident: Incident
    changes: Sequence[Change]
    offered: Sequence[SpecialistGroup]  # groups covering added categories, someone new in each


@dataclass(frozen=True)
class EditBasis:
    incident: Incident
    groups: Sequence[SpecialistGroup]
    on_incident: frozenset[int]
    active: frozenset[int]

    def offered(self, categories: Sequence[str]) -> list[SpecialistGroup]:
        """The groups the form offers to page for the categories as typed."""
        added = added_categories(self.incident.categories, categories)
        return groups_offered(self.groups, added, self.on_incident, self.active)


@dataclass(frozen=True)
class PageCandidate:
    """One line of the picker: a person, a party's seat or a specialist group."""

    kind: str  # "person" | "party" | "group"
    ref: str  # as PageTargets takes it: "#id" for a person, the id of a party or group
    name: str
    words: str
    new: int  # how many it would page now

    def matches(self, needle: str) -> bool:
        return needle in self.name.casefold() or needle in f"{self.kind} {self.words}".casefold()


def _names(people: Sequence[Person], shown: int = 5) -> str:
    return names_list([p.name for p in people], shown)


class Steering(IncidentCore):
    # --- page more people -----------------------------------------------------------------

    def preview_page(self, ref: str, targets: PageTargets) -> PagePreview:
        """Who ``page`` would reach now (nothing is written)."""
        if targets.empty:
            raise UserError("name someone to page: a person, --party P or --group G")
        inc = self.incident_for_steering(ref)
        candidates = self._candidates(inc, targets, self.ctx.clock())
        with self.store.read() as db:
            on_incident = repo.person_ids_in(db, inc.id)
        return self._preview(inc, self._plan(candidates, on_incident))

    def page(self, ref: str, targets: PageTargets, *, channel: str = "sms") -> Paged:
        if channel not in PAGE_CHANNELS:
            raise UserError(f'channel "{channel}" is not one of {", ".join(PAGE_CHANNELS)}')
        if targets.empty:
            raise UserError("name someone to page: a person, --party P or --group G")
        now = self.ctx.clock()
        first = self.incident_for_steering(ref)
        candidates = self._candidates(first, targets, now)
        with self.store.write() as db:
            inc = self._open(db, ref)
            plan = self._plan(candidates, repo.person_ids_in(db, inc.id))
            preview = self._preview(inc, plan)
            if not preview.new:
                raise UserError(_nobody_new(preview))
            added = [
                (
                    person,
                    self._page(db, inc, person, r, now, channel=channel, purpose=Purpose.ALERT),
                )
                for person, r in preview.new
            ]
            text = f"paged {len(added)} more: {_names([p for p, _ in added])}"
            if preview.already:
                text += f" (already on the incident: {_names(preview.already)})"
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="paged_more",
                text=text,
                data={
                    "people": [p.id for p, _ in added],
                    "already": [p.id for p in preview.already],
                    "inactive": [p.id for p in preview.inactive],
                    "channel": channel,
                    "asked": {
                        "people": list(targets.people),
                        "parties": list(targets.parties),
                        "groups": list(targets.groups),
                    },
                },
            )
        return Paged(inc, added, preview.already, text)

    def incident_for_steering(self, ref: str) -> Incident:
        with self.store.read() as db:
            return self._open(db, ref)

    def _plan(self, candidates: Sequence[Recipient], on_incident: set[int]) -> PagePlan:
        active = {p.id for p in self.directory.people(active_only=True)}
        return plan_more(candidates, on_incident, active)

    def _preview(self, inc: Incident, plan: PagePlan) -> PagePreview:
        ids = [r.person_id for r in plan.new] + list(plan.already) + list(plan.inactive)
        people = self.directory.people_by_ids(ids)
        return PagePreview(
            inc,
            [(people[r.person_id], r) for r in plan.new],
            [people[i] for i in plan.already],
            [people[i] for i in plan.inactive],
        )

    def _candidates(self, inc: Incident, targets: PageTargets, now: datetime) -> list[Recipient]:
        """Everyone named, in order, with the role they join in: a person by where the
        directory seats them, a party's holder on duty then its representatives, a group's
        members in call order."""
        out: list[Recipient] = []
        parties = self.directory.parties()
        groups = self.directory.groups()
        for person in self._people(targets.people):
            out.append(_role_of(person, inc, parties, groups))
        if targets.parties:
            _, on_duty = self._on_duty(now)
            holder = dict(on_duty)
            for ref in targets.parties:
                party = self.directory.party(ref)
                first = holder.get(party.id)
                order = ([first] if first is not None else []) + list(party.representatives)
                out.extend(Recipient(pid, Role.MRT, party_id=party.id) for pid in order)
        for ref in targets.groups:
            group = self.directory.group(ref)
            if not group.members:
                raise UserError(f'specialist group "{group.name}" has no members')
            out.extend(Recipient(pid, Role.SPECIALIST, group_id=group.id) for pid in group.members)
        return out

    # --- change the incident ----------------------------------------------------------------

    def edit(
        self,
        ref: str,
        *,
        severity: str | None = None,
        title: str | None = None,
        description: str | None = None,
        categories: Sequence[str] | None = None,
    ) -> Edited:
        """Change what was given; each changed field is its own timeline event. Nothing
        changed is a refusal (so a mistyped command does not pass unnoticed)."""
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = self._open(db, ref)
            found = changes(
                inc, severity=severity, title=title, description=description, categories=categories
            )
            if not found:
                raise UserError(f"nothing to change: {inc.code} already reads so")
            for change in found:
                repo.append_event(
                    db,
                    incident_id=inc.id,
                    at=now,
                    actor=self.ctx.actor,
                    kind="changed",
                    text=change.text,
                    data={
                        "field": change.field,
                        "from": _plain(change.before),
                        "to": _plain(change.after),
                    },
                )
            updated = repo.update_incident(db, inc.id, **{c.field: c.after for c in found})
            on_incident = repo.person_ids_in(db, inc.id)
        added = added_categories(inc.categories, updated.categories)
        return Edited(updated, found, self.groups_to_offer(added, on_incident))

    def groups_to_offer(
        self, categories: Sequence[str], on_incident: set[int]
    ) -> list[SpecialistGroup]:
        """The groups covering ``categories`` with at least one active member not yet paged."""
        active = {p.id for p in self.directory.people(active_only=True)}
        return groups_offered(self.directory.groups(), categories, on_incident, active)

    def edit_basis(self, ref: str) -> EditBasis:
        """What the edit form starts from, and what it needs to offer groups as one types."""
        with self.store.read() as db:
            inc = self._open(db, ref)
            on_incident = repo.person_ids_in(db, inc.id)
        active = {p.id for p in self.directory.people(active_only=True)}
        return EditBasis(
            inc, tuple(self.directory.groups()), frozenset(on_incident), frozenset(active)
        )

    # --- what the picker offers -------------------------------------------------------------

    def page_candidates(self, ref: str) -> list[PageCandidate]:
        """Everyone and everything ``page`` takes, with how many each would add now: specialist
        groups, then parties' seats, then people (active ones), each by name."""
        with self.store.read() as db:
            inc = self._open(db, ref)
            on = repo.person_ids_in(db, inc.id)
        people = self.directory.people(active_only=True)
        active = {p.id for p in people}
        parties = self.directory.parties()
        out: list[PageCandidate] = []
        for g in self.directory.groups():
            new = sum(1 for m in g.members if m in active and m not in on)
            covers = ", ".join(g.categories) or "no categories"
            words = f"{new} new of {len(g.members)} · covers {covers}"
            out.append(PageCandidate("group", str(g.id), g.name, words, new))
        for party in parties:
            new = sum(1 for m in party.representatives if m in active and m not in on)
            words = f"{new} new of {len(party.representatives)} seat holders"
            out.append(PageCandidate("party", str(party.id), party.name, words, new))
        seat_of = {m: party.name for party in reversed(parties) for m in party.representatives}
        for person in people:
            about = ["on the incident"] if person.id in on else []
            about.append(
                f"{seat_of[person.id]} seat" if person.id in seat_of else person.title or "-"
            )
            out.append(
                PageCandidate(
                    "person",
                    f"#{person.id}",
                    person.name,
                    " · ".join(about),
                    int(person.id not in on),
                )
            )
        return out

    # --- service restored ---------------------------------------------------------------------

    def restored(self, ref: str, at: datetime | None = None) -> Incident:
        """Service restored (business as usual) at ``at`` or now; the incident stays open until
        it is closed. A second time with ``at`` corrects the recorded time."""
        now = self.ctx.clock()
        when = at or now
        with self.store.write() as db:
            inc = self._open(db, ref)
            problem = restored_problem(when, inc.declared_at, now)
            if problem:
                raise UserError(problem)
            previous = inc.restored_at
            if previous is not None and at is None:
                raise UserError(
                    f"{inc.code} was already restored at {_at(previous, self.ctx)} "
                    "(--at corrects the time)"
                )
            if previous == when:
                raise UserError(f"{inc.code} was already restored at {_at(when, self.ctx)}")
            text = f"service restored at {_at(when, self.ctx)}: business as usual"
            if previous is not None:
                corrected = f"{_at(previous, self.ctx)} → {_at(when, self.ctx)}"
                text = f"service restored time corrected: {corrected}"
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="restored",
                text=text,
                data={
                    "restored_at": when.isoformat(),
                    "previous": previous.isoformat() if previous else None,
                },
            )
            return repo.update_incident(
                db, inc.id, status=IncidentStatus.RESTORED, restored_at=when
            )


def _plain(value: str | tuple[str, ...]) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _nobody_new(preview: PagePreview) -> str:
    text = f"nobody new to page into {preview.incident.code}"
    if preview.already:
        text += f": {_names(preview.already)} already on it"
    if preview.inactive:
        text += f"; inactive: {_names(preview.inactive)}"
    return text


def _role_of(
    person: Person, inc: Incident, parties: Sequence[Party], groups: Sequence[SpecialistGroup]
) -> Recipient:
    """A person named by hand joins where the directory seats them: a party's seat (MRT),
    else a group covering the incident's categories, else any group of theirs (specialist)."""
    for party in parties:
        if person.id in party.representatives:
            return Recipient(person.id, Role.MRT, party_id=party.id)
    theirs = [g for g in groups if person.id in g.members]
    covering = [g for g in theirs if g.covers(inc.categories)]
    chosen = (covering or theirs)[:1]
    if not chosen and person.party_id is not None:
        return Recipient(person.id, Role.MRT, party_id=person.party_id)
    return Recipient(person.id, Role.SPECIALIST, group_id=chosen[0].id if chosen else None)


def _at(moment: datetime, context: Context) -> str:
    """A single time in a sentence: on the organisation's wall clock, naming its zone."""
    return f"{wall(moment, context):%Y-%m-%d %H:%M %Z}"
