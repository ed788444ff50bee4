"""Answers: SMS replies (the dispatcher's ``ReplyReceiver``), voice keypresses, logged calls.

One way, one place: ``receive`` stores an inbound message, reads it (the pure
``domain/replies.py``) and applies it — the roll call move, the contact check it answers, the
help SMS it is due — in one transaction, once per provider id: a message already stored changes
nothing, whether a poll overlapped or a process restarted. The help SMS is queued through the
outbox like any alert; the dispatcher only sends it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from mim_console.data import inbound as inbound_repo
from mim_console.data import incidents as repo
from mim_console.data import outbox
from mim_console.data import verification as checks
from mim_console.domain.alerts import AlertDraft, Channel, Purpose
from mim_console.domain.incident import (
    IllegalTransition,
    Incident,
    IncidentStatus,
    State,
    check_move,
)
from mim_console.domain.people import Person
from mim_console.domain.replies import (
    OPT_OUT,
    OWN_MESSAGE,
    UNKNOWN_NUMBER,
    VERIFIED,
    InboundReply,
    Meaning,
    Reading,
    alerted_before,
    help_body,
    keyword_meaning,
    meaning_of_digit,
    read_reply,
)
from mim_console.errors import UserError
from mim_console.notifiers.logmask import masked_logger
from mim_console.services.escalation import Escalation
from mim_console.services.incident_core import _words

log = masked_logger("mim_console.replies")  # phone numbers masked in every line

# A phone call by the duty manager (``log_call``): joining and unable move the roll call like a
# reply; voicemail and no answer count as the escalation's voice call (see ``_missed_call``).
CALL_OUTCOMES = ("joining", "unable", "voicemail", "no-answer")
MISSED_MEANINGS = {"voicemail", "no-answer"}
MAX_CALL_NOTE = 500  # characters: one line on the timeline
HELP_EVERY = timedelta(minutes=60)  # at most one help SMS per number this often
_SMS_TARGET = {Meaning.JOINING.value: State.JOINED, Meaning.UNABLE.value: State.UNABLE}
_KEY_TARGET = {"joined": State.JOINED, "unable": State.UNABLE}


@dataclass(frozen=True)
class ReplyOutcome:
    """What ``receive`` made of one message: its row (None when already stored), its reading
    and what it did to the roll call, in words."""

    inbound_id: int | None
    reading: Reading | None
    outcome: str

    @property
    def answered(self) -> bool:
        return self.reading is not None and self.reading.answers


class Replies(Escalation):
    def receive(self, reply: InboundReply) -> ReplyOutcome:
        """Store, read and apply one inbound message, once per provider id (``ReplyReceiver``)."""
        now = self.ctx.clock()
        with self.store.write() as db:
            inbound_id = inbound_repo.insert(db, reply)
            if inbound_id is None:
                return ReplyOutcome(None, None, "nothing to do")
            reading = self._read(db, reply)
            inbound_repo.record_reading(db, inbound_id, reading, now)
            if reading.help_codes is not None:
                self._help(db, reply.sender, reading, now)
            if reading.meaning == OPT_OUT and reading.person_id is not None:
                self._opted_out(db, reading.person_id, reply.body, inbound_id, now)
            outcome = "nothing to do"
            if reading.answers:
                assert reading.incident_id is not None and reading.person_id is not None
                outcome = self._answer(
                    db,
                    repo.incident_by_id(db, reading.incident_id),
                    self.directory.person(reading.person_id),
                    reading.meaning,
                    _SMS_TARGET[reading.meaning],
                    now,
                    via="sms reply",
                    said=reply.body,
                    marker={"inbound": inbound_id},
                )
        if reading.meaning == UNKNOWN_NUMBER:
            log.info("reply from an unknown number %s logged, not acted on", reply.sender)
        return ReplyOutcome(inbound_id, reading, outcome)

    def apply_reply(self, reply: InboundReply) -> str:
        """``receive``, in words: what the reply did to the roll call."""
        return self.receive(reply).outcome

    def _read(self, db: Database, reply: InboundReply) -> Reading:
        """Who sent it and what it means; a contact check's answer is applied here (its code,
        or anything from someone on no active incident verifies the number and is never read
        as an incident reply: domain/verification.py)."""
        own = self.ctx.settings.twilio.sender
        if own and reply.sender == own:
            return Reading(OWN_MESSAGE)
        person_id = inbound_repo.sender_person(db, reply.sender)
        if person_id is None:
            return Reading(UNKNOWN_NUMBER)
        keyword = keyword_meaning(reply.body)
        if keyword is not None:  # Twilio's STOP, START, HELP: never a contact check's answer
            return Reading(keyword, person_id)
        active = repo.active_reply_codes(db)
        alerted = outbox.alerted_incidents(db, person_id, alerted_before(reply.received_at))
        if checks.answer_reply(
            db,
            person_id,
            reply.sender,
            reply.body,
            reply.received_at,
            reply.provider_id,
            on_active_incident=bool(alerted & {i for i, _ in active}),
        ):
            return Reading(VERIFIED, person_id)
        return read_reply(reply.body, person_id, active, alerted)

    def _opted_out(
        self, db: Database, person_id: int, body: str, inbound_id: int, now: datetime
    ) -> None:
        """STOP from someone on an open incident's roll call: on its timeline, since Twilio now
        refuses every SMS to them (21610) until they text START: only a call reaches them."""
        person = self.directory.person(person_id)
        for incident_id, _ in repo.active_reply_codes(db):
            if repo.participant_for(db, incident_id, person_id) is None:
                continue
            repo.append_event(
                db,
                incident_id=incident_id,
                at=now,
                actor=person.name,
                kind="reply",
                person_id=person_id,
                text=f"sms reply from {person.name}: {body} -> opted out of SMS: Twilio refuses "
                "texts to them until they text START (call them)",
                data={"inbound": inbound_id, "meaning": OPT_OUT, "via": "sms reply"},
            )

    def _help(self, db: Database, number: str, reading: Reading, now: datetime) -> None:
        """The one short help SMS, never a loop: one per number per ``HELP_EVERY``."""
        if outbox.help_sent_since(db, number, now - HELP_EVERY):
            return
        draft = AlertDraft(
            to_number=number,
            channel=Channel.SMS,
            purpose=Purpose.HELP,
            body=help_sms(db, reading.help_codes or ()),
            person_id=reading.person_id,
        )
        outbox.enqueue(db, [draft], now)

    def apply_keypress(self, call_sid: str, digit: str) -> str:
        """A key pressed during a voice alert (the webhook receiver's ``on_keypress``)."""
        meaning = meaning_of_digit(digit) or "unrecognised"
        now = self.ctx.clock()
        with self.store.write() as db:
            call = outbox.by_sid(db, call_sid, Channel.VOICE) or outbox.by_sid(
                db,
                call_sid,
                Channel.BRIDGE,  # "press 2" before reaching the bridge
            )
            if call is None or call.incident_id is None or call.person_id is None:
                return "unknown call"
            return self._answer(
                db,
                repo.incident_by_id(db, call.incident_id),
                self.directory.person(call.person_id),
                meaning,
                _KEY_TARGET.get(meaning),
                now,
                via="voice keypress",
                said=f"key {digit}",
                marker={"call": call_sid, "digit": digit},
            )

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
                target,
                now,
                via="phone call",
                said=said,
                marker={"note": text},
                actor=self.ctx.actor,
                kind="call",
                heading=f"phone call to {person.name}",
            )

    def _answer(
        self,
        db: Database,
        inc: Incident,
        person: Person,
        meaning: str,
        target: State | None,
        now: datetime,
        *,
        via: str,
        said: str,
        marker: dict[str, Any],
        actor: str | None = None,
        kind: str = "reply",
        heading: str | None = None,
    ) -> str:
        """Apply a person's answer (``target``: the state it asks for, if any) and log it:
        every answer is on the timeline.

        Replies and keypresses are the person's own (the actor is them); a phone call logged by
        the duty manager (``log_call``) passes its own actor, kind and heading.
        """
        who = actor or person.name
        p = repo.participant_for(db, inc.id, person.id)
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


def help_sms(db: Database, reply_codes: Sequence[str]) -> str:
    """The help SMS for these reply codes, marked ``EXERCISE`` only when every incident it
    names is a drill."""
    from mim_console.data.org_settings import read_all

    lead = read_all(db).get("reply_help")  # the organisation's words (`settings set reply_help`)
    flags = repo.exercise_flags(db, reply_codes) if reply_codes else []
    return help_body(reply_codes, flags, lead if isinstance(lead, str) else "")
