"""Inbound messages (SMS replies, later the GSM modem's): stored once per provider id.

Every function takes the ``Database`` of the reply service's ``store.write()``: storing the
message, reading it and applying it are one transaction (``services/replies.py``), so a message
is either stored with its meaning and everything it changed, or not at all.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from mim_console.clock import from_iso, to_iso
from mim_console.domain.replies import InboundReply, Reading


def latest_received_at(db: Database) -> datetime | None:
    """When the newest stored message arrived: where the next inbound poll starts."""
    row = db.execute("SELECT MAX(received_at) FROM inbound").fetchone()
    return from_iso(row[0]) if row[0] else None


def insert(db: Database, reply: InboundReply) -> int | None:
    """Store ``reply`` unread; its row id, or None when its provider id is already stored."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO inbound (provider_sid, from_number, body, received_at) "
        "VALUES (?, ?, ?, ?)",
        [reply.provider_id, reply.sender, reply.body, to_iso(reply.received_at)],
    )
    if cursor.rowcount != 1:
        return None
    return int(cursor.lastrowid or 0)


def record_reading(db: Database, inbound_id: int, reading: Reading, now: datetime) -> None:
    """What the message was found to mean, and whom and which incident it is from/about."""
    db.execute(
        "UPDATE inbound SET person_id = ?, incident_id = ?, meaning = ?, processed_at = ? "
        "WHERE id = ?",
        [reading.person_id, reading.incident_id, reading.meaning, to_iso(now), inbound_id],
    )


def sender_person(db: Database, number: str) -> int | None:
    """Whose mobile or second phone ``number`` is (an active person first, then the oldest)."""
    row = db.execute(
        "SELECT id FROM person WHERE mobile = ? OR phone2 = ? ORDER BY active DESC, id LIMIT 1",
        [number, number],
    ).fetchone()
    return None if row is None else int(row[0])
