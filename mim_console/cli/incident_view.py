"""What the incident commands print: an incident, a roll call and an event as JSON, and the
roll call as Rich renderables (`status`, `watch`), every stored text shown literally."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from mim_console.cli.output import literal
from mim_console.domain.bridge import BridgeState, Presence
from mim_console.domain.incident import Event, Incident, Role
from mim_console.services.incidents import RollCall
from mim_console.services.timezone import times_label, wall


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def incident_json(inc: Incident) -> dict[str, Any]:
    return {
        "code": inc.code,
        "reply_code": inc.reply_code,
        "title": inc.title,
        "description": inc.description,
        "severity": inc.severity,
        "categories": list(inc.categories),
        "exercise": inc.exercise,
        "status": inc.status.value,
        "declared_at": _iso(inc.declared_at),
        "declared_by": inc.declared_by,
        "restored_at": _iso(inc.restored_at),
        "closed_at": _iso(inc.closed_at),
        "problem_ref": inc.problem_ref,
        "problem_owner": inc.problem_owner,
        "spokesperson_id": inc.spokesperson_id,
        "next_status_at": _iso(inc.next_status_at),
    }


def roll_call_json(rc: RollCall, now: datetime) -> dict[str, Any]:
    return {
        "incident": incident_json(rc.incident),
        "quorum": {
            "reached": rc.quorum.reached,
            "parties": [
                {"id": pid, "name": rc.party_names.get(pid, ""), "quorum": ok}
                for pid, ok in rc.quorum.parties.items()
            ],
        },
        "spokesperson": None
        if rc.spokesperson is None
        else {"id": rc.spokesperson.id, "name": rc.spokesperson.name},
        "next_status_at": _iso(rc.incident.next_status_at),
        "status_due": rc.status_due(now),
        "participants": [
            {
                "person_id": s.person.id,
                "name": s.person.name,
                "role": s.participant.role.value,
                "unit": s.unit,
                "party_id": s.participant.party_id,
                "group_id": s.participant.group_id,
                "state": s.participant.state.value,
                "decision_authority": s.person.decision_authority,
                "deputy_for": s.deputy_for,
                "alerted_at": _iso(s.participant.alerted_at),
                "joined_at": _iso(s.participant.joined_at),
                "standby_since": _iso(s.participant.standby_since),
                "state_changed_at": _iso(s.participant.state_changed_at),
                "escalation_step": s.participant.escalation_step,
                "next_step": s.next_step.kind.value if s.next_step else None,
                "next_step_at": _iso(s.next_step.at) if s.next_step else None,
                "bridge": bridge_json(rc.bridge.presence.get(s.participant.id)),
            }
            for s in rc.seats
        ],
    }


def bridge_json(presence: Presence | None) -> dict[str, Any]:
    """On the incident's Twilio bridge: connected or left since when, muted; state null when
    never on it (or only a voicemail box answered: the participant's state says so)."""
    on = presence is not None and presence.state in (BridgeState.CONNECTED, BridgeState.LEFT)
    return {
        "state": presence.state.value if on and presence and presence.state else None,
        "since": _iso(presence.since) if on and presence else None,
        "muted": bool(on and presence and presence.muted),
    }


def event_json(e: Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": _iso(e.at),
        "actor": e.actor,
        "kind": e.kind,
        "person_id": e.person_id,
        "text": e.text,
        "data": dict(e.data),
    }


def hhmm(moment: datetime | None) -> str:
    return "" if moment is None else local_time(moment).strftime("%H:%M")


def local_time(moment: datetime) -> datetime:
    """Stored UTC, shown on the organisation's wall clock (services/timezone.py)."""
    return wall(moment)


_ROLE_SHORT = {Role.DUTY_MANAGER: "DM", Role.MRT: "MRT", Role.SPECIALIST: "spec"}


def roll_call_renderable(
    rc: RollCall,
    now: datetime,
    recent: Sequence[Event] = (),
    *,
    phones: bool = False,
    banner: Text | None = None,
) -> Group:
    """The roll call as Rich renderables; every stored text shown literally."""
    inc = rc.incident
    head = Text()
    if inc.exercise:
        head.append("EXERCISE ", style="bold reverse")
    head.append(f"{inc.code} ", style="bold")
    head.append_text(literal(f"[{inc.reply_code}] {inc.severity} {inc.title}"))
    declared = f"{local_time(inc.declared_at):%Y-%m-%d %H:%M}"
    head.append(f"  ({inc.status.value}, declared {declared}, {times_label()})")
    q = Text("Quorum: ")
    q.append(
        "REACHED" if rc.quorum.reached else "not yet", style="bold" if rc.quorum.reached else ""
    )
    for pid, ok in rc.quorum.parties.items():
        q.append("  ")
        q.append_text(literal(rc.party_names.get(pid, str(pid))))
        q.append(" ✓" if ok else " ✗")
    spoke = Text("Spokesperson: ")
    spoke.append_text(literal(rc.spokesperson.name if rc.spokesperson else "-"))
    if inc.next_status_at:
        spoke.append(f"   next status {local_time(inc.next_status_at):%H:%M}")
        if rc.status_due(now):
            spoke.append(" (due)", style="bold")
    table = Table(show_lines=False, title_justify="left")
    columns = ["person", "role", "party/group", "state", "since", "joined", "note"]
    if phones:
        columns.insert(1, "mobile")
    for col in columns:
        table.add_column(col, no_wrap=col not in ("note", "party/group"))
    for s in rc.seats:
        p = s.participant
        note = f"deputy for {s.deputy_for}" if s.deputy_for else ""
        if p.role is Role.MRT and s.person.decision_authority:
            note = ("auth " + note).strip()
        cells: list[Any] = [
            literal(s.person.name),
            _ROLE_SHORT[p.role],
            literal(s.unit),
            p.state.value.replace("_", " "),
            hhmm(p.state_changed_at),
            hhmm(p.joined_at),
            literal(note),
        ]
        if phones:
            cells.insert(1, literal(s.person.mobile))
        table.add_row(*cells)
    parts: list[Any] = [*([banner] if banner is not None else []), head, q, spoke, table]
    if rc.standby:
        sb = Text("On standby: ")
        sb.append_text(
            literal(
                ", ".join(
                    f"{s.person.name} since {hhmm(s.participant.standby_since)}" for s in rc.standby
                )
            )
        )
        parts.append(sb)
    for e in recent:
        line = Text(f"{local_time(e.at):%H:%M:%S} ")
        line.append_text(literal(f"{e.actor}: {e.text}"))
        parts.append(line)
    return Group(*parts)
