"""A fictional organisation to try the console on: parties, people, specialist groups, rotations.

Deterministic (no randomness): the same call gives the same directory, so screenshots, docs
and tests can rely on it. Numbers are in the +1 <area> 555-01xx range reserved for fiction;
emails are at example.org. It only ever writes into an empty directory.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from mim_console.clock import to_iso
from mim_console.data.directory import Directory
from mim_console.data.store import Store
from mim_console.errors import UserError

AREAS = ("201", "212", "312", "415", "617")
SECOND_AREA = "646"

FIRST = (
    "Aino", "Mikko", "Sofia", "Juha", "Laura", "Ville", "Emma", "Antti", "Helmi", "Pekka",
    "Olivia", "Matti", "Ella", "Timo", "Saara", "Jari", "Noah", "Kaisa", "Leo", "Riikka",
    "Elias", "Hanna", "Oskari", "Tiina", "Eino", "Maria", "Lauri", "Päivi", "Aleksi", "Sanna",
    "Onni", "Johanna", "Veeti", "Minna", "Rasmus", "Katja", "Eetu", "Outi", "Joel", "Heidi",
)  # fmt: skip
LAST = (
    "Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Heikkinen",
    "Koskinen", "Järvinen", "Lehtonen", "Lehtinen", "Saarinen", "Salminen", "Heinonen",
    "Niemi", "Heikkilä", "Kinnunen", "Salonen", "Turunen", "Salo", "Laitinen", "Tuominen",
    "Rantanen", "Karjalainen", "Jokinen", "Mattila", "Savolainen", "Lahtinen", "Ahonen",
    "Ojala", "Leppänen", "Kallio", "Hiltunen", "Väisänen", "Pitkänen", "Aaltonen",
)  # fmt: skip

# (party, description, titles of its representatives in seat order; the last one decides
# nothing so the seat has a deputy without authority, as real seats often do)
PARTIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Payments business", "Card and account payments business unit",
     ("Head of Payments", "Payments operations manager", "Product owner, cards")),
    ("Retail banking", "Branches, online and mobile banking for consumers",
     ("Director, Retail", "Head of digital channels", "Service manager")),
    ("IT Operations", "Data centres, networks, platforms and the service desk",
     ("CIO", "Head of IT operations", "Service delivery manager", "Shift lead")),
    ("Communications", "Press, internal and customer communications",
     ("Head of Communications", "Press officer", "Internal comms lead")),
    ("Information Security", "Security operations centre and CISO office",
     ("CISO", "SOC manager", "Security analyst")),
    ("Legal & Compliance", "Regulators, data protection, contracts",
     ("General counsel", "Data protection officer", "Compliance analyst")),
    ("Customer Service", "Contact centre and complaints",
     ("Head of Customer Service", "Contact centre manager", "Team lead")),
    ("Northwind Cloud (vendor)", "Hosting and managed database provider",
     ("Account executive", "Technical account manager", "Duty engineer")),
    ("Contoso Networks (vendor)", "WAN, firewalls and DDoS protection",
     ("Service manager", "Network duty lead", "NOC engineer")),
)  # fmt: skip

# (group, categories, description, party of its members, member count)
GROUPS: tuple[tuple[str, tuple[str, ...], str, str, int], ...] = (
    ("Network", ("network", "dns", "firewall", "ddos"), "LAN, WAN, DNS and edge",
     "Contoso Networks (vendor)", 4),
    ("Database", ("database", "postgres", "oracle"), "Core banking and payments databases",
     "Northwind Cloud (vendor)", 4),
    ("Payments platform", ("payments", "cards", "clearing"), "Card switch and clearing",
     "IT Operations", 4),
    ("Identity", ("identity", "sso", "active directory"), "Single sign-on and directories",
     "IT Operations", 4),
    ("Storage & backup", ("storage", "backup"), "SAN, object storage and restore",
     "IT Operations", 4),
    ("Email & collaboration", ("email", "chat", "telephony"), "Mail, chat and phones",
     "IT Operations", 4),
    ("Web & mobile channels", ("web", "mobile app", "online banking"),
     "Online and mobile banking front ends", "Retail banking", 4),
)  # fmt: skip

DUTY_MANAGERS = 4
DEMO_STAKEHOLDERS = "Executive board"
# Plain numbers (not people in the directory), in the same fictional range as the people's.
DEMO_BOARD = (
    ("CEO", f"+1{SECOND_AREA}5550190"),
    ("CFO", f"+1{SECOND_AREA}5550191"),
    ("Chief Risk Officer", f"+1{SECOND_AREA}5550192"),
)


@dataclass(frozen=True)
class DemoSummary:
    people: int
    parties: int
    groups: int
    rotations: int

    def __str__(self) -> str:
        return (
            f"seeded {self.people} people, {self.parties} parties, {self.groups} specialist "
            f"groups, {self.rotations} rotations and the stakeholder list {DEMO_STAKEHOLDERS}"
        )


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


class _People:
    """Hands out names, numbers and emails in a fixed order."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.count = 0

    def add(self, title: str, party_id: int | None, authority: bool, **extra: object) -> int:
        n = self.count
        self.count += 1
        first = FIRST[n % len(FIRST)]
        last = LAST[(n * 7) % len(LAST)]
        mobile = f"+1{AREAS[n // 100]}55501{n % 100:02d}"
        phone2 = f"+1{SECOND_AREA}55501{n % 100:02d}" if n % 7 == 3 else None
        person = self.directory.add_person(
            name=f"{first} {last}",
            mobile=mobile,
            phone2=phone2,
            email=f"{_ascii(first)}.{_ascii(last)}.{n + 1}@example.org",
            ext_id=f"D{n + 1:04d}",
            title=title,
            party_id=party_id,
            decision_authority=authority,
            **extra,  # type: ignore[arg-type]
        )
        return person.id


def _seed_verified(db: Database, now: datetime) -> None:
    """Everyone answered a contact check 3 to 72 days ago (spread, fixed): the readiness check
    passes, and `people` shows a realistic spread of dates."""
    ids = [int(r[0]) for r in db.conn.execute("SELECT id FROM person ORDER BY id")]
    for index, person_id in enumerate(ids):
        at = now - timedelta(days=3 + (index * 11) % 70, hours=index % 9)
        db.conn.execute("UPDATE person SET verified_at = ? WHERE id = ?", [to_iso(at), person_id])


def _seed_stakeholders(db: Database) -> None:
    """A list to publish stakeholder updates to, so the whole comms path can be tried."""
    from mim_console.data import comms

    comms.create_list(db, DEMO_STAKEHOLDERS, "the executive board: every stakeholder update")
    for label, number in DEMO_BOARD:
        comms.add_member(db, DEMO_STAKEHOLDERS, number=number, label=label)


def seed_demo(store: Store, now: datetime, *, with_rotations: bool = True) -> DemoSummary:
    """Seed the demo organisation in one transaction; refuses a directory that has anyone."""
    directory = Directory(store, default_region="US", clock=lambda: now)
    with store.write() as db:
        existing = directory.count_people()
        if existing:
            raise UserError(
                f"the database already holds {existing} people; "
                "the demo never writes over real data"
            )
        people = _People(directory)
        for _ in range(DUTY_MANAGERS):
            people.add("Duty manager", None, True)
        party_ids: dict[str, int] = {}
        for name, description, titles in PARTIES:
            party = directory.add_party(name, description)
            party_ids[name] = party.id
            seat = [
                people.add(title, party.id, index < len(titles) - 1 or len(titles) < 3)
                for index, title in enumerate(titles)
            ]
            directory.set_representatives(party.id, seat)
        for name, categories, description, party_name, size in GROUPS:
            group = directory.add_group(name, categories, description)
            members = [
                people.add(f"{name} specialist", party_ids[party_name], False) for _ in range(size)
            ]
            directory.set_group_members(group.id, members)
        # Someone who left: still on record (and in a call order), never alerted.
        leaver = people.add(
            "Network specialist",
            party_ids["Contoso Networks (vendor)"],
            False,
            active=False,
            notes="left the company; replace in the Network call order",
        )
        network = directory.group("Network")
        directory.set_group_members(network.id, [*network.members, leaver])
        _seed_verified(db, now)
        _seed_stakeholders(db)
        rotations = 0
        if with_rotations:
            from mim_console.data.rotations import seed_demo_rotations

            rotations = len(seed_demo_rotations(db, now))
        return DemoSummary(
            people=directory.count_people(),
            parties=len(PARTIES),
            groups=len(GROUPS),
            rotations=rotations,
        )
