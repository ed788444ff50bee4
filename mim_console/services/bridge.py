"""The incident's own bridge, on the services' side: what the presence poll watches, what a
sighting means for the roll call, and the duty manager's controls (call me onto the bridge,
mute or unmute, remove someone).

A sighting is applied in one transaction: each join, leave and mute is a timeline event (kind
``bridge``) and updates ``bridge_presence``; someone connected at least ``[bridge]
joined_after_s`` counts as joined; a call a voicemail box answered is not a join (state
``voicemail``: the deputy is paged, as for an unable answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlite_utils import Database

from mim_console.data import bridge as bridge_repo
from mim_console.data import incidents as repo
from mim_console.data.outbox import enqueue
from mim_console.domain.alerts import Purpose
from mim_console.domain.bridge import (
    BridgeState,
    Change,
    OnBridge,
    Presence,
    compare,
    conference_name,
    counts_as_joined,
    is_machine,
    participant_of_label,
    voicemail_twiml,
)
from mim_console.domain.incident import (
    Incident,
    IncidentStatus,
    Participant,
    Role,
    State,
    can_move,
)
from mim_console.domain.people import Person
from mim_console.errors import UserError
from mim_console.notifiers.base import SendError
from mim_console.notifiers.bridge import Sighting, Watch
from mim_console.services.escalation import Escalation

if TYPE_CHECKING:
    from mim_console.notifiers.twilio import TwilioNotifier as _Client

ACTOR = "bridge"
IN_PROGRESS = ("in-progress",)
T = TypeVar("T")


@dataclass(frozen=True)
class BridgeView:
    """What the roll call shows of the bridge."""

    enabled: bool
    presence: Mapping[int, Presence] = field(default_factory=dict)  # participant id -> …
    queue: Sequence[int] = ()  # person ids whose bridge call waits to be placed, in order
    calls_per_second: float = 1.0

    @property
    def on_bridge(self) -> int:
        return sum(1 for p in self.presence.values() if p.state is BridgeState.CONNECTED)


class BridgeSide(Escalation):
    # --- the presence poll's receiver -----------------------------------------------------

    def watches(self) -> Sequence[Watch]:
        """The bridges to poll now: open incidents where someone is expected on the bridge."""
        if not self.ctx.settings.bridge.twilio:
            return []
        found = []
        with self.store.read() as db:
            for incident_id, code, exercise in bridge_repo.watched_incidents(db):
                calls = bridge_repo.bridge_calls(db, incident_id)
                check = tuple(
                    c.provider_sid for c in calls if c.provider_sid and c.status in IN_PROGRESS
                )
                found.append(
                    Watch(
                        incident_id=incident_id,
                        conference=conference_name(code, exercise),
                        check_calls=check,
                        voicemail_twiml=voicemail_twiml(code, exercise),
                    )
                )
        return found

    def sighted(self, sighting: Sighting) -> None:
        """Record what one poll saw of an incident's bridge (one transaction)."""
        now = sighting.at
        with self.store.write() as db:
            inc = repo.incident_by_id(db, sighting.incident_id)
            if inc.status is IncidentStatus.CLOSED:
                return
            parts = {p.id: p for p in repo.participants(db, inc.id)}
            by_sid = {
                c.provider_sid: c.participant_id
                for c in bridge_repo.bridge_calls(db, inc.id)
                if c.provider_sid and c.participant_id is not None
            }
            machines = {sid for sid, info in sighting.calls.items() if is_machine(info.answered_by)}
            seen = self._match(db, inc, sighting, parts, by_sid, machines)
            before = bridge_repo.presences(db, inc.id)
            for change in compare(before, seen, now):
                self._record(db, inc, parts[change.participant_id], change, before, seen)
            for sid in sorted(machines):
                pid = by_sid.get(sid)
                if pid is not None and pid in parts:
                    self._voicemail(db, inc, parts[pid], sid, before.get(pid), now)
            threshold = self.ctx.settings.bridge.joined_after_s
            for pid, presence in bridge_repo.presences(db, inc.id).items():
                p = repo.participant_by_id(db, pid)
                if counts_as_joined(presence, now, threshold) and can_move(p.state, State.JOINED):
                    person = self.directory.person(p.person_id)
                    self._move(
                        db, inc, p, person, State.JOINED, now, via="on the bridge", actor=ACTOR
                    )

    def _match(
        self,
        db: Database,
        inc: Incident,
        sighting: Sighting,
        parts: Mapping[int, Participant],
        by_sid: Mapping[str, int],
        machines: set[str],
    ) -> dict[int, OnBridge]:
        """Participant id -> their entry on the bridge: by label, by the call we placed, or by
        the caller's number (someone who dialled in). Voicemail boxes are nobody."""
        callers = {
            sid: info.from_number if info.direction.startswith("inbound") else info.to_number
            for sid, info in sighting.calls.items()
        }
        numbers = bridge_repo.participants_by_number(db, inc.id, callers.values())
        seen: dict[int, OnBridge] = {}
        for entry in sighting.participants:
            if entry.call_sid in machines:
                continue
            pid = participant_of_label(entry.label)
            if pid not in parts:
                pid = by_sid.get(entry.call_sid)
            if pid is None and entry.call_sid in callers:
                pid = numbers.get(callers[entry.call_sid])
            if pid is not None and pid not in seen:
                seen[pid] = entry
        return seen

    def _record(
        self,
        db: Database,
        inc: Incident,
        p: Participant,
        change: Change,
        before: Mapping[int, Presence],
        seen: Mapping[int, OnBridge],
    ) -> None:
        person = self.directory.person(p.person_id)
        known = before.get(p.id) or Presence(p.id, None, None)
        now = change.at
        if change.kind == "joined":
            entry = seen[p.id]
            since = min(entry.since or now, now)
            after = Presence(
                p.id,
                BridgeState.CONNECTED,
                since,
                muted=entry.muted,
                call_sid=entry.call_sid,
                connected_s=known.connected_s,
                joins=known.joins + 1,
            )
            text = f"{person.name} on the bridge" + (" again" if known.joins else "")
            bridge_repo.save_presence(db, inc.id, after, first_at=since)
        elif change.kind == "left":
            after = Presence(
                p.id,
                BridgeState.LEFT,
                now,
                call_sid=known.call_sid,
                connected_s=known.connected_s + change.stay_s,
                joins=known.joins,
            )
            text = f"{person.name} left the bridge (after {duration_words(change.stay_s)})"
            bridge_repo.save_presence(db, inc.id, after)
        else:
            after = replace(known, muted=change.kind == "muted")
            text = f"{person.name} {change.kind} on the bridge"
            bridge_repo.save_presence(db, inc.id, after)
        repo.append_event(
            db,
            incident_id=inc.id,
            at=now,
            actor=ACTOR,
            kind="bridge",
            person_id=person.id,
            text=text,
            data={
                "participant": p.id,
                "change": change.kind,
                "call_sid": change.call_sid,
                "stay_s": round(change.stay_s, 1),
            },
        )

    def _voicemail(
        self,
        db: Database,
        inc: Incident,
        p: Participant,
        sid: str,
        known: Presence | None,
        now: datetime,
    ) -> None:
        if known is not None and known.call_sid == sid and known.state is BridgeState.VOICEMAIL:
            return  # already recorded
        if known is not None and known.state is BridgeState.CONNECTED:
            return  # on the bridge by another call: this box is beside the point
        person = self.directory.person(p.person_id)
        previous = known or Presence(p.id, None, None)
        bridge_repo.save_presence(
            db,
            inc.id,
            Presence(
                p.id,
                BridgeState.VOICEMAIL,
                now,
                call_sid=sid,
                connected_s=previous.connected_s,
                joins=previous.joins,
            ),
        )
        repo.append_event(
            db,
            incident_id=inc.id,
            at=now,
            actor=ACTOR,
            kind="bridge",
            person_id=person.id,
            text=f"a voicemail box answered {person.name}'s bridge call: it got a short message",
            data={"participant": p.id, "change": "voicemail", "call_sid": sid},
        )
        if can_move(p.state, State.VOICEMAIL):
            self._move(db, inc, p, person, State.VOICEMAIL, now, via="bridge call", actor=ACTOR)

    # --- what the roll call shows ----------------------------------------------------------

    def bridge_view(self, incident_id: int) -> BridgeView:
        if not self.ctx.settings.bridge.twilio:
            return BridgeView(enabled=False)
        with self.store.read() as db:
            return BridgeView(
                enabled=True,
                presence=bridge_repo.presences(db, incident_id),
                queue=tuple(bridge_repo.queued_bridge_calls(db, incident_id)),
                calls_per_second=self.ctx.settings.twilio.calls_per_second,
            )

    # --- the duty manager's controls -------------------------------------------------------

    def call_me(self, ref: str) -> str:
        """Call the incident's duty manager onto the bridge (their own phone)."""
        self._need_bridge()
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = self._open(db, ref)
            manager = next(
                (p for p in repo.participants(db, inc.id) if p.role is Role.DUTY_MANAGER), None
            )
            if manager is None:
                raise UserError(f"{inc.code} has no duty manager in its roll call to call")
            person = self.directory.person(manager.person_id)
            enqueue(db, [self._bridge_draft(db, inc, person, manager, Purpose.ALERT)], now)
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="bridge",
                person_id=person.id,
                text=f"bridge call for {person.name} (the duty manager) queued",
                data={"participant": manager.id, "change": "call_me"},
            )
        return f"calling {person.name} onto the bridge"

    def set_muted(self, ref: str, person_ref: str, muted: bool) -> str:
        """Mute or unmute someone on the bridge."""
        inc, p, person, presence = self._on_bridge(ref, person_ref)
        sid = presence.call_sid or ""
        name = conference_name(inc.code, inc.exercise)

        async def act(client: _Client) -> None:
            conference = await client.find_conference(name)
            if conference is None:
                raise UserError(f"nobody is on {inc.code}'s bridge now")
            await client.update_participant(conference.sid, sid, muted=muted)

        self._twilio(act)
        now = self.ctx.clock()
        word = "muted" if muted else "unmuted"
        with self.store.write() as db:
            bridge_repo.save_presence(db, inc.id, replace(presence, muted=muted))
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="bridge",
                person_id=person.id,
                text=f"{person.name} {word} on the bridge by the duty manager",
                data={"participant": p.id, "change": word, "call_sid": sid},
            )
        return f"{person.name} {word}"

    def remove_from_bridge(self, ref: str, person_ref: str) -> str:
        """Take someone off the bridge (their call ends; the next poll records the leave)."""
        inc, p, person, presence = self._on_bridge(ref, person_ref)
        sid = presence.call_sid or ""
        name = conference_name(inc.code, inc.exercise)

        async def act(client: _Client) -> None:
            conference = await client.find_conference(name)
            if conference is None:
                raise UserError(f"nobody is on {inc.code}'s bridge now")
            await client.remove_participant(conference.sid, sid)

        self._twilio(act)
        with self.store.write() as db:
            repo.append_event(
                db,
                incident_id=inc.id,
                at=self.ctx.clock(),
                actor=self.ctx.actor,
                kind="bridge",
                person_id=person.id,
                text=f"{person.name} removed from the bridge by the duty manager",
                data={"participant": p.id, "change": "removed", "call_sid": sid},
            )
        return f"{person.name} removed from the bridge"

    def _need_bridge(self) -> None:
        if not self.ctx.settings.bridge.twilio:
            raise UserError(
                'the incident bridge needs [bridge] mode = "twilio" in the config file '
                "(docs/twilio.md)"
            )

    def _on_bridge(
        self, ref: str, person_ref: str
    ) -> tuple[Incident, Participant, Person, Presence]:
        self._need_bridge()
        person = self.directory.find_person(person_ref)
        with self.store.read() as db:
            inc = self._open(db, ref)
            p = self._participant(db, inc, person)
            presence = bridge_repo.presences(db, inc.id).get(p.id)
        if presence is None or presence.state is not BridgeState.CONNECTED:
            raise UserError(f"{person.name} is not on {inc.code}'s bridge")
        return inc, p, person, presence

    def _twilio(self, act: Callable[[_Client], Awaitable[T]]) -> T:
        """One short exchange with Twilio from a worker thread or the CLI."""
        from mim_console.notifiers.twilio import TwilioNotifier

        async def run() -> T:
            client = TwilioNotifier(self.ctx.settings.twilio)
            try:
                return await act(client)
            finally:
                await client.aclose()

        try:
            return asyncio.run(run())
        except SendError as exc:
            raise UserError(f"Twilio did not do it: {exc}") from None


def duration_words(seconds: float) -> str:
    """``45 s``, ``4 min``, ``1 h 05 min``: how long a stay on the bridge lasted."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
