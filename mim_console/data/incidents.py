"""Incidents, participants and the timeline: rows in, domain dataclasses out.

Every function takes the ``Database`` of a ``store.read()`` / ``store.write()`` block, so the
service can put a state change, its timeline event and its alerts in one transaction. The event
table is append-only: the database's triggers refuse UPDATE and DELETE on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from mim_console.clock import from_iso, to_iso
from mim_console.data import timeline
from mim_console.data.store import as_row_id
from mim_console.domain.alerts import PAGES_SQL
from mim_console.domain.incident import (
    STEP_RULES,
    Event,
    Incident,
    IncidentStatus,
    Participant,
    Role,
    State,
)
from mim_console.domain.report import Move
from mim_console.errors import NotFound


def _dt(value: Any) -> datetime | None:
    return None if value is None else from_iso(str(value))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else to_iso(value)


def _incident(row: Mapping[str, Any]) -> Incident:
    return Incident(
        id=row["id"],
        code=row["code"],
        reply_code=row["reply_code"],
        title=row["title"],
        severity=row["severity"],
        declared_at=from_iso(row["declared_at"]),
        description=row["description"],
        categories=tuple(json.loads(row["categories"] or "[]")),
        exercise=bool(row["exercise"]),
        status=IncidentStatus(row["status"]),
        declared_by=row["declared_by"],
        restored_at=_dt(row["restored_at"]),
        closed_at=_dt(row["closed_at"]),
        problem_ref=row["problem_ref"],
        problem_owner=row["problem_owner"],
        problem_summary=row["problem_summary"],
        spokesperson_id=row["spokesperson_id"],
        next_status_at=_dt(row["next_status_at"]),
        next_update_at=_dt(row["next_update_at"]),
        went_well=row["went_well"],
        to_improve=row["to_improve"],
    )


def _participant(row: Mapping[str, Any]) -> Participant:
    return Participant(
        id=row["id"],
        incident_id=row["incident_id"],
        person_id=row["person_id"],
        role=Role(row["role"]),
        state=State(row["state"]),
        state_changed_at=from_iso(row["state_changed_at"]),
        party_id=row["party_id"],
        group_id=row["group_id"],
        deputy_for=row["deputy_for"],
        alerted_at=_dt(row["alerted_at"]),
        joined_at=_dt(row["joined_at"]),
        standby_since=_dt(row["standby_since"]),
        escalation_step=row["escalation_step"],
    )


def _event(row: Mapping[str, Any]) -> Event:
    return Event(
        id=row["id"],
        incident_id=row["incident_id"],
        at=from_iso(row["at"]),
        actor=row["actor"],
        kind=row["kind"],
        text=row["text"],
        person_id=row["person_id"],
        data=json.loads(row["data"] or "{}"),
    )


def _rows(db: Database, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in db.query(sql, params)]


# --- incidents ----------------------------------------------------------------------------


def insert_incident(
    db: Database,
    *,
    code: str,
    reply_code: str,
    title: str,
    description: str,
    severity: str,
    categories: tuple[str, ...],
    exercise: bool,
    declared_at: datetime,
    declared_by: str,
) -> Incident:
    cursor = db.execute(
        "INSERT INTO incident (code, reply_code, title, description, severity, categories, "
        "exercise, status, declared_at, declared_by) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
        [
            code,
            reply_code,
            title,
            description,
            severity,
            json.dumps(list(categories), ensure_ascii=False),
            int(exercise),
            to_iso(declared_at),
            declared_by,
        ],
    )
    return incident_by_id(db, int(cursor.lastrowid or 0))


def incident_by_id(db: Database, incident_id: int) -> Incident:
    rows = _rows(db, "SELECT * FROM incident WHERE id = ?", [incident_id])
    if not rows:
        raise NotFound(f"no incident with id {incident_id}")
    return _incident(rows[0])


def find_incident(db: Database, ref: str) -> Incident:
    """By code (``MI-2026-007``, any case), reply code of an open incident, or numeric id."""
    text = ref.strip()
    rows = _rows(db, "SELECT * FROM incident WHERE code = ? COLLATE NOCASE", [text])
    if not rows:
        rows = _rows(
            db,
            "SELECT * FROM incident WHERE reply_code = ? COLLATE NOCASE AND status != 'closed'",
            [text],
        )
    if not rows and as_row_id(text) is not None:
        rows = _rows(db, "SELECT * FROM incident WHERE id = ?", [as_row_id(text)])
    if not rows:
        raise NotFound(
            f'no incident "{text}": give its code (e.g. MI-2026-007); '
            "`mim-console incidents --all` lists them"
        )
    return _incident(rows[0])


def list_incidents(db: Database, *, include_closed: bool = False) -> list[Incident]:
    where = "" if include_closed else "WHERE status != 'closed'"
    return [
        _incident(r)
        for r in _rows(db, f"SELECT * FROM incident {where} ORDER BY declared_at DESC, id DESC")
    ]


def closed_since(db: Database, since: datetime) -> list[Incident]:
    """Incidents closed at or after ``since``, the latest close first."""
    rows = _rows(
        db,
        "SELECT * FROM incident WHERE status = 'closed' AND closed_at >= ? "
        "ORDER BY closed_at DESC, id DESC",
        [to_iso(since)],
    )
    return [_incident(r) for r in rows]


def all_codes(db: Database) -> list[str]:
    return [r["code"] for r in _rows(db, "SELECT code FROM incident")]


def open_reply_codes(db: Database) -> list[str]:
    return [
        r["reply_code"]
        for r in _rows(db, "SELECT reply_code FROM incident WHERE status != 'closed'")
    ]


_INCIDENT_FIELDS = {
    "title",
    "severity",
    "description",
    "categories",
    "status",
    "restored_at",
    "closed_at",
    "problem_ref",
    "problem_owner",
    "problem_summary",
    "spokesperson_id",
    "next_status_at",
    "next_update_at",
    "went_well",
    "to_improve",
}


def update_incident(db: Database, incident_id: int, **changes: Any) -> Incident:
    unknown = set(changes) - _INCIDENT_FIELDS
    if unknown:
        raise ValueError(f"not an incident field: {', '.join(sorted(unknown))}")
    values = {
        k: (_iso(v) if isinstance(v, datetime) else v.value if isinstance(v, IncidentStatus) else v)
        for k, v in changes.items()
    }
    if "categories" in changes:  # stored as a JSON list, as insert_incident writes it
        values["categories"] = json.dumps(list(changes["categories"]), ensure_ascii=False)
    if values:
        assignments = ", ".join(f"{k} = ?" for k in values)
        db.execute(
            f"UPDATE incident SET {assignments} WHERE id = ?", [*values.values(), incident_id]
        )
    return incident_by_id(db, incident_id)


# --- participants -------------------------------------------------------------------------


def insert_participant(
    db: Database,
    *,
    incident_id: int,
    person_id: int,
    role: Role,
    now: datetime,
    party_id: int | None = None,
    group_id: int | None = None,
    deputy_for: int | None = None,
) -> Participant:
    cursor = db.execute(
        "INSERT INTO participant (incident_id, person_id, role, party_id, group_id, state, "
        "deputy_for, alerted_at, state_changed_at, escalation_step) "
        "VALUES (?, ?, ?, ?, ?, 'alerted', ?, ?, ?, 0)",
        [
            incident_id,
            person_id,
            role.value,
            party_id,
            group_id,
            deputy_for,
            to_iso(now),
            to_iso(now),
        ],
    )
    return participant_by_id(db, int(cursor.lastrowid or 0))


def participant_by_id(db: Database, participant_id: int) -> Participant:
    rows = _rows(db, "SELECT * FROM participant WHERE id = ?", [participant_id])
    if not rows:
        raise NotFound(f"no participant with id {participant_id}")
    return _participant(rows[0])


def participants(db: Database, incident_id: int) -> list[Participant]:
    return [
        _participant(r)
        for r in _rows(
            db, "SELECT * FROM participant WHERE incident_id = ? ORDER BY id", [incident_id]
        )
    ]


# The states an escalation timer acts on (the domain's rules say which): the tick reads only these.
_TIMED = tuple(state.value for state in STEP_RULES)
_TIMED_IN = ", ".join("?" for _ in _TIMED)


# A participant whose every page since they were last alerted was cancelled by hand: no timer
# acts on them (the duty manager cancelled for a reason; `e` still escalates by hand).
_SINCE = (
    "a.incident_id = p.incident_id AND a.person_id = p.person_id AND a.created_at >= "
    "COALESCE(p.alerted_at, '')"
)
_HELD = (
    f"EXISTS (SELECT 1 FROM alert a WHERE {_SINCE} AND {PAGES_SQL} AND a.status = 'cancelled') "
    f"AND NOT EXISTS (SELECT 1 FROM alert a WHERE {_SINCE} AND {PAGES_SQL} "
    "AND a.status != 'cancelled')"
)


def awaiting_answer(db: Database, incident_id: int) -> list[Participant]:
    """Participants an escalation timer may act on (the tick reads only these): not those whose
    pages were all cancelled (``held_by_cancel``)."""
    return [
        _participant(r)
        for r in _rows(
            db,
            "SELECT * FROM participant p WHERE incident_id = ? "
            f"AND state IN ({_TIMED_IN}) AND escalation_step < 2 AND NOT ({_HELD}) ORDER BY id",
            [incident_id, *_TIMED],
        )
    ]


def held_by_cancel(db: Database, incident_id: int) -> set[int]:
    """Participants whose every page since they were last alerted was cancelled: no timer
    escalates them (the roll call says so)."""
    return {
        int(r["id"])
        for r in _rows(
            db, f"SELECT p.id FROM participant p WHERE p.incident_id = ? AND {_HELD}", [incident_id]
        )
    }


def person_ids_in(db: Database, incident_id: int) -> set[int]:
    """Everyone already in the incident's roll call (a deputy is never paged twice)."""
    return {
        int(r["person_id"])
        for r in _rows(db, "SELECT person_id FROM participant WHERE incident_id = ?", [incident_id])
    }


def participant_for(db: Database, incident_id: int, person_id: int) -> Participant | None:
    rows = _rows(
        db,
        "SELECT * FROM participant WHERE incident_id = ? AND person_id = ?",
        [incident_id, person_id],
    )
    return _participant(rows[0]) if rows else None


def save_participant(db: Database, p: Participant) -> None:
    db.execute(
        "UPDATE participant SET state = ?, state_changed_at = ?, alerted_at = ?, joined_at = ?, "
        "standby_since = ?, escalation_step = ? WHERE id = ?",
        [
            p.state.value,
            to_iso(p.state_changed_at),
            _iso(p.alerted_at),
            _iso(p.joined_at),
            _iso(p.standby_since),
            p.escalation_step,
            p.id,
        ],
    )


def active_incidents_with_open_roll_call(db: Database) -> list[int]:
    """Incidents whose escalation timers may still have something to do."""
    return [
        r["incident_id"]
        for r in _rows(
            db,
            "SELECT DISTINCT p.incident_id FROM participant p JOIN incident i "
            "ON i.id = p.incident_id WHERE i.status = 'active' "
            f"AND p.state IN ({_TIMED_IN}) AND p.escalation_step < 2",
            list(_TIMED),
        )
    ]


# --- timeline -----------------------------------------------------------------------------


def append_event(
    db: Database,
    *,
    incident_id: int | None,
    at: datetime,
    actor: str,
    kind: str,
    text: str = "",
    person_id: int | None = None,
    data: Mapping[str, Any] | None = None,
) -> int:
    values = [
        incident_id,
        to_iso(at),
        actor,
        kind,
        person_id,
        text,
        json.dumps(dict(data or {}), ensure_ascii=False, default=str),
    ]
    prev_hash, digest = timeline.link(db, incident_id, values)  # the hash chain
    cursor = db.execute(
        "INSERT INTO event (incident_id, at, actor, kind, person_id, text, data, prev_hash, "
        "hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [*values, prev_hash, digest],
    )
    return int(cursor.lastrowid or 0)


def events(db: Database, incident_id: int) -> list[Event]:
    return [
        _event(r)
        for r in _rows(
            db, "SELECT * FROM event WHERE incident_id = ? ORDER BY at, id", [incident_id]
        )
    ]


def active_reply_codes(db: Database) -> list[tuple[int, str]]:
    """(incident id, reply code) of every active incident: what a reply may name."""
    return [
        (int(r[0]), str(r[1]))
        for r in db.execute("SELECT id, reply_code FROM incident WHERE status = 'active'")
    ]


def exercise_flags(db: Database, reply_codes: Sequence[str]) -> list[bool]:
    """Whether each active incident named by ``reply_codes`` is a drill."""
    marks = ",".join("?" * len(reply_codes))
    return [
        bool(r[0])
        for r in db.execute(
            f"SELECT exercise FROM incident WHERE status = 'active' AND reply_code IN ({marks})",
            list(reply_codes),
        )
    ]


def decision_makers(db: Database) -> set[int]:
    """Everyone with decision authority: who counts towards an MRT quorum."""
    return {int(r[0]) for r in db.execute("SELECT id FROM person WHERE decision_authority = 1")}


def incident_id_by_code(db: Database, code: str) -> int | None:
    """The incident whose code is exactly ``code`` (any case)."""
    row = db.execute("SELECT id FROM incident WHERE code = ? COLLATE NOCASE", [code]).fetchone()
    return None if row is None else int(row[0])


def latest_event_id(db: Database, incident_id: int) -> int:
    """The newest timeline event of the incident (every state change writes one)."""
    row = db.execute("SELECT max(id) FROM event WHERE incident_id = ?", [incident_id]).fetchone()
    return int(row[0] or 0)


def assembly_inputs(
    db: Database, incident_ids: Sequence[int]
) -> tuple[dict[int, list[Participant]], dict[int, list[Move]], dict[int, list[datetime]]]:
    """What the figures of many incidents need, in three queries (not three per incident):
    participants, state moves (from "alerted" and "state" events) and the moments their
    alerts and escalations left (sent, else queued). For `mim-console stats`."""
    ids = [int(i) for i in incident_ids]
    chosen = "incident_id IN (SELECT value FROM json_each(?))"
    param = [json.dumps(ids)]
    parts: dict[int, list[Participant]] = {i: [] for i in ids}
    moves: dict[int, list[Move]] = {i: [] for i in ids}
    sent: dict[int, list[datetime]] = {i: [] for i in ids}
    cur = db.conn.execute(f"SELECT * FROM participant WHERE {chosen} ORDER BY id", param)
    names = [c[0] for c in cur.description]
    for values in cur:
        row = dict(zip(names, values, strict=True))
        parts[row["incident_id"]].append(_participant(row))
    for incident_id, at, participant, to in db.conn.execute(
        "SELECT incident_id, at, json_extract(data, '$.participant'), json_extract(data, '$.to') "
        f"FROM event WHERE kind IN ('alerted', 'state') AND {chosen} ORDER BY at, id",
        param,
    ):
        if participant is not None and to:
            moves[incident_id].append(Move(from_iso(at), int(participant), State(to)))
    for incident_id, stamp in db.conn.execute(
        "SELECT incident_id, COALESCE(sent_at, created_at) FROM alert "
        f"WHERE purpose IN ('alert', 'escalation') AND {chosen}",
        param,
    ):
        if stamp:
            sent[incident_id].append(from_iso(stamp))
    return parts, moves, sent
