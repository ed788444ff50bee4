"""The outbox: every alert is a committed row before any request leaves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from mim_console.clock import to_iso


@dataclass(frozen=True)
class AlertDraft:
    to_number: str
    channel: str  # sms | voice | chat
    purpose: str  # alert | escalation | recall | standby | stand_down | test | stakeholder | help
    body: str  # SMS text, TwiML, or chat payload
    incident_id: int | None = None
    person_id: int | None = None


def enqueue(db: Database, drafts: list[AlertDraft], now: datetime) -> list[int]:
    """Queue alerts inside the caller's transaction (``store.write()``); returns their ids."""
    ids = []
    stamp = to_iso(now)
    for draft in drafts:
        cursor = db.execute(
            "INSERT INTO alert (incident_id, person_id, to_number, channel, purpose, body, "
            "status, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
            [
                draft.incident_id,
                draft.person_id,
                draft.to_number,
                draft.channel,
                draft.purpose,
                draft.body,
                stamp,
                stamp,
            ],
        )
        ids.append(int(cursor.lastrowid or 0))
    return ids
