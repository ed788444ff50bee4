"""Contact checks in the database: queued through the outbox, answered from the reply path.

No table of its own: a check is a ``test`` row in the outbox plus a ``contact_check_sent`` event
(incident NULL) carrying its code and number; the answer is a ``contact_verified`` event and the
person's ``verified_at``. The timeline is append-only, so the log of checks is too.
Every function takes the ``Database`` of an open ``store.read()`` / ``store.write()``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from mim_console.clock import from_iso, to_iso
from mim_console.data import outbox
from mim_console.data.incidents import append_event
from mim_console.domain.alerts import AlertDraft, Channel, Purpose
from mim_console.domain.people import Person
from mim_console.domain.verification import REPLY_WINDOW, OpenCheck, answered_check

SENT = "contact_check_sent"
VERIFIED = "contact_verified"


@dataclass(frozen=True)
class CheckRecord:
    """One contact check as the CLI lists it."""

    person_id: int
    person_name: str
    to_number: str
    code: str
    requested_at: datetime
    alert_id: int | None
    alert_status: str | None
    answered_at: datetime | None
    answer: str | None


def queue_check(
    db: Database, person: Person, body: str, code: str, now: datetime, actor: str
) -> int:
    """Queue the test SMS and log the check, in the caller's transaction; the alert id."""
    (alert_id,) = outbox.enqueue(
        db,
        [AlertDraft(person.mobile, Channel.SMS, Purpose.TEST, body, person_id=person.id)],
        now,
    )
    append_event(
        db,
        incident_id=None,
        at=now,
        actor=actor,
        kind=SENT,
        person_id=person.id,
        text=f"contact check sent to {person.name}",
        data={"alert": alert_id, "code": code, "to": person.mobile},
    )
    return alert_id


def _events(db: Database, person_id: int, kind: str) -> list[dict[str, Any]]:
    cursor = db.conn.execute(
        "SELECT at, person_id, data FROM event WHERE incident_id IS NULL AND person_id = ? "
        "AND kind = ? ORDER BY at, id",
        [person_id, kind],
    )
    return [{"at": r[0], "person_id": r[1], "data": json.loads(r[2] or "{}")} for r in cursor]


def _answered_alerts(db: Database, person_id: int) -> set[int | None]:
    return {e["data"].get("alert") for e in _events(db, person_id, VERIFIED)}


def open_checks(db: Database, person_id: int, received_at: datetime) -> list[OpenCheck]:
    """The person's checks a reply received at ``received_at`` may still answer."""
    sent = _events(db, person_id, SENT)
    if not sent:
        return []
    since = received_at - REPLY_WINDOW
    answered = _answered_alerts(db, person_id)
    return [
        OpenCheck(
            code=str(e["data"].get("code", "")),
            to_number=str(e["data"].get("to", "")),
            requested_at=from_iso(e["at"]),
            alert_id=e["data"].get("alert"),
        )
        for e in sent
        if from_iso(e["at"]) >= since and e["data"].get("alert") not in answered
    ]


def answer_reply(
    db: Database,
    person_id: int,
    from_number: str,
    body: str,
    received_at: datetime,
    sid: str,
    *,
    on_active_incident: bool,
) -> bool:
    """If this SMS answers an open check (``domain.verification`` rule), mark the person
    verified at ``received_at``, log it and return True; else change nothing."""
    checks = open_checks(db, person_id, received_at)
    if not checks:
        return False
    check = answered_check(
        body, from_number, received_at, checks, on_active_incident=on_active_incident
    )
    if check is None:
        return False
    row = db.conn.execute(
        "SELECT name, verified_at FROM person WHERE id = ?", [person_id]
    ).fetchone()
    if row[1] is None or from_iso(row[1]) < received_at:  # never move the date backwards
        db.execute(
            "UPDATE person SET verified_at = ? WHERE id = ?", [to_iso(received_at), person_id]
        )
    append_event(
        db,
        incident_id=None,
        at=received_at,
        actor="sms reply",
        kind=VERIFIED,
        person_id=person_id,
        text=f"{row[0]} answered the contact check",
        data={"alert": check.alert_id, "code": check.code, "sid": sid, "said": body[:160]},
    )
    return True


def recent_checks(db: Database, since: datetime) -> list[CheckRecord]:
    """Checks sent since ``since``, newest first, with their answer if any."""
    cursor = db.conn.execute(
        "SELECT e.at, e.person_id, e.data, p.name, a.status FROM event e "
        "JOIN person p ON p.id = e.person_id "
        "LEFT JOIN alert a ON a.id = json_extract(e.data, '$.alert') "
        "WHERE e.incident_id IS NULL AND e.kind = ? AND e.at >= ? ORDER BY e.at DESC, e.id DESC",
        [SENT, to_iso(since)],
    )
    sent = cursor.fetchall()
    answers: dict[int | None, tuple[datetime, str]] = {}
    for person_id in {r[1] for r in sent}:
        for e in _events(db, person_id, VERIFIED):
            answers[e["data"].get("alert")] = (from_iso(e["at"]), str(e["data"].get("said", "")))
    out = []
    for at, person_id, data_text, name, status in sent:
        data = json.loads(data_text or "{}")
        answer = answers.get(data.get("alert"))
        out.append(
            CheckRecord(
                person_id=person_id,
                person_name=name,
                to_number=str(data.get("to", "")),
                code=str(data.get("code", "")),
                requested_at=from_iso(at),
                alert_id=data.get("alert"),
                alert_status=status,
                answered_at=answer[0] if answer else None,
                answer=answer[1] if answer else None,
            )
        )
    return out


def failed_checks(db: Database) -> dict[int, str]:
    """Person id -> why their latest contact check SMS failed, for people whose latest did."""
    out: dict[int, str] = {}
    for person_id, status, error in db.conn.execute(
        "SELECT person_id, status, last_error FROM alert WHERE id IN "
        "(SELECT MAX(id) FROM alert WHERE purpose = 'test' AND person_id IS NOT NULL "
        "GROUP BY person_id)"
    ):
        if outbox.status_group(status) == "failed":
            out[int(person_id)] = str(error or status)
    return out
