"""The major incident procedure: declare, roll call, escalation, spokesperson, close.

Every action is one transaction (``store.write()``): the state change, its timeline event and
the alerts it queues are committed together or not at all, so a crash or a refused step never
leaves a half-made change. Refusals are ``UserError``s raised before anything is written, or
inside the transaction (which then rolls back).

``IncidentService`` is the one object the screens and the CLI use; its parts live by topic in
``incident_core`` (shared helpers, paging), ``escalation`` (moves, timers, deputies),
``replies`` (SMS replies, keypresses, logged calls: the dispatcher's reply receiver) and
``closing`` (restore, close, lessons, problem case).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from mim_console.data import incidents as repo
from mim_console.data import outbox
from mim_console.data.outbox import enqueue
from mim_console.domain.alerts import AlertDraft, Purpose
from mim_console.domain.bridge import BridgeState
from mim_console.domain.incident import (
    Event,
    Incident,
    IncidentStatus,
    NextStep,
    Participant,
    Quorum,
    Recipient,
    Role,
    State,
    next_incident_code,
    next_step,
    on_standby,
    quorum,
    reply_code,
    select_recipients,
)
from mim_console.domain.people import Person, SpecialistGroup
from mim_console.errors import UserError
from mim_console.services.bridge import BridgeSide, BridgeView
from mim_console.services.closing import Closing
from mim_console.services.incident_core import CHANNELS as CHANNELS
from mim_console.services.replies import CALL_OUTCOMES as CALL_OUTCOMES
from mim_console.services.unplaced import PlacingReplies


@dataclass(frozen=True)
class Seat:
    """A participant with the names a roll call shows."""

    participant: Participant
    person: Person
    unit: str  # party or group name, or "duty manager"
    deputy_for: str | None = None
    next_step: NextStep | None = None  # the escalation timer's next step (active incidents)


@dataclass(frozen=True)
class RollCall:
    incident: Incident
    seats: Sequence[Seat]
    quorum: Quorum
    party_names: dict[int, str]
    spokesperson: Person | None
    standby: Sequence[Seat]
    bridge: BridgeView = field(default_factory=lambda: BridgeView(enabled=False))

    def status_due(self, now: datetime) -> bool:
        """The spokesperson's promised status is late (before that, nobody nags the experts)."""
        due = self.incident.next_status_at
        return due is not None and now >= due


class IncidentService(PlacingReplies, Closing, BridgeSide):
    # --- lookups ----------------------------------------------------------------------

    def incident(self, ref: str) -> Incident:
        with self.store.read() as db:
            return repo.find_incident(db, ref)

    def incidents(self, *, include_closed: bool = False) -> list[Incident]:
        with self.store.read() as db:
            return repo.list_incidents(db, include_closed=include_closed)

    def closed_since(self, since: datetime) -> list[Incident]:
        """Recently closed incidents (the Duty screen keeps them in reach for the lessons)."""
        with self.store.read() as db:
            return repo.closed_since(db, since)

    def timeline(self, ref: str) -> list[Event]:
        with self.store.read() as db:
            return repo.events(db, repo.find_incident(db, ref).id)

    def changes(self, incident_id: int) -> tuple[int, int]:
        """Moves when the roll call may have: a new timeline event of the incident (every state
        change has one) or a new alert status, committed by anyone (two index lookups)."""
        with self.store.read() as db:
            return repo.latest_event_id(db, incident_id), outbox.latest_change(db)

    def roll_call(self, ref: str | Incident) -> RollCall:
        with self.store.read() as db:
            inc = ref if isinstance(ref, Incident) else repo.find_incident(db, ref)
            inc = repo.incident_by_id(db, inc.id)
            parts = repo.participants(db, inc.id)
            held = repo.held_by_cancel(db, inc.id)
        people = self.directory.people_by_ids([p.person_id for p in parts])
        parties = {p.id: p.name for p in self.directory.parties()}
        groups = {g.id: g.name for g in self.directory.groups()}
        by_id = {p.id: p for p in parts}
        policy, now = self.ctx.settings.escalation, self.ctx.clock()
        seats = []
        for p in parts:
            unit = (
                parties.get(p.party_id or -1, "?")
                if p.role is Role.MRT
                else (groups.get(p.group_id, "?") if p.group_id else "specialist")
                if p.role is Role.SPECIALIST
                else "duty manager"
            )
            deputy_for = None
            if p.deputy_for in by_id:
                deputy_for = people[by_id[p.deputy_for].person_id].name
            step = None
            if inc.status is IncidentStatus.ACTIVE and p.id not in held:
                step = next_step(p, policy.get(p.role.value), now)
            seats.append(Seat(p, people[p.person_id], unit, deputy_for, step))
        authority = {pid for pid, person in people.items() if person.decision_authority}
        bridge = self.bridge_view(inc.id)
        q = quorum(self._quorum_view(parts, bridge), authority)
        standby_ids = {p.id for p in on_standby(parts)}
        standby = sorted(
            (s for s in seats if s.participant.id in standby_ids),
            key=lambda s: s.participant.standby_since or s.participant.state_changed_at,
        )
        spokesperson = people.get(inc.spokesperson_id) if inc.spokesperson_id else None
        if inc.spokesperson_id and spokesperson is None:
            spokesperson = self.directory.person(inc.spokesperson_id)
        return RollCall(inc, seats, q, parties, spokesperson, standby, bridge)

    def _quorum_view(self, parts: Sequence[Participant], bridge: BridgeView) -> list[Participant]:
        """With ``[bridge] quorum_on_bridge``, a decider counts for quorum only while on the
        bridge (a "1" by SMS is not enough)."""
        if not (bridge.enabled and self.ctx.settings.bridge.quorum_on_bridge):
            return list(parts)
        on = {pid for pid, p in bridge.presence.items() if p.state is BridgeState.CONNECTED}
        return [p if p.id in on else replace(p, state=State.ALERTED) for p in parts]

    # --- declare ----------------------------------------------------------------------

    def plan_recipients(
        self,
        categories: Sequence[str] = (),
        group_refs: Sequence[str] = (),
        now: datetime | None = None,
    ) -> list[Recipient]:
        """Who a declaration would page: the confirmation prompt shows how many."""
        at = now or self.ctx.clock()
        duty_manager, seats = self._on_duty(at)
        groups: list[SpecialistGroup] = [self.directory.group(ref) for ref in group_refs]
        if not group_refs and categories:
            groups = list(self.directory.groups_covering(list(categories)))
        active = {p.id for p in self.directory.people(active_only=True)}
        return select_recipients(
            duty_manager, seats, [(g.id, tuple(g.members)) for g in groups], active
        )

    def declare(
        self,
        *,
        title: str,
        severity: str,
        description: str = "",
        categories: Sequence[str] = (),
        group_refs: Sequence[str] = (),
        channel: str = "sms",
        exercise: bool = False,
    ) -> Incident:
        title = title.strip()
        if not title:
            raise UserError("the incident needs a title")
        if channel not in CHANNELS:
            raise UserError(f'channel "{channel}" is not one of {", ".join(CHANNELS)}')
        if channel == "bridge":
            self._need_bridge()
        severity = severity.strip() or "SEV2"
        cats = tuple(dict.fromkeys(c.strip() for c in categories if c.strip()))
        now = self.ctx.clock()
        recipients = self.plan_recipients(cats, group_refs, now)
        if not recipients:
            raise UserError(
                "nobody to page: no duty manager on duty, no party representative and no "
                "specialist group for these categories; import people (`mim-console import "
                "people FILE.csv`), seat parties (`mim-console party set-reps`), or name a "
                "group with --group"
            )
        people = self.directory.people_by_ids([r.person_id for r in recipients])
        with self.store.write() as db:
            code = next_incident_code(now.year, repo.all_codes(db))
            rcode = reply_code(len(repo.all_codes(db)) + now.year, repo.open_reply_codes(db))
            inc = repo.insert_incident(
                db,
                code=code,
                reply_code=rcode,
                title=title,
                description=description,
                severity=severity,
                categories=cats,
                exercise=exercise,
                declared_at=now,
                declared_by=self.ctx.actor,
            )
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="declared",
                text=f"{'EXERCISE ' if exercise else ''}{severity} {title}",
                data={"categories": list(cats), "channel": channel, "exercise": exercise},
            )
            calls: list[tuple[int, AlertDraft]] = []
            for r in recipients:
                self._page(
                    db,
                    inc,
                    people[r.person_id],
                    r,
                    now,
                    channel=channel,
                    purpose=Purpose.ALERT,
                    calls=calls,
                )
            # Bridge calls leave one a second: queued after every SMS, deciders first.
            enqueue(db, [draft for _, draft in sorted(calls, key=lambda c: c[0])], now)
        return inc

    # --- roll call --------------------------------------------------------------------

    def mark_joined(self, ref: str, person_refs: Sequence[str], via: str = "by hand") -> list[str]:
        """Seen on the bridge (a phone call is ``log_call``: it also keeps the outcome)."""
        return self._bulk(ref, person_refs, State.JOINED, via=via)

    def mark_unable(self, ref: str, person_refs: Sequence[str], via: str = "by hand") -> list[str]:
        return self._bulk(ref, person_refs, State.UNABLE, via=via)

    def release(self, ref: str, person_refs: Sequence[str]) -> list[str]:
        return self._bulk(ref, person_refs, State.STANDBY, via="console")

    def quorum_dropped_by(self, ref: str, person_refs: Sequence[str]) -> list[str]:
        """The parties that have quorum now and would lose it if ``person_refs`` were released
        to standby (the release asks first, naming them); nothing is written."""
        rc = self.roll_call(ref)
        leaving = {p.id for p in self._people(person_refs)}
        after = [
            replace(s.participant, state=State.STANDBY)
            if s.person.id in leaving and s.participant.state is State.JOINED
            else s.participant
            for s in rc.seats
        ]
        authority = {s.person.id for s in rc.seats if s.person.decision_authority}
        later = quorum(self._quorum_view(after, rc.bridge), authority).parties
        return [
            rc.party_names.get(pid, str(pid))
            for pid, ok in rc.quorum.parties.items()
            if ok and not later.get(pid, False)
        ]

    def recall(self, ref: str, person_refs: Sequence[str], *, everyone: bool = False) -> list[str]:
        if everyone:
            if person_refs:
                raise UserError("give people to recall, or --all, not both")
            rc = self.roll_call(ref)
            if not rc.standby:
                raise UserError(f"nobody is on standby in {rc.incident.code}")
            person_refs = [str(s.person.id) for s in rc.standby]
        return self._bulk(ref, person_refs, State.RECALLED, via="console")

    def _bulk(self, ref: str, person_refs: Sequence[str], target: State, via: str) -> list[str]:
        if not person_refs:
            raise UserError("name at least one person")
        persons = self._people(person_refs)
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = self._open(db, ref)
            for person in persons:
                p = self._participant(db, inc, person)
                self._move(db, inc, p, person, target, now, via=via, actor=self.ctx.actor)
        return [p.name for p in persons]

    # --- spokesperson, notes, status ----------------------------------------------------

    def set_spokesperson(self, ref: str, person_ref: str, *, replace_current: bool = False) -> str:
        person = self.directory.find_person(person_ref)
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = self._open(db, ref)
            p = self._participant(db, inc, person)
            if p.role is not Role.SPECIALIST:
                raise UserError(
                    f"{person.name} is not in {inc.code}'s specialist workgroup: "
                    "the spokesperson speaks for the specialists"
                )
            if p.state is State.STOOD_DOWN:
                raise UserError(f"{person.name} is stood down in {inc.code}")
            current = inc.spokesperson_id
            if current == person.id:
                raise UserError(f"{person.name} is already the spokesperson of {inc.code}")
            previous = self.directory.person(current).name if current else None
            if current and not replace_current:
                raise UserError(
                    f"{inc.code} already has a spokesperson, {previous}: there is one at a time; "
                    "pass --replace to hand over"
                )
            repo.update_incident(db, inc.id, spokesperson_id=person.id)
            text = f"spokesperson: {person.name}" + (f" (was {previous})" if previous else "")
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="spokesperson",
                person_id=person.id,
                text=text,
                data={"previous": current, "spokesperson": person.id},
            )
        return text

    def note(self, ref: str, text: str, *, kind: str = "note") -> Event:
        body = text.strip()
        if not body:
            raise UserError("the note is empty")
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = self._open(db, ref)
            eid = repo.append_event(
                db, incident_id=inc.id, at=now, actor=self.ctx.actor, kind=kind, text=body
            )
            return next(e for e in repo.events(db, inc.id) if e.id == eid)

    def directive(self, ref: str, text: str) -> Event:
        """A prioritisation directive from the MRT to the workgroup, via the spokesperson."""
        return self.note(ref, text, kind="directive")

    def status_report(self, ref: str, text: str, next_in_min: float | None = None) -> Incident:
        body = text.strip()
        if not body:
            raise UserError("the status report is empty")
        if next_in_min is not None and not (0 < next_in_min <= 24 * 60):
            raise UserError("--next-in must be between 1 minute and 24 hours")
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = self._open(db, ref)
            due = None if next_in_min is None else now + timedelta(minutes=next_in_min)
            speaker = (
                self.directory.person(inc.spokesperson_id).name if inc.spokesperson_id else None
            )
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=speaker or self.ctx.actor,
                kind="status_report",
                person_id=inc.spokesperson_id,
                text=body,
                data={"next_status_at": due.isoformat() if due else None},
            )
            return repo.update_incident(db, inc.id, next_status_at=due)
