"""The incident bridge's records: who is on it (``bridge_presence``) and the bridge calls the
presence poll needs to know about (``alert`` rows of channel ``bridge``).

Statements only; the service decides (``services/bridge.py``), in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from mim_console.clock import from_iso, to_iso
from mim_console.domain.alerts import FINAL_STATUSES
from mim_console.domain.bridge import BridgeState, Presence


@dataclass(frozen=True)
class BridgeCall:
    """One bridge alert of an incident, with the participant it is for."""

    alert_id: int
    participant_id: int | None
    person_id: int | None
    to_number: str
    status: str
    provider_sid: str | None
    created_at: datetime


def _presence(row: tuple[object, ...]) -> Presence:
    return Presence(
        participant_id=int(row[0]),  # type: ignore[call-overload]
        state=BridgeState(str(row[1])),
        since=from_iso(str(row[2])),
        muted=bool(row[3]),
        call_sid=str(row[4]) if row[4] else None,
        connected_s=float(row[5]),  # type: ignore[arg-type]
        joins=int(row[6]),  # type: ignore[call-overload]
    )


_COLUMNS = "participant_id, state, since, muted, call_sid, connected_s, joins"


def presences(db: Database, incident_id: int) -> dict[int, Presence]:
    """Participant id -> their bridge presence, for everyone the bridge has seen."""
    rows = db.conn.execute(
        f"SELECT {_COLUMNS} FROM bridge_presence WHERE incident_id = ?", [incident_id]
    ).fetchall()
    return {int(r[0]): _presence(r) for r in rows}


def save_presence(
    db: Database, incident_id: int, presence: Presence, first_at: datetime | None = None
) -> None:
    """Insert or replace one participant's presence (``first_at`` kept once set)."""
    assert presence.state is not None and presence.since is not None
    db.execute(
        "INSERT INTO bridge_presence (participant_id, incident_id, state, since, muted, "
        "call_sid, connected_s, joins, first_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (participant_id) DO UPDATE SET state = excluded.state, "
        "since = excluded.since, muted = excluded.muted, call_sid = excluded.call_sid, "
        "connected_s = excluded.connected_s, joins = excluded.joins, "
        "first_at = COALESCE(bridge_presence.first_at, excluded.first_at)",
        [
            presence.participant_id,
            incident_id,
            presence.state.value,
            to_iso(presence.since),
            int(presence.muted),
            presence.call_sid,
            presence.connected_s,
            presence.joins,
            to_iso(first_at) if first_at else None,
        ],
    )


def bridge_calls(db: Database, incident_id: int) -> list[BridgeCall]:
    """The incident's bridge alerts, oldest first, each with its participant."""
    rows = db.conn.execute(
        "SELECT a.id, pt.id, a.person_id, a.to_number, a.status, a.provider_sid, a.created_at "
        "FROM alert a LEFT JOIN participant pt "
        "ON pt.incident_id = a.incident_id AND pt.person_id = a.person_id "
        "WHERE a.incident_id = ? AND a.channel = 'bridge' ORDER BY a.id",
        [incident_id],
    ).fetchall()
    return [
        BridgeCall(
            alert_id=int(r[0]),
            participant_id=int(r[1]) if r[1] is not None else None,
            person_id=int(r[2]) if r[2] is not None else None,
            to_number=str(r[3]),
            status=str(r[4]),
            provider_sid=str(r[5]) if r[5] else None,
            created_at=from_iso(r[6]),
        )
        for r in rows
    ]


def watched_incidents(db: Database) -> list[tuple[int, str, bool]]:
    """Open incidents whose bridge someone is expected on: a bridge call not yet final, or
    someone connected at the last poll. (id, code, exercise)."""
    finals = sorted(FINAL_STATUSES | {"failed"})
    marks = ",".join("?" * len(finals))
    rows = db.conn.execute(
        "SELECT i.id, i.code, i.exercise FROM incident i WHERE i.status != 'closed' AND ("
        " EXISTS (SELECT 1 FROM alert a WHERE a.incident_id = i.id AND a.channel = 'bridge'"
        f"   AND a.status NOT IN ({marks}))"
        " OR EXISTS (SELECT 1 FROM bridge_presence b WHERE b.incident_id = i.id"
        "   AND b.state = 'connected')) ORDER BY i.id",
        finals,
    ).fetchall()
    return [(int(r[0]), str(r[1]), bool(r[2])) for r in rows]


def has_bridge_calls(db: Database, incident_id: int) -> bool:
    """Whether the incident was paged onto the bridge (its escalations then call onto it too)."""
    row = db.conn.execute(
        "SELECT 1 FROM alert WHERE incident_id = ? AND channel = 'bridge' LIMIT 1", [incident_id]
    ).fetchone()
    return row is not None


def queued_bridge_calls(db: Database, incident_id: int) -> list[int]:
    """Person ids whose bridge call is still waiting to be placed, in the order they go."""
    rows = db.conn.execute(
        "SELECT person_id FROM alert WHERE incident_id = ? AND channel = 'bridge' "
        "AND status IN ('queued', 'sending') AND provider_sid IS NULL "
        "ORDER BY next_attempt_at, id",
        [incident_id],
    ).fetchall()
    return [int(r[0]) for r in rows if r[0] is not None]


def participants_by_number(
    db: Database, incident_id: int, numbers: Iterable[str]
) -> dict[str, int]:
    """Phone number -> participant id, for the incident's people (a dial-in is matched so)."""
    wanted = [n for n in dict.fromkeys(numbers) if n]
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    rows = db.conn.execute(
        "SELECT pe.mobile, pe.phone2, pt.id FROM participant pt JOIN person pe "
        f"ON pe.id = pt.person_id WHERE pt.incident_id = ? AND (pe.mobile IN ({marks}) "
        f"OR pe.phone2 IN ({marks}))",
        [incident_id, *wanted, *wanted],
    ).fetchall()
    found: dict[str, int] = {}
    for mobile, phone2, participant_id in rows:
        for number in (mobile, phone2):
            if number in wanted:
                found.setdefault(str(number), int(participant_id))
    return found
