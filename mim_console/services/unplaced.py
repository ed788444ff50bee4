"""Replies that named no incident: the duty manager sees them and places them.

With two incidents open a bare ``1`` cannot be placed: the sender gets the help SMS, but until
they answer again the roll calls read as if they had not. Every known person's message that no
incident took (ambiguous, an unknown code, not alerted, unrecognised words) is listed here;
assigning one applies it exactly as if it had named the code (``Replies._answer``), dismissing
it takes it off the list. Both are on the record (assigned: on the incident's timeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from mim_console.data import inbound as inbound_repo
from mim_console.data import incidents as repo
from mim_console.domain.incident import State
from mim_console.domain.replies import Meaning, parse_reply
from mim_console.errors import UserError
from mim_console.services.replies import Replies

# Messages this long before the oldest open incident was declared still count (a "1" sent just
# before a second incident opened is as unplaced as one sent after).
LOOK_BACK = timedelta(hours=1)
_TARGET = {Meaning.JOINING.value: State.JOINED, Meaning.UNABLE.value: State.UNABLE}
_MEANINGS = {
    "joining": "joining",
    "join": "joining",
    "1": "joining",
    "joined": "joining",
    "unable": "unable",
    "2": "unable",
}


@dataclass(frozen=True)
class UnplacedReply:
    id: int
    person_id: int | None
    person_name: str | None
    sender: str
    body: str
    received_at: datetime
    incident: str | None  # the code, once placed
    meaning: str  # what was read: ambiguous, unknown_code, not_alerted, unrecognised…
    says: str | None  # "joining" / "unable" when the words say it, None when they do not

    def as_json(self) -> dict[str, object]:
        person = (
            None if self.person_id is None else {"id": self.person_id, "name": self.person_name}
        )
        return {
            "id": self.id,
            "person": person,
            "from": self.sender,
            "body": self.body,
            "received_at": self.received_at.isoformat(),
            "incident": self.incident,
            "meaning": self.meaning,
        }


def _says(body: str) -> str | None:
    parsed = parse_reply(body)
    return parsed.meaning.value if parsed.recognised else None


class PlacingReplies(Replies):
    def replies(self, *, unplaced: bool = False) -> list[UnplacedReply]:
        """Stored messages, newest first; ``unplaced``: only those that need an incident (while
        one is open), oldest first."""
        with self.store.read() as db:
            if unplaced:
                open_incidents = repo.list_incidents(db)
                if not open_incidents:
                    return []
                since = min(i.declared_at for i in open_incidents) - LOOK_BACK
                stored = inbound_repo.unplaced(db, since)
            else:
                stored = inbound_repo.recent(db)
            codes = {i.id: i.code for i in repo.list_incidents(db, include_closed=True)}
        names = self.directory.people_by_ids([s.person_id for s in stored if s.person_id])
        return [
            UnplacedReply(
                id=s.id,
                person_id=s.person_id,
                person_name=names[s.person_id].name if s.person_id in names else None,
                sender=s.sender,
                body=s.body,
                received_at=s.received_at,
                incident=codes.get(s.incident_id) if s.incident_id else None,
                meaning=s.meaning,
                says=_says(s.body),
            )
            for s in stored
        ]

    def unplaced_count(self) -> int:
        return len(self.replies(unplaced=True))

    def assign_reply(self, reply_id: int, incident_ref: str, meaning: str | None = None) -> str:
        """Apply a stored reply to an incident as if it had named its code; ``meaning``
        (joining / unable) for words the reader could not read. What it did, in words."""
        now = self.ctx.clock()
        with self.store.write() as db:
            stored = self._unplaced(db, reply_id)
            said = _says(stored.body)
            wanted = _MEANINGS.get((meaning or "").strip().casefold()) if meaning else said
            if meaning and wanted is None:
                raise UserError(f'"{meaning}": say joining or unable')
            if wanted is None:
                raise UserError(
                    f'reply {reply_id} ("{stored.body[:40]}") says neither joining nor unable: '
                    "say which (--as joining or --as unable)"
                )
            inc = self._open(db, incident_ref)
            assert stored.person_id is not None
            person = self.directory.person(stored.person_id)
            if repo.participant_for(db, inc.id, person.id) is None:
                raise UserError(f"{person.name} is not in {inc.code}'s roll call")
            inbound_repo.place(db, reply_id, inc.id, wanted)
            outcome = self._answer(
                db,
                inc,
                person,
                wanted,
                _TARGET[wanted],
                now,
                via="sms reply",
                said=f"{stored.body} (placed on {inc.code} by {self.ctx.actor})",
                marker={"inbound": reply_id, "placed_by": self.ctx.actor},
            )
        return f"{person.name}: {wanted} -> {inc.code}: {outcome}"

    def dismiss_reply(self, reply_id: int) -> str:
        with self.store.write() as db:
            stored = self._unplaced(db, reply_id)
            inbound_repo.place(db, reply_id, None, inbound_repo.DISMISSED)
        return f'reply {reply_id} ("{stored.body[:40]}") dismissed'

    def _unplaced(self, db: Database, reply_id: int) -> inbound_repo.StoredReply:
        stored = inbound_repo.by_id(db, reply_id)
        if stored is None:
            raise UserError(f"no reply {reply_id} (`mim-console replies` lists them)")
        if stored.person_id is None:
            raise UserError(f"reply {reply_id} is from an unknown number: it cannot be placed")
        if stored.incident_id is not None or stored.meaning not in inbound_repo.UNPLACED:
            raise UserError(f"reply {reply_id} is already placed ({stored.meaning})")
        return stored
