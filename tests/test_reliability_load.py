"""Load: one incident paging 2,000 people, then 10,000 inbound SMS through the dispatcher's own
reply path (stored once per SID, interpreted, applied), including duplicates, garbage and
strangers. Everything is accounted for: one alert per person, every joiner joined exactly once,
every unable answer applied once, garbage and strangers logged and never acted on, at most one
help SMS per number, and the same messages seen again change nothing.

The full size is slow-marked (`pytest -m slow tests/test_reliability_load.py`, about a minute);
a 150-person, 800-message variant with the same mix runs by default. The full run prints its
figures (recorded in docs/performance.md, "Load").
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mim_console.clock import to_iso
from mim_console.config import Settings
from mim_console.domain.replies import InboundReply
from mim_console.notifiers.base import InboundMessage
from mim_console.services import report
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.slow_gate import slow_only_when_asked  # noqa: F401

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SENDER = "+15005550006"


def seed(ctx: Context, recipients: int) -> dict[int, str]:
    """Ten parties of two representatives and one group covering the rest; id -> mobile."""
    stamp = to_iso(NOW)
    mobiles: dict[int, str] = {}
    with ctx.store.write() as db:

        def person(n: int, party: int | None, authority: bool) -> int:
            number = f"+35850{n:07d}"
            cur = db.execute(
                "INSERT INTO person (name, mobile, party_id, decision_authority, active, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
                [f"Person {n}", number, party, int(authority), stamp, stamp],
            )
            pid = int(cur.lastrowid or 0)
            mobiles[pid] = number
            return pid

        n = 0
        for p in range(10):
            party = int(db.execute("INSERT INTO party (name) VALUES (?)", [f"P{p}"]).lastrowid or 0)
            for pos in range(2):
                n += 1
                db.execute(
                    "INSERT INTO party_member (party_id, person_id, position) VALUES (?, ?, ?)",
                    [party, person(n, party, True), pos],
                )
        group = int(
            db.execute(
                "INSERT INTO specialist_group (name, categories) VALUES ('All', '[\"big\"]')"
            ).lastrowid
            or 0
        )
        for pos in range(recipients - 10):
            n += 1
            db.execute(
                "INSERT INTO group_member (group_id, person_id, position) VALUES (?, ?, ?)",
                [group, person(n, None, False), pos],
            )
    return mobiles


def run_load(folder: Path, recipients: int, replies: int) -> dict[str, float]:
    clock_now = [NOW]
    ctx = Context(
        settings=Settings(db_path=folder / "mim.db"), clock=lambda: clock_now[0], actor="dm"
    )
    mobiles = seed(ctx, recipients)
    svc = IncidentService(ctx)
    figures: dict[str, float] = {}
    start = time.perf_counter()
    inc = svc.declare(title="Everything down", severity="SEV1", categories=["big"])
    figures["declare_s"] = time.perf_counter() - start
    alerted = {s.person.id for s in svc.roll_call(inc.code).seats}
    assert len(alerted) == recipients

    rng = random.Random(9)
    people = sorted(alerted)
    rng.shuffle(people)
    joiners = people[: int(len(people) * 0.7)]
    unable = [p for p in people[len(joiners) : int(len(people) * 0.75)] if p > 20]  # specialists
    # (body, from) per message: first answers, then repeats, garbage, strangers, stray codes.
    plan: list[tuple[str, str]] = [("1", mobiles[p]) for p in joiners]
    plan += [("2", mobiles[p]) for p in unable]
    rng.shuffle(plan)
    noise_kinds = Counter[str]()
    while len(plan) < replies:
        roll = rng.random()
        if roll < 0.45:
            plan.append((rng.choice(["1", "yes", " Y "]), mobiles[rng.choice(joiners)]))
            noise_kinds["repeat"] += 1
        elif roll < 0.75:
            body = rng.choice(["??", "ok on my way", "\x1b[2J", "", "3", "1 2", "🙂", "x" * 500])
            plan.append((body, mobiles[rng.choice(people)]))
            noise_kinds["garbage"] += 1
        elif roll < 0.9:
            plan.append(("1", f"+1555{rng.randrange(10**7):07d}"))
            noise_kinds["stranger"] += 1
        else:
            plan.append(("1 ZZ9", mobiles[rng.choice(people)]))  # a code of no incident
            noise_kinds["unknown code"] += 1
    messages = [
        InboundMessage(f"SM{i:032d}", frm, SENDER, body, NOW + timedelta(seconds=1 + i // 10))
        for i, (body, frm) in enumerate(plan)
    ]
    answered: list[InboundReply] = []

    def feed(batch: list[InboundMessage]) -> int:
        taken = 0
        for message in batch:
            clock_now[0] = message.received_at
            reply = InboundReply(message.from_number, message.body, message.sid, clock_now[0])
            if svc.receive(reply).answered:
                taken += 1
                answered.append(reply)
        return taken

    start = time.perf_counter()
    feed(messages)
    figures["replies_s"] = time.perf_counter() - start
    # Every message seen again (an overlapping poll): nothing new is stored or applied.
    start = time.perf_counter()
    assert feed(messages) == 0
    figures["again_s"] = time.perf_counter() - start
    # And the answers handed over again (a restart reading them once more): all no-ops.
    events_before = ctx.store.query("SELECT count(*) AS n FROM event")[0]["n"]
    for inbound in answered:
        svc.apply_reply(inbound)
    assert ctx.store.query("SELECT count(*) AS n FROM event")[0]["n"] == events_before

    # --- accounting ------------------------------------------------------------------------
    q = ctx.store.query
    states = {s.person.id: s.participant.state.value for s in svc.roll_call(inc.code).seats}
    assert all(states[p] == "joined" for p in joiners)
    assert all(states[p] == "unable" for p in unable)
    assert Counter(states.values())["joined"] == len(joiners)
    assert q("SELECT count(*) AS n FROM inbound")[0]["n"] == len(messages)  # once per SID
    meanings = Counter(
        {
            r["meaning"]: r["n"]
            for r in q("SELECT meaning, count(*) AS n FROM inbound GROUP BY meaning")
        }
    )
    assert meanings["unprocessed"] == 0
    assert meanings["unknown_number"] == noise_kinds["stranger"]
    assert meanings["joining"] == len(joiners) + noise_kinds["repeat"]
    assert meanings["unable"] == len(unable)
    # One transition per first answer; repeats are logged as replies but move nobody.
    moves = q(
        "SELECT person_id, count(*) AS n FROM event WHERE kind IN ('state') "
        "AND json_extract(data, '$.to') IN ('joined', 'unable') GROUP BY person_id"
    )
    assert all(m["n"] == 1 for m in moves) and len(moves) == len(joiners) + len(unable)
    # One alert SMS per person; help SMS: at most one per number.
    per_person = q(
        "SELECT person_id, count(*) AS n FROM alert WHERE purpose = 'alert' GROUP BY person_id"
    )
    assert len(per_person) == recipients and {r["n"] for r in per_person} == {1}
    helps = q("SELECT to_number, count(*) AS n FROM alert WHERE purpose = 'help' GROUP BY 1")
    assert all(r["n"] == 1 for r in helps)
    assert not {r["to_number"] for r in helps} & {
        m.from_number for m in messages if m.from_number not in mobiles.values()
    }  # strangers never get an SMS
    start = time.perf_counter()
    md = report.render(ctx, inc.code, "md")
    figures["report_s"] = time.perf_counter() - start
    assert f"| Joined | {len(joiners)} |" in md
    figures.update(
        messages=len(messages),
        joined=len(joiners),
        unable=len(unable),
        helps=len(helps),
        **{f"noise_{k.replace(' ', '_')}": v for k, v in noise_kinds.items()},
    )
    ctx.close()
    return figures


def test_load_small(tmp_path: Path) -> None:
    figures = run_load(tmp_path, recipients=150, replies=800)
    assert figures["messages"] == 800


@pytest.mark.slow
def test_load_2000_recipients_10000_replies(tmp_path: Path) -> None:
    figures = run_load(tmp_path, recipients=2000, replies=10_000)
    print(
        f"\ndeclare {figures['declare_s']:.2f} s; 10,000 replies stored+applied "
        f"{figures['replies_s']:.1f} s ({figures['replies_s'] / 10:.2f} ms each); "
        f"seen again {figures['again_s']:.1f} s; report {figures['report_s']:.2f} s; {figures}"
    )
