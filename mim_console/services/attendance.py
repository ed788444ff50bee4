"""Who came: the roll call with its latest alert per person, and, for the Duty screen's list,
how many joined each incident and whether it has quorum, without building whole roll calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mim_console.data import incidents as repo
from mim_console.data import outbox
from mim_console.data.outbox import Alert
from mim_console.domain.incident import Incident, Quorum, State, quorum
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService, RollCall


@dataclass(frozen=True)
class Attendance:
    joined: int
    total: int  # participants, whatever their state
    quorum: Quorum


def joined_counts(ctx: Context, incidents: Sequence[Incident]) -> dict[int, Attendance]:
    """Incident id → joined / total and quorum, from the participants and the decision
    authority of the people among them (one directory query for all the incidents)."""
    with ctx.store.read() as db:
        parts = {inc.id: repo.participants(db, inc.id) for inc in incidents}
    wanted = {p.person_id for found in parts.values() for p in found}
    people = ctx.directory().people_by_ids(wanted) if wanted else {}
    authority = {pid for pid, person in people.items() if person.decision_authority}
    return {
        incident_id: Attendance(
            joined=sum(1 for p in found if p.state is State.JOINED),
            total=len(found),
            quorum=quorum(found, authority),
        )
        for incident_id, found in parts.items()
    }


@dataclass(frozen=True)
class RollCallAlerts:
    roll_call: RollCall
    alerts: Sequence[Alert]  # the incident's alerts, oldest first


def roll_call_with_alerts(ctx: Context, ref: str) -> RollCallAlerts:
    """The roll call and its alerts (the screen shows each person's latest delivery)."""
    rc = IncidentService(ctx).roll_call(ref)
    with ctx.store.read() as db:
        alerts = outbox.list_alerts(db, incident_id=rc.incident.id)[::-1]
    return RollCallAlerts(rc, alerts)
