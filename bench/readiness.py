"""The readiness check and the contact-check reply hook on a large directory.

Builds the large database of ``bench/gen_large.py`` (10,000 people, 200 parties, 200 specialist
groups, a duty rotation, 200,000 events), then times:

* ``services.readiness.readiness`` (what `mim-console readiness` and the Duty screen's line run),
  first call (phone numbers parsed) and later calls;
* the reply hook every inbound SMS passes (``data.verification.answer_reply``) for a person with
  no open check (the common case) and with one, after ``--checks`` contact checks were queued.

    python bench/readiness.py [--people 10000] [--checks 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gen_large import generate
from mim_console.config import BridgeSettings, Settings
from mim_console.data import verification
from mim_console.services.context import Context
from mim_console.services.readiness import readiness
from mim_console.services.verification import VerificationService

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def timed(fn: object, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--checks", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.db"
        generate(path, args.people, 200, 200, 500, args.events)
        settings = Settings(
            db_path=path,
            organisation="Bench",
            declare_criteria="x",
            bridge=BridgeSettings(number="+358 9 1234 5678"),
        )
        ctx = Context(settings=settings, clock=lambda: NOW)
        first = timed(lambda: readiness(ctx), 1)[0]
        later = timed(lambda: readiness(ctx), args.repeat)
        result = readiness(ctx)
        print(
            f"readiness: {len(result.findings)} findings, {len(result.failing)} failing; "
            f"first {first * 1000:.0f} ms, then median {statistics.median(later) * 1000:.0f} ms "
            f"(min {min(later) * 1000:.0f})"
        )
        service = VerificationService(ctx, rand=lambda: 0.5)
        people = service.plan(everyone=True).people[: args.checks]
        t0 = time.perf_counter()
        sent = service.send(people)
        print(f"queue {len(sent)} contact checks: {(time.perf_counter() - t0) * 1000:.0f} ms")
        checked = sent[0]
        quiet = next(
            p for p in service.plan(everyone=True).people if p.id not in {s.person_id for s in sent}
        )

        def hook(person_id: int, number: str, body: str) -> float:
            with ctx.store.read() as db:
                t = time.perf_counter()
                for _ in range(200):
                    verification.answer_reply(
                        db, person_id, number, body, NOW, "SMx", on_active_incident=True
                    )
                return (time.perf_counter() - t) / 200

        none = hook(quiet.id, quiet.mobile, "1")
        one = hook(checked.person_id, checked.to_number, "1")  # no code, on incident: no match
        print(
            f"reply hook per inbound SMS: no open check {none * 1e6:.0f} µs, "
            f"an open check (not answered) {one * 1e6:.0f} µs"
        )
        ctx.close()


if __name__ == "__main__":
    main()
