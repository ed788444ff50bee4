"""Inbound messages (SMS replies, later the GSM modem's): stored once per provider id.

Every function takes the ``Database`` of the reply service's ``store.write()``: storing the
message, reading it and applying it are one transaction (``services/replies.py``), so a message
is either stored with its meaning and everything it changed, or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


# Readings of a known person's message that named no incident: the duty manager places them
# (``services/replies.py`` assign / dismiss). Assigned, a row reads as if it had named the code.
UNPLACED = ("ambiguous", "unknown_code", "not_alerted", "unrecognised", "opt_out")
DISMISSED = "dismissed"


@dataclass(frozen=True)
class StoredReply:
    id: int
    sender: str
    body: str
    received_at: datetime
    person_id: int | None
    incident_id: int | None
    meaning: str


def _stored(row: Sequence[object]) -> StoredReply:
    rid, sender, body, received, person, incident, meaning = row
    return StoredReply(
        id=int(str(rid)),
        sender=str(sender),
        body=str(body),
        received_at=from_iso(str(received)),
        person_id=None if person is None else int(str(person)),
        incident_id=None if incident is None else int(str(incident)),
        meaning=str(meaning),
    )


_COLUMNS = "id, from_number, body, received_at, person_id, incident_id, meaning"


def unplaced(db: Database, since: datetime) -> list[StoredReply]:
    """Known people's messages since ``since`` that no incident took, oldest first."""
    marks = ", ".join("?" for _ in UNPLACED)
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM inbound WHERE person_id IS NOT NULL AND incident_id IS NULL "
        f"AND meaning IN ({marks}) AND received_at >= ? ORDER BY received_at, id",
        [*UNPLACED, to_iso(since)],
    ).fetchall()
    return [_stored(r) for r in rows]


def recent(db: Database, limit: int = 200) -> list[StoredReply]:
    """The newest messages, newest first."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM inbound ORDER BY received_at DESC, id DESC LIMIT ?", [limit]
    ).fetchall()
    return [_stored(r) for r in rows]


def by_id(db: Database, reply_id: int) -> StoredReply | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM inbound WHERE id = ?", [reply_id]).fetchone()
    return None if row is None else _stored(row)


def place(db: Database, reply_id: int, incident_id: int | None, meaning: str) -> None:
    """The duty manager's decision: the incident it is about (and what it says), or dismissed."""
    db.execute(
        "UPDATE inbound SET incident_id = ?, meaning = ? WHERE id = ?",
        [incident_id, meaning, reply_id],
    )
