"""An incident with 2,000 recipients and 10,000 inbound replies, in a real SQLite file.

Seeds 20 parties (3 representatives each) and one specialist group of ~2,000 members covering
the category, then times:

* ``declare``: 2,000 participants, their timeline events and 2,000 alert SMS in one transaction;
* ``apply_reply`` over 10,000 inbound messages as the dispatcher hands them over (stored, read
  and applied in one transaction each): first answers (join / unable, which pages a deputy),
  duplicates, the same message handed over twice, garbage (unrecognised) and unknown numbers;
* one escalation ``tick`` over the whole roll call (what the dispatcher calls every second);
* ``roll_call`` (what ``status`` and ``watch`` draw), and the report as Markdown and HTML.

It checks the result too: every joiner joined, each reply applied once.

    python bench/incident_load.py [--recipients 2000] [--replies 10000]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mim_console.clock import to_iso
from mim_console.config import Settings
from mim_console.domain.replies import InboundReply
from mim_console.services import report
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService

T = TypeVar("T")
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def timed(label: str, fn: Callable[[], T], results: list[tuple[str, float]]) -> T:
    start = time.perf_counter()
    value = fn()
    results.append((label, time.perf_counter() - start))
    return value


def seed(ctx: Context, recipients: int) -> dict[int, str]:
    """Parties and one big group; returns person id -> mobile for the group members."""
    stamp = to_iso(NOW)
    members: dict[int, str] = {}
    with ctx.store.write() as db:
        n = 0

        def person(name: str, party: int | None, authority: bool) -> int:
            nonlocal n
            n += 1
            cur = db.execute(
                "INSERT INTO person (name, mobile, party_id, decision_authority, active, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
                [name, f"+35850{n:07d}", party, int(authority), stamp, stamp],
            )
            return int(cur.lastrowid or 0)

        for p in range(20):
            pid = int(db.execute("INSERT INTO party (name) VALUES (?)", [f"Party {p}"]).lastrowid)
            for pos in range(3):
                who = person(f"Rep {p}.{pos}", pid, True)
                db.execute(
                    "INSERT INTO party_member (party_id, person_id, position) VALUES (?, ?, ?)",
                    [pid, who, pos],
                )
        gid = int(
            db.execute(
                "INSERT INTO specialist_group (name, categories) VALUES ('Everyone', '[\"big\"]')"
            ).lastrowid
        )
        for pos in range(recipients - 20):
            who = person(f"Specialist {pos}", None, False)
            db.execute(
                "INSERT INTO group_member (group_id, person_id, position) VALUES (?, ?, ?)",
                [gid, who, pos],
            )
            members[who] = f"+35850{n:07d}"
    return members


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--replies", type=int, default=10000)
    args = parser.parse_args()
    rng = random.Random(7)
    results: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        ctx = Context(settings=Settings(db_path=Path(folder) / "mim.db"), clock=lambda: NOW)
        members = seed(ctx, args.recipients)
        svc = IncidentService(ctx)
        inc = timed(
            f"declare, {args.recipients} recipients",
            lambda: svc.declare(title="Everything down", severity="SEV1", categories=["big"]),
            results,
        )
        ids = list(members)
        # The replies: 70 % of members join, 5 % are unable, then duplicates and garbage.
        plan: list[tuple[int | None, str]] = []
        joiners = ids[: int(len(ids) * 0.7)]
        unable = ids[int(len(ids) * 0.7) : int(len(ids) * 0.75)]
        plan += [(p, "joining") for p in joiners] + [(p, "unable") for p in unable]
        while len(plan) < args.replies:
            kind = rng.random()
            if kind < 0.6:
                plan.append((rng.choice(joiners), "joining"))  # duplicate answer
            elif kind < 0.85:
                plan.append((rng.choice(ids), "unrecognised"))
            else:
                plan.append((None, "unknown_number"))
        rng.shuffle(plan)
        inbound = [
            InboundReply(
                sender=members.get(person or 0, "+15550000000"),
                body="1" if meaning == "joining" else "2" if meaning == "unable" else "??",
                provider_id=f"SM{i:032d}",
                received_at=NOW + timedelta(seconds=i),
            )
            for i, (person, meaning) in enumerate(plan)
        ]
        outcomes: dict[str, int] = {}

        def apply_all() -> None:
            for reply in inbound:
                outcome = svc.apply_reply(reply)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

        timed(f"apply_reply x {len(inbound)}", apply_all, results)
        timed("the same replies again (all no-ops)", apply_all, results)
        timed("escalation tick, whole roll call", lambda: svc.tick(NOW), results)
        rc = timed("roll_call (status / watch)", lambda: svc.roll_call(inc.code), results)
        timed("report, Markdown", lambda: report.render(ctx, inc.code, "md"), results)
        timed("report, HTML with SVG", lambda: report.render(ctx, inc.code, "html"), results)
        joined = sum(1 for s in rc.seats if s.participant.state.value == "joined")
        assert joined == len(joiners), (joined, len(joiners))
        replies = ctx.store.query("SELECT count(*) AS n FROM event WHERE kind = 'reply'")[0]["n"]
        assert replies == sum(1 for p, m in plan if m in ("joining", "unable")), replies
        ctx.close()

    print(
        f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d}"
    )
    print(f"participants {len(rc.seats)}, joined {joined}, reply outcomes {outcomes}")
    for label, seconds in results:
        per = ""
        if label.startswith(("apply_reply", "the same")):
            per = f"  ({seconds / len(inbound) * 1000:.2f} ms each)"
        print(f"{label:45s} {seconds * 1000:9.1f} ms{per}")


if __name__ == "__main__":
    main()
