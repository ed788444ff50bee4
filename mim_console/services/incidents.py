"""The major incident procedure: declare, roll call, escalation, spokesperson, close.

Every action is one transaction (``store.write()``): the state change, its timeline event and
the alerts it queues are committed together or not at all, so a crash or a refused step never
leaves a half-made change. Refusals are ``UserError``s raised before anything is written, or
inside the transaction (which then rolls back).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from mim_console.data import incidents as repo
from mim_console.data import outbox
from mim_console.data.directory import Directory
from mim_console.data.outbox import AlertDraft, enqueue
from mim_console.domain.incident import (
    ActionKind,
    Event,
    IllegalTransition,
    Incident,
    IncidentStatus,
    Participant,
    Quorum,
    Recipient,
    Role,
    State,
    check_move,
    choose_deputy,
    escalation_actions,
    move,
    next_incident_code,
    on_standby,
    quorum,
    reply_code,
    select_recipients,
)
from mim_console.domain.people import Party, Person, SpecialistGroup
from mim_console.errors import UserError
from mim_console.notifiers.voice import meaning_of_digit
from mim_console.services import messages
from mim_console.services.context import Context

CHANNELS = ("sms", "voice", "both")
JOIN_MEANINGS = {"join", "joining", "joined", "yes", "accept"}  # replies.Meaning, keypresses
UNABLE_MEANINGS = {"unable", "no", "decline", "declined"}
# A phone call by the duty manager (``log_call``): joining and unable move the roll call like a
# reply; voicemail and no answer count as the escalation's voice call (see ``_missed_call``).
CALL_OUTCOMES = ("joining", "unable", "voicemail", "no-answer")
MISSED_MEANINGS = {"voicemail", "no-answer"}
MAX_CALL_NOTE = 500  # characters: one line on the timeline


@dataclass(frozen=True)
class Seat:
    """A participant with the names a roll call shows."""

    participant: Participant
    person: Person
    unit: str  # party or group name, or "duty manager"
    deputy_for: str | None = None


@dataclass(frozen=True)
class RollCall:
    incident: Incident
    seats: Sequence[Seat]
    quorum: Quorum
    party_names: dict[int, str]
    spokesperson: Person | None
    standby: Sequence[Seat]

    def status_due(self, now: datetime) -> bool:
        """The spokesperson's promised status is late (before that, nobody nags the experts)."""
        due = self.incident.next_status_at
        return due is not None and now >= due


class IncidentService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.directory = Directory(
            ctx.store, default_region=ctx.settings.default_region, clock=ctx.clock
        )
        self.warnings: list[str] = []  # done, but something beside it failed: say so

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

    def roll_call(self, ref: str | Incident) -> RollCall:
        with self.store.read() as db:
            inc = ref if isinstance(ref, Incident) else repo.find_incident(db, ref)
            inc = repo.incident_by_id(db, inc.id)
            parts = repo.participants(db, inc.id)
        people = self.directory.people_by_ids([p.person_id for p in parts])
        parties = {p.id: p.name for p in self.directory.parties()}
        groups = {g.id: g.name for g in self.directory.groups()}
        by_id = {p.id: p for p in parts}
        seats = []
        for p in parts:
            unit = (
                parties.get(p.party_id or -1, "?")
                if p.role is Role.MRT
                else groups.get(p.group_id or -1, "?")
                if p.role is Role.SPECIALIST
                else "duty manager"
            )
            deputy_for = None
            if p.deputy_for in by_id:
                deputy_for = people[by_id[p.deputy_for].person_id].name
            seats.append(Seat(p, people[p.person_id], unit, deputy_for))
        authority = {pid for pid, person in people.items() if person.decision_authority}
        q = quorum(parts, authority)
        standby_ids = {p.id for p in on_standby(parts)}
        standby = sorted(
            (s for s in seats if s.participant.id in standby_ids),
            key=lambda s: s.participant.standby_since or s.participant.state_changed_at,
        )
        spokesperson = people.get(inc.spokesperson_id) if inc.spokesperson_id else None
        if inc.spokesperson_id and spokesperson is None:
            spokesperson = self.directory.person(inc.spokesperson_id)
        return RollCall(inc, seats, q, parties, spokesperson, standby)

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
            for r in recipients:
                self._page(db, inc, people[r.person_id], r, now, channel=channel, purpose="alert")
        return inc

    def _page(
        self,
        db: Database,
        inc: Incident,
        person: Person,
        r: Recipient,
        now: datetime,
        *,
        channel: str,
        purpose: str,
        deputy_for: int | None = None,
    ) -> Participant:
        p = repo.insert_participant(
            db,
            incident_id=inc.id,
            person_id=person.id,
            role=r.role,
            now=now,
            party_id=r.party_id,
            group_id=r.group_id,
            deputy_for=deputy_for,
        )
        repo.append_event(
            db,
            incident_id=inc.id,
            at=now,
            actor=self.ctx.actor,
            kind="alerted",
            person_id=person.id,
            text=f"{person.name} alerted ({r.role.value.replace('_', ' ')})",
            data={"participant": p.id, "from": None, "to": State.ALERTED.value, "via": channel},
        )
        drafts = []
        if channel in ("sms", "both"):
            drafts.append(self._sms(db, inc, person, "alert", purpose))
        if channel in ("voice", "both"):
            drafts.append(self._voice(db, inc, person, purpose))
        enqueue(db, drafts, now)
        return p

    # --- roll call --------------------------------------------------------------------

    def mark_joined(self, ref: str, person_refs: Sequence[str], via: str = "by hand") -> list[str]:
        """Seen on the bridge (a phone call is ``log_call``: it also keeps the outcome)."""
        return self._bulk(ref, person_refs, State.JOINED, via=via)

    def mark_unable(self, ref: str, person_refs: Sequence[str], via: str = "by hand") -> list[str]:
        return self._bulk(ref, person_refs, State.UNABLE, via=via)

    def log_call(self, ref: str, person_ref: str, outcome: str, note: str = "") -> str:
        """The duty manager phoned someone: log the outcome; joining / unable move the roll call.

        Joining and unable take the same path as an SMS reply (``_answer``). A move the roll
        call does not allow (someone on standby saying "joining") is refused before anything is
        written. Returns what happened, in words.
        """
        wanted = outcome.strip().lower().replace("_", "-").replace(" ", "-")
        wanted = {"joined": "joining", "noanswer": "no-answer"}.get(wanted, wanted)
        if wanted not in CALL_OUTCOMES:
            raise UserError(f'call outcome "{outcome}" is not one of {", ".join(CALL_OUTCOMES)}')
        text = " ".join(note.split())
        if len(text) > MAX_CALL_NOTE:
            raise UserError(
                f"the call note is {len(text)} characters; keep it under {MAX_CALL_NOTE} "
                "(a longer account belongs in a note: `mim-console note`)"
            )
        person = self.directory.find_person(person_ref)
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = self._open(db, ref)
            p = self._participant(db, inc, person)
            target = {"joining": State.JOINED, "unable": State.UNABLE}.get(wanted)
            if target is not None and p.state is not target:
                if p.state is State.STANDBY:
                    raise UserError(
                        f"{person.name} is on standby in {inc.code}: recall them first "
                        f"(b on the roll call, `mim-console recall {inc.code} ...`), then log "
                        "the call"
                    )
                check_move(p.state, target, f"{person.name} in {inc.code}")
            said = wanted.replace("-", " ") + (f" ({text})" if text else "")
            return self._answer(
                db,
                inc,
                person,
                wanted,
                now,
                via="phone call",
                said=said,
                marker={"note": text},
                actor=self.ctx.actor,
                kind="call",
                heading=f"phone call to {person.name}",
            )

    def _missed_call(
        self, db: Database, inc: Incident, p: Participant, person: Person, now: datetime, why: str
    ) -> None:
        """A call that did not reach someone alerted counts as the escalation's voice call:
        no second call is queued, and the deputy is alerted if no answer comes in time."""
        after = replace(move(p, State.ESCALATED, now, person.name), escalation_step=1)
        repo.save_participant(db, after)
        rule = self.ctx.settings.escalation.get(p.role.value)
        wait = f" in {rule.deputy_after_min:g} min" if rule is not None else ""
        repo.append_event(
            db,
            incident_id=inc.id,
            at=now,
            actor=self.ctx.actor,
            kind="state",
            person_id=person.id,
            text=f"{person.name}: not reached by phone ({why}); deputy next{wait} if still silent",
            data={
                "participant": p.id,
                "from": p.state.value,
                "to": "escalated",
                "via": "phone call",
            },
        )

    def release(self, ref: str, person_refs: Sequence[str]) -> list[str]:
        return self._bulk(ref, person_refs, State.STANDBY, via="console")

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

    def _move(
        self,
        db: Database,
        inc: Incident,
        p: Participant,
        person: Person,
        target: State,
        now: datetime,
        *,
        via: str,
        actor: str,
    ) -> Participant:
        after = move(p, target, now, who=f"{person.name} in {inc.code}")
        repo.save_participant(db, after)
        repo.append_event(
            db,
            incident_id=inc.id,
            at=now,
            actor=actor,
            kind="state",
            person_id=person.id,
            text=f"{person.name}: {_words(p.state)} -> {_words(target)} ({via})",
            data={"participant": p.id, "from": p.state.value, "to": target.value, "via": via},
        )
        if target is State.STANDBY:
            enqueue(db, [self._sms(db, inc, person, "standby", "standby")], now)
        elif target is State.RECALLED:
            enqueue(db, [self._sms(db, inc, person, "recall", "recall")], now)
        elif target is State.UNABLE:
            self._escalate_deputy(db, inc, after, person, now, reason="answered unable")
        return after

    def escalate(self, ref: str, person_ref: str) -> str:
        """Escalate now, without waiting for the timer: voice call, or the deputy after one."""
        person = self.directory.find_person(person_ref)
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = self._open(db, ref)
            p = self._participant(db, inc, person)
            if p.state in (State.ALERTED, State.RECALLED) and p.escalation_step == 0:
                if p.state is State.RECALLED:
                    self._deputy_now(db, inc, p, person, now, "escalated by the duty manager")
                    return "deputy alerted"
                self._voice_now(db, inc, p, person, now, "escalated by the duty manager")
                return "voice call queued"
            if p.state in (State.ESCALATED, State.UNABLE) and p.escalation_step < 2:
                self._deputy_now(db, inc, p, person, now, "escalated by the duty manager")
                return "deputy alerted"
            raise UserError(
                f"{person.name} in {inc.code} is {p.state.value.replace('_', ' ')}"
                f"{' and their deputy was already alerted' if p.escalation_step >= 2 else ''}: "
                "nothing to escalate"
            )

    def _voice_now(
        self, db: Database, inc: Incident, p: Participant, person: Person, now: datetime, why: str
    ) -> None:
        after = replace(move(p, State.ESCALATED, now, person.name), escalation_step=1)
        repo.save_participant(db, after)
        repo.append_event(
            db,
            incident_id=inc.id,
            at=now,
            actor=self.ctx.actor if "duty manager" in why else "escalation",
            kind="state",
            person_id=person.id,
            text=f"{person.name}: voice call ({why})",
            data={"participant": p.id, "from": p.state.value, "to": "escalated", "via": "voice"},
        )
        enqueue(db, [self._voice(db, inc, person, "escalation")], now)

    def _deputy_now(
        self, db: Database, inc: Incident, p: Participant, person: Person, now: datetime, why: str
    ) -> None:
        if p.state is State.ESCALATED:
            after = move(p, State.UNREACHABLE, now, person.name)
            repo.save_participant(db, after)
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor="escalation",
                kind="state",
                person_id=person.id,
                text=f"{person.name}: unreachable ({why})",
                data={"participant": p.id, "from": p.state.value, "to": "unreachable"},
            )
            p = after
        self._escalate_deputy(db, inc, p, person, now, reason=why)

    def _escalate_deputy(
        self,
        db: Database,
        inc: Incident,
        p: Participant,
        person: Person,
        now: datetime,
        reason: str,
    ) -> None:
        """Alert the next active person in the party's or group's order (once per participant)."""
        if p.escalation_step >= 2:
            return
        repo.save_participant(db, replace(p, escalation_step=2))
        order: tuple[int, ...] = ()
        preferred: list[int | None] = []
        unit_name: str | None = None
        board = None
        if p.role is not Role.SPECIALIST:
            from mim_console.services.duty import load_board

            board = load_board(self.store, now)
        if p.role is Role.MRT and p.party_id is not None:
            party: Party = self.directory.party(p.party_id)
            order, unit_name = tuple(party.representatives), party.name
            seat = next((s for s in board.seats if s.party.id == party.id), None) if board else None
            if seat is not None and seat.holder.person is not None:
                # A rotation's order: whoever the board says deputises for the seat holder.
                if seat.holder.person.id == person.id and seat.holder.deputy is not None:
                    preferred.append(seat.holder.deputy.id)
        elif p.role is Role.SPECIALIST and p.group_id is not None:
            group: SpecialistGroup = self.directory.group(p.group_id)
            order, unit_name = tuple(group.members), group.name
        elif p.role is Role.DUTY_MANAGER and board is not None:
            unit_name = "the duty-manager rotation"
            dm = board.duty_manager
            preferred.append(dm.deputy.id if dm.deputy else None)
            nxt = board.next_duty_manager.person
            preferred.append(nxt.id if nxt else None)
        taken = repo.person_ids_in(db, inc.id)
        # Whoever is already paged cannot deputise: loading only the others keeps an unable
        # answer cheap when a 2,000-member group is all alerted (96 ms -> under 2 ms).
        candidates = {c for c in (*preferred, *order) if c is not None} - set(taken)
        active = {pid for pid, x in self.directory.people_by_ids(candidates).items() if x.active}
        deputy_id = choose_deputy(order, person.id, active, taken, preferred)
        if deputy_id is None:
            where = f" in {unit_name}" if unit_name is not None else ""
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor="escalation",
                kind="escalation",
                person_id=person.id,
                text=f"no deputy left{where} for {person.name} ({reason}): call someone by hand",
                data={"participant": p.id, "deputy": None, "reason": reason},
            )
            return
        deputy = self.directory.person(deputy_id)
        repo.append_event(
            db,
            incident_id=inc.id,
            at=now,
            actor="escalation",
            kind="escalation",
            person_id=person.id,
            text=f"deputy {deputy.name} alerted for {person.name} ({reason})",
            data={"participant": p.id, "deputy": deputy.id, "reason": reason},
        )
        self._page(
            db,
            inc,
            deputy,
            Recipient(deputy.id, p.role, p.party_id, p.group_id),
            now,
            channel="sms",
            purpose="escalation",
            deputy_for=p.id,
        )

    def tick(self, now: datetime | None = None) -> int:
        """Run the escalation timers of every active incident; returns how many steps were taken.

        The dispatcher calls this every loop (``on_tick``); each incident is its own transaction.
        """
        at = now or self.ctx.clock()
        taken = 0
        with self.store.read() as db:
            ids = repo.active_incidents_with_open_roll_call(db)
        policy = self.ctx.settings.escalation
        for incident_id in ids:
            with self.store.read() as db:  # most ticks find nothing due: no write lock taken
                due = escalation_actions(repo.awaiting_answer(db, incident_id), policy, at)
            if not due:
                continue
            with self.store.write() as db:
                inc = repo.incident_by_id(db, incident_id)
                if inc.status is not IncidentStatus.ACTIVE:
                    continue
                # Decided again inside the transaction: another console may have acted since.
                for action in escalation_actions(repo.awaiting_answer(db, inc.id), policy, at):
                    p = repo.participant_by_id(db, action.participant_id)
                    person = self.directory.person(p.person_id)
                    if action.kind is ActionKind.VOICE:
                        self._voice_now(db, inc, p, person, at, action.reason)
                    else:
                        self._deputy_now(db, inc, p, person, at, action.reason)
                    taken += 1
        return taken

    # --- replies ----------------------------------------------------------------------

    def apply_reply(self, inbound_id: int) -> str:
        """Apply one matched SMS reply to the roll call (idempotent: a replay changes nothing)."""
        now = self.ctx.clock()
        with self.store.write() as db:
            rows = list(db.query("SELECT * FROM inbound WHERE id = ?", [inbound_id]))
            if not rows:
                return "unknown reply"
            row = rows[0]
            if row["person_id"] is None or row["incident_id"] is None:
                return "nothing to do"
            done = list(
                db.query(
                    "SELECT 1 FROM event WHERE incident_id = ? AND person_id = ? "
                    "AND kind = 'reply' AND json_extract(data, '$.inbound') = ?",
                    [row["incident_id"], row["person_id"], inbound_id],
                )
            )
            if done:
                return "nothing to do"
            inc = repo.incident_by_id(db, row["incident_id"])
            person = self.directory.person(row["person_id"])
            return self._answer(
                db,
                inc,
                person,
                str(row["meaning"]).lower(),
                now,
                via="sms reply",
                said=str(row["body"]),
                marker={"inbound": inbound_id},
            )

    def apply_keypress(self, call_sid: str, digit: str) -> str:
        """A key pressed during a voice alert (the webhook receiver's ``on_keypress``)."""
        meaning = meaning_of_digit(digit) or "unrecognised"
        now = self.ctx.clock()
        with self.store.write() as db:
            rows = list(
                db.query(
                    "SELECT incident_id, person_id FROM alert WHERE provider_sid = ? "
                    "AND channel = 'voice'",
                    [call_sid],
                )
            )
            if not rows or rows[0]["incident_id"] is None or rows[0]["person_id"] is None:
                return "unknown call"
            inc = repo.incident_by_id(db, rows[0]["incident_id"])
            person = self.directory.person(rows[0]["person_id"])
            return self._answer(
                db,
                inc,
                person,
                meaning,
                now,
                via="voice keypress",
                said=f"key {digit}",
                marker={"call": call_sid, "digit": digit},
            )

    def _answer(
        self,
        db: Database,
        inc: Incident,
        person: Person,
        meaning: str,
        now: datetime,
        *,
        via: str,
        said: str,
        marker: dict[str, Any],
        actor: str | None = None,
        kind: str = "reply",
        heading: str | None = None,
    ) -> str:
        """Apply a person's answer and log it (every answer is on the timeline).

        Replies and keypresses are the person's own (the actor is them); a phone call logged by
        the duty manager (``log_call``) passes its own actor, kind and heading.
        """
        who = actor or person.name
        p = repo.participant_for(db, inc.id, person.id)
        target = (
            State.JOINED
            if meaning in JOIN_MEANINGS
            else State.UNABLE
            if meaning in UNABLE_MEANINGS
            else None
        )
        outcome = "logged"
        if p is None:
            outcome = "not a participant"
        elif inc.status is IncidentStatus.CLOSED:
            outcome = "incident closed"
        elif target is not None and p.state is target:
            outcome = f"already {target.value}"
        elif target is not None and p.state is State.STANDBY:
            outcome = "on standby: recall them to rejoin"
        elif target is not None:
            try:
                self._move(db, inc, p, person, target, now, via=via, actor=who)
                outcome = target.value
            except IllegalTransition as exc:  # refused before anything was written
                outcome = f"not applied: {exc}"
        elif meaning in MISSED_MEANINGS:
            if p.state is State.ALERTED and p.escalation_step == 0:
                self._missed_call(db, inc, p, person, now, meaning.replace("-", " "))
                outcome = "escalated"
            else:
                outcome = f"logged ({_words(p.state)})"
        repo.append_event(
            db,
            incident_id=inc.id,
            at=now,
            actor=who,
            kind=kind,
            person_id=person.id,
            text=f"{heading or f'{via} from {person.name}'}: {said} -> {outcome}",
            data={**marker, "meaning": meaning, "outcome": outcome, "via": via},
        )
        return outcome

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

    # --- restore and close --------------------------------------------------------------

    def restore(self, ref: str) -> Incident:
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = self._open(db, ref)
            if inc.status is IncidentStatus.RESTORED:
                raise UserError(f"{inc.code} was already restored at {inc.restored_at}")
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="restored",
                text="service restored: business as usual",
            )
            return repo.update_incident(db, inc.id, status=IncidentStatus.RESTORED, restored_at=now)

    def close(
        self,
        ref: str,
        *,
        problem_ref: str | None = None,
        owner: str | None = None,
        summary: str | None = None,
        all_clear: bool = False,
        went_well: str | None = None,
        to_improve: str | None = None,
    ) -> Incident:
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = self._open(db, ref)
            parts = repo.participants(db, inc.id)
            people = self.directory.people_by_ids([p.person_id for p in parts])
            withdrawn = outbox.withdraw_unsent(
                db, inc.id, now, "withdrawn: the incident was closed before it could be sent"
            )
            for p in parts:
                if p.state is State.STOOD_DOWN:
                    continue
                person = people[p.person_id]
                self._move(
                    db, inc, p, person, State.STOOD_DOWN, now, via="close", actor=self.ctx.actor
                )
                if all_clear:
                    enqueue(db, [self._sms(db, inc, person, "stand_down", "stand_down")], now)
            changes: dict[str, Any] = {"status": IncidentStatus.CLOSED, "closed_at": now}
            if inc.restored_at is None:
                changes["restored_at"] = now
            for key, value in (
                ("problem_ref", problem_ref),
                ("problem_owner", owner),
                ("problem_summary", summary),
                ("went_well", went_well),
                ("to_improve", to_improve),
            ):
                if value is not None:
                    changes[key] = value.strip()
            closed = repo.update_incident(db, inc.id, **changes)
            text = "closed; everyone stood down" + (" (all-clear SMS sent)" if all_clear else "")
            if withdrawn:
                text += f"; {withdrawn} unsent alert(s) withdrawn"
            if closed.problem_ref:
                text += f"; problem case {closed.problem_ref}"
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="closed",
                text=text,
                data={
                    "problem_ref": closed.problem_ref,
                    "problem_owner": closed.problem_owner,
                    "all_clear": all_clear,
                    "withdrawn": withdrawn,
                },
            )
        from mim_console.services.backups import backup_after_close

        _, warning = backup_after_close(self.ctx, closed.code, now)  # never stops the close
        if warning:
            self.warnings.append(warning)
        return closed

    def lessons(self, ref: str, *, went_well: str | None, to_improve: str | None) -> Incident:
        """The duty manager's own words for the report; allowed after close too."""
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = repo.find_incident(db, ref)
            changes = {
                k: v.strip()
                for k, v in (("went_well", went_well), ("to_improve", to_improve))
                if v is not None
            }
            if not changes:
                raise UserError("give --went-well and/or --to-improve")
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="lessons",
                text="lessons learnt updated",
                data=changes,
            )
            return repo.update_incident(db, inc.id, **changes)

    def problem_case(self, ref: str) -> dict[str, Any]:
        """The Problem Management case as JSON for an ITSM tool (stable shape, docs/cli.md)."""
        inc = self.incident(ref)
        return {
            "schema": "mim-console/problem-case/1",
            "problem_ref": inc.problem_ref,
            "owner": inc.problem_owner,
            "summary": inc.problem_summary,
            "incident": {
                "code": inc.code,
                "title": inc.title,
                "description": inc.description,
                "severity": inc.severity,
                "categories": list(inc.categories),
                "exercise": inc.exercise,
                "declared_at": inc.declared_at.isoformat(),
                "restored_at": inc.restored_at.isoformat() if inc.restored_at else None,
                "closed_at": inc.closed_at.isoformat() if inc.closed_at else None,
            },
        }

    # --- helpers ----------------------------------------------------------------------

    def _open(self, db: Database, ref: str) -> Incident:
        inc = repo.find_incident(db, ref)
        if inc.status is IncidentStatus.CLOSED:
            raise UserError(
                f"{inc.code} is closed (at {inc.closed_at:%Y-%m-%d %H:%M} UTC): nothing can change "
                "on it; declare a new incident if it flared up again"
                if inc.closed_at
                else f"{inc.code} is closed"
            )
        return inc

    def _participant(self, db: Database, inc: Incident, person: Person) -> Participant:
        p = repo.participant_for(db, inc.id, person.id)
        if p is None:
            raise UserError(
                f"{person.name} is not in {inc.code}'s roll call "
                f"(`mim-console status {inc.code}` lists who is)"
            )
        return p

    def _people(self, refs: Iterable[str]) -> list[Person]:
        found: list[Person] = []
        for ref in refs:
            person = self.directory.find_person(ref)
            if any(p.id == person.id for p in found):
                continue
            found.append(person)
        return found

    def _on_duty(self, now: datetime) -> tuple[int | None, list[tuple[int, int | None]]]:
        """The duty manager and each party's representative on duty at ``now``."""
        return on_duty(self.ctx, self.directory, now)

    def _sms(
        self, db: Database, inc: Incident, person: Person, kind: str, purpose: str
    ) -> AlertDraft:
        return AlertDraft(
            to_number=person.mobile,
            channel="sms",
            purpose=purpose,
            body=messages.sms(kind, inc, person, self.ctx.settings, db),
            incident_id=inc.id,
            person_id=person.id,
        )

    def _voice(self, db: Database, inc: Incident, person: Person, purpose: str) -> AlertDraft:
        return AlertDraft(
            to_number=person.mobile,
            channel="voice",
            purpose=purpose,
            body=messages.voice(inc, person, self.ctx.settings, db),
            incident_id=inc.id,
            person_id=person.id,
        )


def _words(state: State) -> str:
    return state.value.replace("_", " ")


def on_duty(
    ctx: Context, directory: Directory, now: datetime
) -> tuple[int | None, list[tuple[int, int | None]]]:
    """The duty manager and each party's representative on duty at ``now`` (the duty board)."""
    from mim_console.services.duty import load_board

    board = load_board(ctx.store, now)
    manager = board.duty_manager.person.id if board.duty_manager.person else None
    seats = [
        (seat.party.id, seat.holder.person.id if seat.holder.person else None)
        for seat in board.seats
    ]
    return manager, seats
