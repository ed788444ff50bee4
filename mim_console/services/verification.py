"""Contact verification: send a test SMS to people, a group, a party or everyone.

Each check goes through the outbox like an alert (the dispatcher sends it) and carries its own
four-digit code; a reply verifies the person (``data/verification.py`` on the reply path, the
rule in ``domain/verification.py``). Planning and sending are separate so the CLI can ask before
paging many people.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mim_console.data import rotations as rotations_repo
from mim_console.data import verification as repo
from mim_console.data.directory import Directory
from mim_console.domain.people import Person
from mim_console.domain.verification import new_code, reply_help
from mim_console.errors import UserError
from mim_console.services.comms import render_message
from mim_console.services.context import Context
from mim_console.services.readiness import mobile_checker


@dataclass(frozen=True)
class Plan:
    """Whom a check would go to, and whom it leaves out (name, reason)."""

    people: tuple[Person, ...]
    skipped: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class SentCheck:
    person_id: int
    name: str
    to_number: str
    code: str
    alert_id: int
    body: str


class VerificationService:
    def __init__(self, ctx: Context, rand: Callable[[], float] = random.random) -> None:
        self.ctx = ctx
        self.rand = rand

    @property
    def directory(self) -> Directory:
        return self.ctx.directory()

    def plan(
        self,
        persons: Sequence[str] = (),
        groups: Sequence[str] = (),
        parties: Sequence[str] = (),
        *,
        everyone: bool = False,
    ) -> Plan:
        """Resolve the targets; an unknown name is an error before anything is queued.

        A party means its representatives and, if its seat follows a rotation, the rotation's
        members. Inactive people and mobiles that cannot take an SMS are left out, each named
        with why.
        """
        if not (persons or groups or parties or everyone):
            raise UserError("say whom to check: --person, --group, --party or --all")
        directory = self.directory
        chosen: list[Person] = []
        if everyone:
            chosen.extend(directory.people())
        for ref in persons:
            chosen.append(directory.find_person(ref))
        wanted: list[int] = []
        for ref in groups:
            wanted.extend(directory.group(ref).members)
        if parties:
            with self.ctx.store.read() as db:
                seat_rotations = rotations_repo.party_rotations(db)
            for ref in parties:
                party = directory.party(ref)
                wanted.extend(party.representatives)
                rotation = seat_rotations.get(party.id)
                if rotation is not None:
                    wanted.extend(rotation.members)
        by_id = directory.people_by_ids(wanted)
        chosen.extend(by_id[i] for i in wanted if i in by_id)
        people: list[Person] = []
        skipped: list[tuple[str, str]] = []
        seen: set[int] = set()
        bad_mobile = mobile_checker(self.ctx.settings.default_region)
        for person in chosen:
            if person.id in seen:
                continue
            seen.add(person.id)
            reason = bad_mobile(person.mobile)
            if not person.active:
                skipped.append((person.name, "inactive: never alerted, so not checked"))
            elif reason:
                skipped.append(
                    (
                        person.name,
                        f"mobile {reason}; fix it first: "
                        f"`mim-console person edit {person.id} --mobile NUMBER`",
                    )
                )
            else:
                people.append(person)
        return Plan(tuple(people), tuple(skipped))

    def send(self, people: Sequence[Person], *, with_numbers: bool = False) -> list[SentCheck]:
        """Queue one check per person, all in one transaction (all or none); ``with_numbers``:
        the check also names the numbers alerts come from (the contact card, link-free)."""
        extra = ""
        if with_numbers:
            from mim_console.services.modem import numbers_sms

            extra = " " + numbers_sms(self.ctx.settings)
        now = self.ctx.clock()
        sent: list[SentCheck] = []
        with self.ctx.store.write() as db:
            for person in people:
                taken = {c.code for c in repo.open_checks(db, person.id, now)}
                code = new_code(taken, self.rand)
                body = render_message(
                    db,
                    "test",
                    {
                        "person_name": person.name,
                        "organisation": self.ctx.settings.organisation,
                        "reply_help": reply_help(code),
                    },
                )
                body += extra
                alert_id = repo.queue_check(db, person, body, code, now, self.ctx.actor)
                sent.append(SentCheck(person.id, person.name, person.mobile, code, alert_id, body))
        return sent

    def recent(self, days: int = 30, now: datetime | None = None) -> list[repo.CheckRecord]:
        at = now or self.ctx.clock()
        with self.ctx.store.read() as db:
            return repo.recent_checks(db, at - timedelta(days=days))
