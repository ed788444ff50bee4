"""What every part of the incident procedure shares: the context, the directory, finding the
open incident and a participant, and paging someone (participant row, timeline event and the
alerts, in the caller's transaction).

The procedure itself is split by topic: ``services/escalation.py`` (state moves and escalation),
``services/replies.py`` (answers: SMS replies, keypresses, logged calls), ``services/closing.py``
(restore, close, problem case) and ``services/incidents.py`` (declare, roll call, the facade).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlite_utils import Database

from mim_console.data import bridge as bridge_repo
from mim_console.data import incidents as repo
from mim_console.data.directory import Directory
from mim_console.data.outbox import enqueue
from mim_console.domain.alerts import AlertDraft, Channel, Purpose
from mim_console.domain.bridge import call_rank, participant_label
from mim_console.domain.incident import (
    Incident,
    IncidentStatus,
    Participant,
    Recipient,
    State,
)
from mim_console.domain.people import Person
from mim_console.errors import UserError
from mim_console.services import messages
from mim_console.services.context import Context
from mim_console.services.timezone import wall

CHANNELS = ("sms", "voice", "both", "bridge")


class IncidentCore:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.directory = ctx.directory()
        self.warnings: list[str] = []  # done, but something beside it failed: say so

    def _page(
        self,
        db: Database,
        inc: Incident,
        person: Person,
        r: Recipient,
        now: datetime,
        *,
        channel: str,
        purpose: Purpose,
        deputy_for: int | None = None,
        calls: list[tuple[int, AlertDraft]] | None = None,
    ) -> Participant:
        """Page ``person``: participant row, timeline event, alerts. A bridge call goes to
        ``calls`` (rank, draft) when given, for the caller to queue deciders first."""
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
        if channel in ("sms", "both", "bridge"):  # a bridge call comes with the SMS
            drafts.append(self._sms(db, inc, person, "alert", purpose))
        if channel in ("voice", "both"):
            drafts.append(self._voice(db, inc, person, purpose))
        if channel == "bridge":
            bridge = self._bridge_draft(db, inc, person, p, purpose)
            if calls is None:
                drafts.append(bridge)
            else:
                deputy = deputy_for is not None
                calls.append((call_rank(r.role, person.decision_authority, deputy), bridge))
        enqueue(db, drafts, now)
        return p

    def _open(self, db: Database, ref: str) -> Incident:
        inc = repo.find_incident(db, ref)
        if inc.status is IncidentStatus.CLOSED:
            raise UserError(
                f"{inc.code} is closed (at {wall(inc.closed_at, self.ctx):%Y-%m-%d %H:%M %Z}): "
                "nothing can change "
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
        self, db: Database, inc: Incident, person: Person, kind: str, purpose: Purpose
    ) -> AlertDraft:
        return AlertDraft(
            to_number=person.mobile,
            channel=Channel.SMS,
            purpose=purpose,
            body=messages.sms(kind, inc, person, self.ctx.settings, db),
            incident_id=inc.id,
            person_id=person.id,
        )

    def _bridge_draft(
        self, db: Database, inc: Incident, person: Person, p: Participant, purpose: Purpose
    ) -> AlertDraft:
        return AlertDraft(
            to_number=person.mobile,
            channel=Channel.BRIDGE,
            purpose=purpose,
            body=messages.bridge(inc, person, self.ctx.settings, db, participant_label(p.id)),
            incident_id=inc.id,
            person_id=person.id,
        )

    def _call_channel(self, db: Database, inc: Incident) -> str:
        """How an incident's escalations call and page: onto its bridge when it was paged
        onto one (and the bridge is still Twilio's), else as before."""
        if self.ctx.settings.bridge.twilio and bridge_repo.has_bridge_calls(db, inc.id):
            return "bridge"
        return "voice"

    def _escalation_call(
        self, db: Database, inc: Incident, person: Person, p: Participant, purpose: Purpose
    ) -> AlertDraft:
        if self._call_channel(db, inc) == "bridge":
            return self._bridge_draft(db, inc, person, p, purpose)
        return self._voice(db, inc, person, purpose)

    def _voice(self, db: Database, inc: Incident, person: Person, purpose: Purpose) -> AlertDraft:
        return AlertDraft(
            to_number=person.mobile,
            channel=Channel.VOICE,
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
