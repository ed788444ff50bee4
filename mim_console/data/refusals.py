"""Alerts Twilio refused, read for the roll call and for the outbox's and readiness's words.

Two questions, both answered from the outbox rows (no table of their own): which participants
had an alert refused for good since their last move (the escalation tick marks them failed),
and whether the alerts waiting now were last refused for our account as a whole (the
dispatcher pauses then: `outbox` and readiness say so from another process).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from mim_console.clock import from_iso
from mim_console.domain.alerts import PAGES_SQL


@dataclass(frozen=True)
class RefusedAlert:
    """An alert to a participant that ended ``failed``/``undelivered`` with a Twilio code."""

    participant_id: int
    participant_state: str
    state_changed_at: datetime
    alert_id: int
    channel: str
    accepted: bool  # Twilio took it, then reported it undelivered (else refused at once)
    created_at: datetime
    code: int
    error: str


def refused_alerts(db: Database, incident_id: int) -> list[RefusedAlert]:
    """Refused alerts of the incident's waiting participants (alert, escalation and recall
    pages only: never help replies or stakeholder texts), since each was last alerted."""
    rows = db.execute(
        "SELECT p.id, p.state, p.state_changed_at, a.id, a.channel, a.provider_sid, "
        "a.created_at, a.last_error_code, COALESCE(a.last_error, '') "
        "FROM alert a JOIN participant p "
        "ON p.incident_id = a.incident_id AND p.person_id = a.person_id "
        "WHERE a.incident_id = ? AND a.status IN ('failed', 'undelivered') "
        "AND a.last_error_code IS NOT NULL "
        f"AND {PAGES_SQL} "
        "AND a.channel IN ('sms', 'voice', 'bridge') "
        "AND p.state IN ('alerted', 'escalated', 'recalled', 'failed') "
        "AND a.created_at >= COALESCE(p.alerted_at, '') ORDER BY a.id",
        [incident_id],
    ).fetchall()
    return [
        RefusedAlert(
            participant_id=int(r[0]),
            participant_state=str(r[1]),
            state_changed_at=from_iso(r[2]),
            alert_id=int(r[3]),
            channel=str(r[4]),
            accepted=r[5] is not None,
            created_at=from_iso(r[6]),
            code=int(r[7]),
            error=str(r[8]),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class AccountRefusal:
    code: int
    error: str
    waiting: int  # alerts queued or being sent now


def account_refusal(db: Database, codes: Collection[int]) -> AccountRefusal | None:
    """The newest account-wide refusal (one of ``codes``) among the alerts still waiting: a
    dispatcher holds them for it. None when no waiting alert was refused so."""
    if not codes:
        return None
    marks = ",".join("?" * len(codes))
    row = db.execute(
        "SELECT last_error_code, COALESCE(last_error, '') FROM alert "
        f"WHERE status IN ('queued', 'sending') AND last_error_code IN ({marks}) "
        "ORDER BY next_attempt_at DESC, id DESC LIMIT 1",
        list(codes),
    ).fetchone()
    if row is None:
        return None
    waiting = db.execute(
        "SELECT COUNT(*) FROM alert WHERE status IN ('queued', 'sending')"
    ).fetchone()[0]
    return AccountRefusal(int(row[0]), str(row[1]), int(waiting))
