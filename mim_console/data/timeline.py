"""The timeline's hash chain: each event stores the hash of the one before it (per incident).

``append_event`` (data/incidents.py) asks ``link`` for the two values to store with a new
event; ``verify`` recomputes every chain and reports the first broken link of each. The
database's triggers (migration 0005) already refuse UPDATE, DELETE and INSERT OR REPLACE from
any connection; the chain is what shows a change made around them (a copy of the file edited
with the triggers dropped, an event inserted by another tool) — evidence for a lessons-learnt
report, checkable by anyone with `mim-console verify-timeline`.

A chain runs over one incident's events in id order (the events of no incident are a chain of
their own); the first event's previous hash is the empty string. An event's hash is SHA-256 over
its previous hash and its stored columns (not its id: the order is the chain itself).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

#: The stored columns an event's hash covers, in this order.
HASHED = ("incident_id", "at", "actor", "kind", "person_id", "text", "data")


def event_hash(prev_hash: str, values: Sequence[Any]) -> str:
    """SHA-256 (hex) of the previous hash and the stored column values, in ``HASHED`` order."""
    canonical = json.dumps([prev_hash, *values], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def link(db: Database, incident_id: int | None, values: Sequence[Any]) -> tuple[str, str]:
    """(prev_hash, hash) for a new event of ``incident_id`` with these stored values; call it
    inside the write transaction that inserts the event, so no other event comes between."""
    row = db.execute(
        "SELECT hash FROM event WHERE incident_id IS ? ORDER BY id DESC LIMIT 1", [incident_id]
    ).fetchone()
    prev = (row[0] or "") if row is not None else ""
    return prev, event_hash(prev, values)


def backfill(db: Database) -> int:
    """Hash every event in id order (the migration that adds the chain); returns how many."""
    last: dict[int | None, str] = {}
    done = 0
    rows = db.execute(f"SELECT id, {', '.join(HASHED)} FROM event ORDER BY id").fetchall()
    for event_id, *values in rows:
        prev = last.get(values[0], "")
        digest = event_hash(prev, values)
        db.execute(
            "UPDATE event SET prev_hash = ?, hash = ? WHERE id = ?", [prev, digest, event_id]
        )
        last[values[0]] = digest
        done += 1
    return done


@dataclass(frozen=True)
class BrokenLink:
    incident_id: int | None
    incident_code: str | None
    event_id: int
    reason: str

    def __str__(self) -> str:
        where = self.incident_code or (
            f"incident {self.incident_id}"
            if self.incident_id is not None
            else "events of no incident"
        )
        return f"{where}: event {self.event_id} {self.reason}"


@dataclass(frozen=True)
class ChainCheck:
    chains: int
    events: int
    broken: tuple[BrokenLink, ...]
    #: Where the check ended (the highest event id and each chain's last hash), so a later
    #: check of the whole timeline can go on from there (``verify(..., after=...)``).
    last_id: int = 0
    heads: Mapping[int | None, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.broken


def verify(
    db: Database,
    incident_id: int | None = None,
    *,
    only: bool = False,
    after: ChainCheck | None = None,
) -> ChainCheck:
    """Recompute the chains (every one, or ``incident_id``'s with ``only``); the first broken
    link of each chain is reported: a missing hash (written outside mim-console), a link that
    does not name the event before (one removed or reordered), a hash that does not match the
    event's content (changed after it was written).

    ``after``: an earlier intact check of the whole timeline; only the events added since are
    read (the readiness check runs often, and 200,000 events take a second to hash)."""
    where, params = ("WHERE incident_id IS ?", [incident_id]) if only else ("", [])
    last: dict[int | None, str] = {}
    events = 0
    if after is not None and after.ok and not only:
        where, params = "WHERE id > ?", [after.last_id]
        last, events = dict(after.heads), after.events
    cursor = db.execute(
        f"SELECT id, prev_hash, hash, {', '.join(HASHED)} FROM event {where} ORDER BY id",
        params,
    )
    codes = {r[0]: r[1] for r in db.execute("SELECT id, code FROM incident").fetchall()}
    broken: dict[int | None, BrokenLink] = {}
    last_id = after.last_id if after is not None and not only else 0
    for event_id, prev, stored, *values in cursor:
        events += 1
        last_id = max(last_id, event_id)
        chain = values[0]
        if chain not in broken:
            reason = _problem(prev, stored, last.get(chain, ""), values)
            if reason:
                broken[chain] = BrokenLink(chain, codes.get(chain), event_id, reason)
        last[chain] = stored or ""
    ordered = sorted(broken.values(), key=lambda b: (b.incident_id is None, b.incident_id or 0))
    return ChainCheck(len(last), events, tuple(ordered), last_id, last)


def _problem(prev: str | None, stored: str | None, expected_prev: str, values: list[Any]) -> str:
    if not stored:
        return "has no hash: it was written outside mim-console"
    if (prev or "") != expected_prev:
        return (
            "does not link to the event before it in the chain: an event was removed, "
            "reordered or inserted by hand"
        )
    if event_hash(prev or "", values) != stored:
        return "does not match its hash: it was changed after it was written"
    return ""
