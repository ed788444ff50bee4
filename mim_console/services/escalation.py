"""Roll-call state moves and escalation: the voice call, then the deputy, by timer or by hand.

A move writes the participant, its timeline event and any alert it queues (standby and recall
texts, the deputy's page after an unable answer) in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from mim_console.data import incidents as repo
from mim_console.data.outbox import enqueue
from mim_console.data.refusals import RefusedAlert, refused_alerts
from mim_console.domain.alerts import Purpose
from mim_console.domain.incident import (
    ActionKind,
    Incident,
    IncidentStatus,
    Participant,
    Recipient,
    Role,
    State,
    choose_deputy,
    escalation_actions,
    move,
)
from mim_console.domain.people import Party, Person, SpecialistGroup
from mim_console.domain.twilio_errors import describe, number_cannot_take_calls, refusal_words
from mim_console.errors import UserError
from mim_console.services.incident_core import IncidentCore, _words


@dataclass(frozen=True)
class EscalateChoice:
    """What escalating one participant by hand can do: the procedure's step first."""

    name: str
    steps: tuple[ActionKind, ...]
    deputy: str | None  # who the deputy step would page; None: nobody left to page
    voice_ignored: bool  # a voice call was placed and not answered


def _manual_steps(p: Participant) -> tuple[ActionKind, ...]:
    """Alerted or recalled: a voice call, or the deputy at once. After an unanswered voice call:
    the deputy, or one more call. Refused for good: a call (if none was refused yet) or the
    deputy. Unable: the deputy. Otherwise nothing."""
    if p.escalation_step >= 2:
        return ()
    if p.state in (State.ALERTED, State.RECALLED) and p.escalation_step == 0:
        return (ActionKind.VOICE, ActionKind.DEPUTY)
    if p.state is State.ESCALATED:
        return (ActionKind.DEPUTY, ActionKind.VOICE)
    if p.state is State.FAILED:
        return (
            (ActionKind.VOICE, ActionKind.DEPUTY)
            if p.escalation_step == 0
            else (ActionKind.DEPUTY,)
        )
    if p.state is State.UNABLE:
        return (ActionKind.DEPUTY,)
    return ()


def _nothing_to_escalate(person: Person, inc: Incident, p: Participant) -> str:
    already = " and their deputy was already alerted" if p.escalation_step >= 2 else ""
    return f"{person.name} in {inc.code} is {_words(p.state)}{already}: nothing to escalate"


class Escalation(IncidentCore):
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
        text = f"{person.name}: {_words(p.state)} -> {_words(target)} ({via})"
        _record(db, inc, p, after, person, now, actor=actor, text=text, via=via)
        if target is State.STANDBY:
            enqueue(db, [self._sms(db, inc, person, "standby", Purpose.STANDBY)], now)
        elif target is State.RECALLED:
            enqueue(db, [self._sms(db, inc, person, "recall", Purpose.RECALL)], now)
        elif target is State.UNABLE:
            self._escalate_deputy(db, inc, after, person, now, reason="answered unable")
        elif target is State.VOICEMAIL:
            reason = "a voicemail box answered the bridge call"
            self._escalate_deputy(db, inc, after, person, now, reason=reason)
        return after

    def _manual(
        self, db: Database, ref: str, person: Person
    ) -> tuple[Incident, Participant, tuple[ActionKind, ...]]:
        """The open incident, ``person``'s participant and the steps escalating them by hand can
        take now; refused when there are none."""
        inc = self._open(db, ref)
        p = self._participant(db, inc, person)
        steps = _manual_steps(p)
        if not steps:
            raise UserError(_nothing_to_escalate(person, inc, p))
        return inc, p, steps

    def escalate_choice(self, ref: str, person_ref: str) -> EscalateChoice:
        """What escalating ``person_ref`` by hand can do now, the procedure's step first; the
        deputy is named (nobody is paged here). Refused when there is nothing to escalate."""
        person = self.directory.find_person(person_ref)
        now = self.ctx.clock()
        with self.store.read() as db:
            inc, p, steps = self._manual(db, ref, person)
            deputy = self._pick_deputy(db, inc, p, person, now)[0]
        return EscalateChoice(
            person.name,
            steps,
            deputy.name if deputy is not None else None,
            voice_ignored=p.state is State.ESCALATED,
        )

    def escalate(self, ref: str, person_ref: str, step: ActionKind | None = None) -> str:
        """Escalate now, without waiting for the timer: ``step`` (voice call or deputy), by
        default the procedure's next one (voice call, or the deputy after one)."""
        person = self.directory.find_person(person_ref)
        now = self.ctx.clock()
        with self.store.write() as db:
            inc, p, steps = self._manual(db, ref, person)
            chosen = steps[0] if step is None else step
            if chosen not in steps:
                raise UserError(
                    f"{person.name} in {inc.code} is {_words(p.state)}: "
                    f"a {chosen.value} step is not possible now"
                )
            why = "escalated by the duty manager"
            if chosen is ActionKind.VOICE:
                self._voice_now(db, inc, p, person, now, why)
                return "voice call queued"
            self._deputy_now(db, inc, p, person, now, why)
            return "deputy alerted"

    def _voice_now(
        self, db: Database, inc: Incident, p: Participant, person: Person, now: datetime, why: str
    ) -> None:
        if p.state is State.ESCALATED:  # a second call: the deputy's timer counts from it
            after = replace(p, state_changed_at=now, escalation_step=1)
        else:
            after = replace(move(p, State.ESCALATED, now, person.name), escalation_step=1)
        actor = self.ctx.actor if "duty manager" in why else "escalation"
        text = f"{person.name}: voice call ({why})"
        _record(db, inc, p, after, person, now, actor=actor, text=text, via="voice")
        enqueue(db, [self._escalation_call(db, inc, person, after, Purpose.ESCALATION)], now)

    def _deputy_now(
        self, db: Database, inc: Incident, p: Participant, person: Person, now: datetime, why: str
    ) -> None:
        if p.state is State.ESCALATED:
            after = move(p, State.UNREACHABLE, now, person.name)
            text = f"{person.name}: unreachable ({why})"
            _record(db, inc, p, after, person, now, actor="escalation", text=text)
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
        deputy, unit_name = self._pick_deputy(db, inc, p, person, now)
        if deputy is None:
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
            channel="bridge" if self._call_channel(db, inc) == "bridge" else "sms",
            purpose=Purpose.ESCALATION,
            deputy_for=p.id,
        )

    def _pick_deputy(
        self, db: Database, inc: Incident, p: Participant, person: Person, now: datetime
    ) -> tuple[Person | None, str | None]:
        """Who would stand in for ``person`` now (nobody is paged here), and the unit's name."""
        order, preferred, unit_name = self._deputy_order(p, person, now)
        taken = repo.person_ids_in(db, inc.id)
        # Whoever is already paged cannot deputise: loading only the others keeps an unable
        # answer cheap when a 2,000-member group is all alerted (96 ms -> under 2 ms).
        candidates = {c for c in (*preferred, *order) if c is not None} - set(taken)
        people = self.directory.people_by_ids(candidates)
        active = {pid for pid, x in people.items() if x.active}
        deputy_id = choose_deputy(order, person.id, active, taken, preferred)
        return (None if deputy_id is None else people[deputy_id]), unit_name

    def _deputy_order(
        self, p: Participant, person: Person, now: datetime
    ) -> tuple[tuple[int, ...], list[int | None], str | None]:
        """Whom to try for ``person``: the unit's order, who the duty board prefers first, and
        the unit's name for the timeline."""
        if p.role is Role.SPECIALIST:
            if p.group_id is None:
                return (), [], None
            group: SpecialistGroup = self.directory.group(p.group_id)
            return tuple(group.members), [], group.name
        from mim_console.services.duty import load_board

        board = load_board(self.store, now)
        if p.role is Role.MRT:
            if p.party_id is None:
                return (), [], None
            party: Party = self.directory.party(p.party_id)
            preferred: list[int | None] = []
            seat = next((s for s in board.seats if s.party.id == party.id), None)
            if seat is not None and seat.holder.person is not None:
                # A rotation's order: whoever the board says deputises for the seat holder.
                if seat.holder.person.id == person.id and seat.holder.deputy is not None:
                    preferred.append(seat.holder.deputy.id)
            return tuple(party.representatives), preferred, party.name
        if p.role is Role.DUTY_MANAGER:
            dm = board.duty_manager
            nxt = board.next_duty_manager.person
            preferred = [dm.deputy.id if dm.deputy else None, nxt.id if nxt else None]
            return (), preferred, "the duty-manager rotation"
        return (), [], None

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
                refused = _refusals(refused_alerts(db, incident_id))
                due = escalation_actions(repo.awaiting_answer(db, incident_id), policy, at)
            if not due and not refused[0]:
                continue
            with self.store.write() as db:
                inc = repo.incident_by_id(db, incident_id)
                if inc.status is not IncidentStatus.ACTIVE:
                    continue
                # Decided again inside the transaction: another console may have acted since.
                to_fail, no_calls = _refusals(refused_alerts(db, inc.id))
                for refusal in to_fail:
                    self._failed(db, inc, refusal, at)
                waiting = repo.awaiting_answer(db, inc.id)
                for action in escalation_actions(waiting, policy, at, no_calls=no_calls):
                    p = repo.participant_by_id(db, action.participant_id)
                    person = self.directory.person(p.person_id)
                    if action.kind is ActionKind.VOICE:
                        self._voice_now(db, inc, p, person, at, action.reason)
                    else:
                        self._deputy_now(db, inc, p, person, at, action.reason)
                    taken += 1
        return taken

    def _missed_call(
        self, db: Database, inc: Incident, p: Participant, person: Person, now: datetime, why: str
    ) -> None:
        """A call that did not reach someone alerted counts as the escalation's voice call:
        no second call is queued, and the deputy is alerted if no answer comes in time."""
        after = replace(move(p, State.ESCALATED, now, person.name), escalation_step=1)
        rule = self.ctx.settings.escalation.get(p.role.value)
        wait = f" in {rule.deputy_after_min:g} min" if rule is not None else ""
        text = f"{person.name}: not reached by phone ({why}); deputy next{wait} if still silent"
        _record(db, inc, p, after, person, now, actor=self.ctx.actor, text=text, via="phone call")

    # --- alerts refused for good (issue 14): the participant is failed, the next step now ---

    def _failed(self, db: Database, inc: Incident, refusal: RefusedAlert, now: datetime) -> None:
        """Mark the participant ``failed`` with the plain reason on the timeline; the tick's
        escalation then takes the next step at once (``domain.incident.STEP_RULES``)."""
        p = repo.participant_by_id(db, refusal.participant_id)
        person = self.directory.person(p.person_id)
        after = move(p, State.FAILED, now, f"{person.name} in {inc.code}")
        kind = "SMS" if refusal.channel == "sms" else "call"
        what = "not delivered" if refusal.accepted else "refused by Twilio"
        reason = refusal_words(refusal.code, refusal.error.partition(" (")[0])
        text = f"{kind} to {person.name} {what}: {reason}"
        extra = {"alert": refusal.alert_id, "code": refusal.code}
        via = refusal.channel
        _record(db, inc, p, after, person, now, actor="escalation", text=text, via=via, extra=extra)


def _record(
    db: Database,
    inc: Incident,
    before: Participant,
    after: Participant,
    person: Person,
    now: datetime,
    *,
    actor: str,
    text: str,
    via: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Save a participant's move and its "state" event on the timeline: from, to, and how."""
    repo.save_participant(db, after)
    data: dict[str, Any] = {
        "participant": before.id,
        "from": before.state.value,
        "to": after.state.value,
    }
    if via is not None:
        data["via"] = via
    repo.append_event(
        db,
        incident_id=inc.id,
        at=now,
        actor=actor,
        kind="state",
        person_id=person.id,
        text=text,
        data={**data, **(extra or {})},
    )


def _refusals(found: list[RefusedAlert]) -> tuple[list[RefusedAlert], set[int]]:
    """Which participants to mark failed now (one refusal each, since their last move, for
    good and not about our account), and which of them have a number no call can reach."""
    to_fail: dict[int, RefusedAlert] = {}
    no_calls: set[int] = set()
    for r in found:
        info = describe(r.code)
        if not info.permanent or info.account_wide:
            continue
        if number_cannot_take_calls(r.code):
            no_calls.add(r.participant_id)
        if r.participant_state != State.FAILED.value and r.created_at >= r.state_changed_at:
            to_fail.setdefault(r.participant_id, r)
    return list(to_fail.values()), no_calls
