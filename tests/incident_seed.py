"""A small organisation for the incident tests, written straight into a real SQLite file.

Parties: IT Operations (Alice*, Bob*, Carol), Business (Dan*, Erin*), Communications (Frank*,
Gina*); * = decision authority. Specialist group Payments (categories payments, cards): Sam,
Tina, Uma. Everyone has a distinct mobile +35840000000N.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mim_console.clock import to_iso
from mim_console.data.store import Store

PEOPLE = [
    # name, party, authority
    ("Alice Ops", "IT Operations", True),
    ("Bob Ops", "IT Operations", True),
    ("Carol Ops", "IT Operations", False),
    ("Dan Biz", "Business", True),
    ("Erin Biz", "Business", True),
    ("Frank Comms", "Communications", True),
    ("Gina Comms", "Communications", True),
    ("Sam Spec", None, False),
    ("Tina Spec", None, False),
    ("Uma Spec", None, False),
]


def mobile(name: str) -> str:
    index = [p[0] for p in PEOPLE].index(name) + 1
    return f"+3584000000{index:02d}"


def seed(store: Store, now: datetime) -> dict[str, int]:
    """Insert the organisation; returns person ids by name."""
    stamp = to_iso(now)
    ids: dict[str, int] = {}
    with store.write() as db:
        parties: dict[str, int] = {}
        for party_name in ("IT Operations", "Business", "Communications"):
            parties[party_name] = int(
                db.execute("INSERT INTO party (name) VALUES (?)", [party_name]).lastrowid or 0
            )
        positions: dict[str, int] = {}
        for name, party, authority in PEOPLE:
            cur = db.execute(
                "INSERT INTO person (name, mobile, email, party_id, decision_authority, active, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                [
                    name,
                    mobile(name),
                    name.split()[0].lower() + "@example.org",
                    parties.get(party or ""),
                    int(authority),
                    stamp,
                    stamp,
                ],
            )
            ids[name] = int(cur.lastrowid or 0)
            if party:
                pos = positions.get(party, 0)
                positions[party] = pos + 1
                db.execute(
                    "INSERT INTO party_member (party_id, person_id, position) VALUES (?, ?, ?)",
                    [parties[party], ids[name], pos],
                )
        gid = int(
            db.execute(
                "INSERT INTO specialist_group (name, categories) VALUES (?, ?)",
                ["Payments", json.dumps(["payments", "cards"])],
            ).lastrowid
            or 0
        )
        for pos, name in enumerate(("Sam Spec", "Tina Spec", "Uma Spec")):
            db.execute(
                "INSERT INTO group_member (group_id, person_id, position) VALUES (?, ?, ?)",
                [gid, ids[name], pos],
            )
    return ids


@dataclass
class FakeClock:
    """A clock the test moves by hand (the service reads time only through ``ctx.clock``)."""

    now: datetime
    steps: list[datetime] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


ClockFn = Callable[[], datetime]
