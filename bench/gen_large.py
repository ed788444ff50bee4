"""Build a large database for the console benchmarks.

10,000 people, 200 parties and 200 specialist groups, a duty rotation, 500 past incidents with
their participants and alerts, and 200,000 timeline events. Deterministic (seeded), so runs on
different days compare.

    python bench/gen_large.py /tmp/large.db [--people 10000] [--events 200000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mim_console.clock import to_iso
from mim_console.data.store import Store

FIRST = "Aino Eero Helmi Ilkka Juho Kaisa Leena Mikko Noora Olli Pia Risto Sanna Timo Ulla Veikko"
LAST = "Aalto Berg Heikkinen Korhonen Laine Mäkinen Nieminen Ojala Rantanen Salo Virtanen Wikström"
CATEGORIES = [f"service-{i:03d}" for i in range(120)]
START = datetime(2024, 1, 1, tzinfo=UTC)


def generate(
    path: Path, people: int, parties: int, groups: int, incidents: int, events: int, seed: int = 7
) -> dict[str, int]:
    rnd = random.Random(seed)
    if path.exists():
        path.unlink()
    store = Store(path)
    firsts, lasts = FIRST.split(), LAST.split()
    stamp = to_iso(START)
    with store.write() as db:
        db.conn.executemany(
            "INSERT INTO party (id, name, description) VALUES (?, ?, ?)",
            [(i, f"Party {i:03d}", f"business unit {i}") for i in range(1, parties + 1)],
        )
        db.conn.executemany(
            "INSERT INTO person (id, ext_id, name, mobile, email, title, party_id, "
            "decision_authority, active, verified_at, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    i,
                    f"E{i:06d}",
                    f"{rnd.choice(firsts)} {rnd.choice(lasts)} {i}",
                    f"+35840{1000000 + i:07d}",
                    f"person{i}@example.org",
                    rnd.choice(["engineer", "manager", "director", "analyst"]),
                    rnd.randint(1, parties),
                    int(rnd.random() < 0.3),
                    int(rnd.random() > 0.02),
                    stamp,
                    stamp,
                    stamp,
                )
                for i in range(1, people + 1)
            ],
        )
        members = []
        for party in range(1, parties + 1):
            for pos, pid in enumerate(rnd.sample(range(1, people + 1), 3)):
                members.append((party, pid, pos))
        db.conn.executemany(
            "INSERT INTO party_member (party_id, person_id, position) VALUES (?, ?, ?)", members
        )
        db.conn.executemany(
            "INSERT INTO specialist_group (id, name, categories, description) VALUES (?, ?, ?, ?)",
            [
                (g, f"Group {g:03d}", json.dumps(rnd.sample(CATEGORIES, 2)), "")
                for g in range(1, groups + 1)
            ],
        )
        db.conn.executemany(
            "INSERT INTO group_member (group_id, person_id, position) VALUES (?, ?, ?)",
            [
                (g, pid, pos)
                for g in range(1, groups + 1)
                for pos, pid in enumerate(rnd.sample(range(1, people + 1), 5))
            ],
        )
        db.execute(
            "INSERT INTO rotation (id, name, role, shift_unit, shift_length, handoff_time, "
            "handoff_weekday, timezone, start_date) VALUES "
            "(1, 'Duty managers', 'duty_manager', 'weeks', 1, '09:00', 0, 'Europe/Helsinki', "
            "'2024-01-01')"
        )
        db.conn.executemany(
            "INSERT INTO rotation_member (rotation_id, person_id, position) VALUES (1, ?, ?)",
            [(pid, pos) for pos, pid in enumerate(range(1, 11))],
        )
        per_incident = max(1, events // max(1, incidents))
        event_rows = []
        participant_rows = []
        alert_rows = []
        for n in range(1, incidents + 1):
            declared = START + timedelta(hours=17 * n)
            closed = declared + timedelta(hours=rnd.randint(2, 30))
            db.execute(
                "INSERT INTO incident (id, code, reply_code, title, severity, categories, "
                "status, declared_at, declared_by, restored_at, closed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'closed', ?, 'bench', ?, ?)",
                [
                    n,
                    f"MI-{declared.year}-{n:03d}",
                    f"K{n % 100:02d}",
                    f"Past incident {n}",
                    rnd.choice(["SEV1", "SEV2"]),
                    json.dumps(rnd.sample(CATEGORIES, 2)),
                    to_iso(declared),
                    to_iso(closed),
                    to_iso(closed),
                ],
            )
            chosen = rnd.sample(range(1, people + 1), 20)
            for pid in chosen:
                participant_rows.append(
                    (
                        n,
                        pid,
                        "mrt",
                        "stood_down",
                        to_iso(declared),
                        to_iso(declared),
                        to_iso(closed),
                    )
                )
                alert_rows.append(
                    (
                        n,
                        pid,
                        f"+35840{1000000 + pid:07d}",
                        "sms",
                        "alert",
                        "MAJOR INCIDENT",
                        "delivered",
                        to_iso(declared),
                        to_iso(declared),
                    )
                )
            for k in range(per_incident):
                at = declared + timedelta(seconds=30 * k)
                event_rows.append(
                    (
                        n,
                        to_iso(at),
                        "bench",
                        rnd.choice(["alert", "joined", "note", "status"]),
                        rnd.choice(chosen),
                        f"event {k} of incident {n}",
                    )
                )
        db.conn.executemany(
            "INSERT INTO participant (incident_id, person_id, role, state, alerted_at, "
            "joined_at, state_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            participant_rows,
        )
        db.conn.executemany(
            "INSERT INTO alert (incident_id, person_id, to_number, channel, purpose, body, "
            "status, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            alert_rows,
        )
        db.conn.executemany(
            "INSERT INTO event (incident_id, at, actor, kind, person_id, text) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            event_rows,
        )
    store.db.execute("ANALYZE")
    counts = {
        table: int(store.query(f"SELECT count(*) AS n FROM {table}")[0]["n"])
        for table in ("person", "party", "specialist_group", "incident", "participant", "event")
    }
    store.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--parties", type=int, default=200)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    started = time.perf_counter()
    counts = generate(
        args.path, args.people, args.parties, args.groups, args.incidents, args.events
    )
    print(
        json.dumps(
            {"path": str(args.path), "seconds": round(time.perf_counter() - started, 2), **counts}
        )
    )


if __name__ == "__main__":
    main()
